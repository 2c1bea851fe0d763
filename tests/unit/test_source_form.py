"""The source form of ``service/routes/source_pages.py``: fields made from a connector's options
model, the options a posted form gives, and the form values that show stored options."""

from __future__ import annotations

from core.models import SourceKind
from ingest.connectors.registry import validate_options
from service.routes.source_pages import option_errors, option_fields, options_of, values_of


def test_every_option_becomes_a_field_with_its_widget_and_hint() -> None:
    fields = {f.name: f for f in option_fields(SourceKind.WEBSITE)}
    assert fields["start_url"].required and fields["start_url"].widget == "text"
    assert fields["include"].widget == "lines" and fields["respect_robots"].widget == "flag"
    assert fields["max_pages"].widget == "number" and "at most 1000000" in fields["max_pages"].hint
    assert fields["max_pages"].hint.startswith("A crawl that would go past it is incomplete")
    assert fields["allow_private_network"].admin and not fields["include"].admin
    confluence = {f.name: f for f in option_fields(SourceKind.CONFLUENCE)}
    assert confluence["cloud"].widget == "tristate"
    assert confluence["spaces"].hint == "Space keys to read. One a line."
    assert confluence["cql"].hint == "An extra CQL filter (ANDed)."


def test_a_posted_form_gives_the_options_and_stored_options_give_the_form_back() -> None:
    fields = option_fields(SourceKind.WEBSITE)
    form = {
        "opt-start_url": " https://docs.example.com/ ",
        "opt-include": "/a/\r\n\r\n/b/",
        "opt-max_pages": "",
        "opt-respect_robots": "on",
        "opt-delay": "0.5",
    }
    options = options_of(fields, form)
    assert options["start_url"] == "https://docs.example.com/" and options["include"] == ["/a/", "/b/"]
    assert "max_pages" not in options and options["respect_robots"] and options["follow_files"] is False
    stored = validate_options(SourceKind.WEBSITE, options)
    values = values_of(fields, stored)
    assert values["opt-include"] == "/a/\n/b/" and values["opt-delay"] == "0.5" and values["opt-max_pages"] == ""
    assert values["opt-respect_robots"] == "on" and values["opt-follow_files"] == ""
    assert options_of(fields, values) == options, "the form of stored options posts them back unchanged"

    confluence = option_fields(SourceKind.CONFLUENCE)
    assert "cloud" not in options_of(confluence, {"opt-cloud": ""})
    assert options_of(confluence, {"opt-cloud": "false"})["cloud"] is False


def test_refused_options_are_named_by_their_field() -> None:
    errors = option_errors(SourceKind.WEBSITE, {"max_pages": "many"})
    assert errors["opt-start_url"] == "this option is required" and "integer" in errors["opt-max_pages"]
    assert option_errors(SourceKind.FOLDER, {"path": "/tmp"}) == {}
