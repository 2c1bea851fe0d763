"""URL normalization, scope and trap bounds of the website source."""

from __future__ import annotations

import pytest

from ingest.connectors.website.safety import AddressPolicy, BlockedAddress, check_public, parse_networks
from ingest.connectors.website.urls import MAX_URL_LENGTH, Scope, TrapGuard, normalize_url, scope_prefix


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Docs.Example.COM:80/a/b", "http://docs.example.com/a/b"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com/page#section-2", "https://example.com/page"),
        ("https://example.com/p?utm_source=x&utm_medium=y&b=2&a=1&gclid=z", "https://example.com/p?a=1&b=2"),
        ("https://example.com/p;jsessionid=ABC?x=1", "https://example.com/p?x=1"),
        ("https://example.com/p?PHPSESSID=abc&q=coffee", "https://example.com/p?q=coffee"),
        ("https://example.com/docs/index.html", "https://example.com/docs/"),
        ("https://example.com/docs/", "https://example.com/docs/"),
        ("https://example.com/Docs/Page", "https://example.com/Docs/Page"),  # path case is the server's
        ("https://example.com/a%7eb", "https://example.com/a~b"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_normalize_url_is_idempotent() -> None:
    url = "https://Example.com/docs/index.html?b=1&a=2&utm_campaign=x#top"
    assert normalize_url(normalize_url(url)) == normalize_url(url)


def test_scope_is_the_start_urls_host_and_directory() -> None:
    scope = Scope.build(["https://example.com/docs/guide.html"], include=[], exclude=[r"/docs/private/"])
    assert scope_prefix("https://example.com/docs/guide.html") == "https://example.com/docs/"
    assert scope.allows("https://example.com/docs/other.html")
    assert not scope.allows("https://example.com/blog/post.html")
    assert not scope.allows("https://other.example.com/docs/other.html")
    assert not scope.allows("https://example.com/docs/private/notes.html")
    assert scope.on_site("https://example.com/sitemap.xml")


def test_include_patterns_narrow_the_scope() -> None:
    scope = Scope.build(["https://example.com/"], include=[r"/guides/", r"\.pdf$"], exclude=[])
    assert scope.allows("https://example.com/guides/a.html")
    assert scope.allows("https://example.com/files/manual.pdf")
    assert not scope.allows("https://example.com/blog/a.html")


def test_trap_guard_bounds_query_variants_numbered_paths_and_loops() -> None:
    guard = TrapGuard(max_query_variants=3, max_shape_variants=4)
    allowed = [guard.reason(f"https://e.com/calendar?month={m}") is None for m in range(10)]
    assert allowed == [True] * 3 + [False] * 7
    assert guard.reason("https://e.com/calendar?month=1") is None, "an already counted variant stays allowed"
    numbered = [guard.reason(f"https://e.com/events/2026/{m:02}/") is None for m in range(1, 10)]
    assert numbered.count(True) == 4
    assert guard.reason("https://e.com/a/b/a/b/a/b/a/b") == "repeating path"
    assert guard.reason("https://e.com/" + "x" * MAX_URL_LENGTH) == "url too long"
    assert guard.reason("https://e.com/docs/page.html") is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://localhost/", "http://10.1.2.3/",
                                 "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://192.168.0.1/"])
def test_private_loopback_and_link_local_hosts_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="allow_private_network=true"):
        check_public(url)


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254",
                                     "100.100.100.200", "168.63.129.16", "::ffff:169.254.169.254"])
def test_metadata_addresses_stay_refused_on_a_private_network_unless_named(address: str) -> None:
    private = AddressPolicy(allow_private=True)
    assert "allow_addresses" in (private.refusal(address) or "")
    named = AddressPolicy(allow_private=True, allowed=parse_networks([address.removeprefix("::ffff:")]))
    assert named.refusal(address) is None
    assert private.refusal("10.1.2.3") is None and private.refusal("127.0.0.1") is None


def test_public_addresses_pass_the_guard() -> None:
    check_public("http://93.184.215.14/")  # a literal: no DNS needed
