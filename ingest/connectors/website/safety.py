"""The network guard of the website source: refuse private, loopback and link-local hosts.

A crawl follows links and redirects it did not choose, so by default every host is resolved and
refused when any of its addresses is not globally routable (SSRF protection for a service that
runs next to internal systems). ``allow_private_network=true`` lifts it (tests, intranet sites).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from urllib.parse import urlsplit


class BlockedAddress(ValueError):
    """The url's host resolves to an address the guard refuses (or does not resolve)."""


@functools.lru_cache(maxsize=4096)
def _addresses(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    return tuple(sorted({str(info[4][0]) for info in infos}))


def check_public(url: str) -> None:
    """Raise ``BlockedAddress`` unless every address of ``url``'s host is public
    (``http://127.0.0.1/`` is refused; so is a name that resolves to 10.0.0.5)."""
    host = urlsplit(url).hostname
    if not host:
        raise BlockedAddress(f"{url!r} has no host")
    for address in _addresses(host):
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
                    else "private" if ip.is_private else "non-public")
            raise BlockedAddress(
                f"{host} resolves to {kind} address {ip}; refused by default (set the source option "
                "allow_private_network=true to crawl internal sites)"
            )
