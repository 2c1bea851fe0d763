"""Portal rendering helpers and the channel filter scenarios are matched with."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from retrieval.search import SearchFilters, parse_filters
from service.routes.portal import render_markdown, snippet


def test_markdown_is_rendered_and_sanitized() -> None:
    html = render_markdown("# T\n\n**bold** <img src=x onerror=alert(1)> [a](javascript:alert(2))\n\n"
                           "<script>alert(3)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html and "<table>" in html and "<td>1</td>" in html
    assert "onerror" not in html and "javascript:" not in html and "<script" not in html


def test_snippets_drop_markdown_syntax_and_stop_at_a_word() -> None:
    assert snippet("## Title\n\nSee [the guide](https://x.example) for **more**.") == "Title See the guide for more."
    long = snippet("word " * 100, limit=30)
    assert long.endswith("…") and len(long) <= 30


def test_the_channel_filter_is_checked() -> None:
    assert parse_filters(["kind=scenario", "channel=email"]) == SearchFilters(kind="scenario", channel="email")
    assert "channel" not in SearchFilters(channel="web").conditions()
    with pytest.raises(InvalidInput, match="unknown channel"):
        parse_filters(["channel=fax"])
