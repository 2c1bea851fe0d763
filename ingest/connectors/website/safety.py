"""The network guard of the website source: which addresses a crawl may connect to.

A crawl follows links and redirects it did not choose, so by default every host is resolved and
refused when any of its addresses is not globally routable (SSRF protection for a service that
runs next to internal systems). ``allow_private_network=true`` lifts that for private and loopback
addresses (tests, intranet sites) but never for link-local and cloud metadata addresses
(169.254.0.0/16, fe80::/10, fd00:ec2::254, ...): those stay refused unless an ``allow_addresses``
network names them explicitly.

The check that protects the connection is the crawl's resolver (``resolver.PinningResolver``): it
resolves a host once, checks every answer with an ``AddressPolicy`` and connects only to the
checked addresses. ``check_public`` is the early check of a start url in the worker process.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud instance metadata and host services, refused even with allow_private_network=true.
METADATA_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",      # IPv4 link-local: AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
    "fe80::/10",           # IPv6 link-local
    "fd00:ec2::254/128",   # AWS IMDS over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "168.63.129.16/32",    # Azure wire server (a public address)
    "192.0.0.192/32",      # Oracle Cloud legacy metadata
))


class BlockedAddress(ValueError):
    """The url's host resolves to an address the guard refuses (or does not resolve)."""


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["169.254.169.254", "10.0.0.0/8"]`` -> networks; raises ``ValueError`` naming a bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network (e.g. 169.254.169.254 or "
                             "10.0.0.0/8)") from None
    return tuple(out)


class AddressPolicy(BaseModel):
    """Which resolved addresses a crawl may connect to.

    Args:
        allow_private: private, loopback and other non-global addresses are allowed.
        allowed: networks allowed whatever their kind (the only way to reach link-local or
            metadata addresses).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, address: str) -> str | None:
        """Why ``address`` is refused, or None when it may be connected to."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        if any(ip.version == net.version and ip in net for net in METADATA_NETWORKS):
            kind = "link-local" if ip.is_link_local else "cloud metadata"
            return (f"{kind} address {ip} is refused even with allow_private_network=true; name it in the "
                    "source option allow_addresses to crawl it")
        if ip.is_multicast or ip.is_unspecified:
            return f"address {ip} is not a unicast host address"
        if not ip.is_global and not self.allow_private:
            kind = "loopback" if ip.is_loopback else "private" if ip.is_private else "non-public"
            return (f"{kind} address {ip}; refused by default (set the source option "
                    "allow_private_network=true to crawl internal sites)")
        return None

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """Raise ``BlockedAddress`` when any address of ``host`` is refused (or there is none)."""
        found = False
        for address in addresses:
            found = True
            if reason := self.refusal(address):
                raise BlockedAddress(f"{host} resolves to {reason}")
        if not found:
            raise BlockedAddress(f"cannot resolve host {host!r}: no address")


@functools.lru_cache(maxsize=4096)
def _addresses(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    return tuple(sorted({str(info[4][0]) for info in infos}))


def check_public(url: str, policy: AddressPolicy | None = None) -> None:
    """Raise ``BlockedAddress`` unless every address of ``url``'s host passes ``policy`` (default:
    public only: ``http://127.0.0.1/`` is refused; so is a name that resolves to 10.0.0.5)."""
    host = urlsplit(url).hostname
    if not host:
        raise BlockedAddress(f"{url!r} has no host")
    (policy or AddressPolicy()).check(host, _addresses(host))
