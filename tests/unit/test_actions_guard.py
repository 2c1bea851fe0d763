"""The SSRF guard: private, loopback, link-local and metadata addresses are refused unless allowlisted."""

from __future__ import annotations

import pytest

from actions.guard import Blocked, check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x", "http://10.1.2.3/", "http://192.168.0.10/", "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://100.64.1.1/", "http://metadata.google.internal/computeMetadata/v1/", "http://localhost:9000/",
    "http://[fd00:ec2::254]/", "file:///etc/passwd", "gopher://127.0.0.1/", "/relative/path",
])
def test_private_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(Blocked):
        check_url(url, [])


def test_the_allowlist_opens_exactly_what_it_names() -> None:
    pinned = check_url("http://127.0.0.1:8080/v1/orders", ["127.0.0.1"])
    assert str(pinned.address) == "127.0.0.1" and pinned.host_header() == "127.0.0.1:8080"
    assert check_url("http://10.2.3.4/", ["10.0.0.0/8"]).host == "10.2.3.4"
    with pytest.raises(Blocked):
        check_url("http://10.2.3.4/", ["192.168.0.0/16"])
    with pytest.raises(Blocked):
        check_url("http://169.254.169.254/", ["127.0.0.1"])


def test_public_addresses_pass_and_connect_to_the_checked_address() -> None:
    pinned = check_url("https://93.184.215.14/a?b=1", [])
    assert pinned.connect_url().host == "93.184.215.14" and pinned.host_header() == "93.184.215.14"
