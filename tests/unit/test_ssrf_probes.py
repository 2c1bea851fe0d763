"""SSRF probes against the website source's address policy (the one the crawler's pinning
resolver applies to every connection): loopback, private, link-local and cloud metadata
addresses in every spelling a url allows. Names are answered by a fake name service (no DNS).
The count is reported in the README's Security section."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ingest.connectors.website import safety
from ingest.connectors.website.safety import AddressPolicy, BlockedAddress, check_public

LOOPBACK_AND_PRIVATE = [
    "http://127.0.0.1/", "http://127.1/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://0x7f000001/",
    "http://2130706433/", "http://017700000001/", "http://localhost:8080/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://0.0.0.0/", "http://0/", "http://10.0.0.5/",
    "http://172.16.3.4/", "http://192.168.0.1/", "http://100.64.0.1/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
    "http://198.18.0.1/", "http://224.0.0.1/", "https://127.0.0.1:443/", "http://user:pass@127.0.0.1/",
    "http://rebind.example/", "http://internal.example/",
]
METADATA = [
    "http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials", "http://[fe80::1]/",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://100.100.100.200/latest/meta-data/", "http://168.63.129.16/",
    "http://192.0.0.192/", "http://0xa9fea9fe/", "http://2852039166/", "http://[::ffff:169.254.169.254]/",
    "http://metadata.example/computeMetadata/v1/",
]
NAMES = {"rebind.example": "127.0.0.1", "internal.example": "10.1.2.3", "metadata.example": "169.254.169.254"}


@pytest.fixture(autouse=True)
def fake_names(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in NAMES:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (NAMES[host], port or 0))]
        return real(host, port, *args, **kwargs)  # literals and localhost only: no DNS query

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    safety._addresses.cache_clear()


def _refused(url: str, policy: AddressPolicy) -> bool:
    try:
        check_public(url, policy)
    except BlockedAddress:
        return True
    return False


def test_every_probe_is_refused_and_metadata_even_on_a_private_network() -> None:
    default = AddressPolicy()
    private = AddressPolicy(allow_private=True)
    probes = LOOPBACK_AND_PRIVATE + METADATA
    refused = [u for u in probes if _refused(u, default)]
    refused_private = [u for u in METADATA if _refused(u, private)]
    print(f"\nSSRF probes refused: {len(refused)}/{len(probes)} by default, "
          f"{len(refused_private)}/{len(METADATA)} metadata probes with allow_private_network=true")
    assert refused == probes, sorted(set(probes) - set(refused))
    assert refused_private == METADATA, sorted(set(METADATA) - set(refused_private))
    assert not _refused("http://93.184.215.14/", default)  # a public address passes
