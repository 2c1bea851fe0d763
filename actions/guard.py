"""The SSRF guard: actions reach only public addresses unless the workspace allowlists a host.

A URL's host is resolved once; every address must be public (not private, loopback, link-local,
shared, reserved, multicast or unspecified, and not a cloud metadata endpoint), or be covered by
the workspace's allowlist (an IP, a network or a host name). The call then connects to the checked
address itself (``Pinned``), so a second DNS answer cannot point the request somewhere else.
Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from core.errors import KnowdeskError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data",
                            "instance-data.ec2.internal"})
METADATA_IPS = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))


class Blocked(KnowdeskError):
    """The action's URL points at an address the workspace may not reach."""

    http_status = 403
    code = "action_blocked"


@dataclass(frozen=True, slots=True)
class Pinned:
    """A checked URL: the address to connect to and what to send as Host and TLS server name."""

    url: httpx.URL
    address: IPAddress
    host: str

    def connect_url(self) -> httpx.URL:
        """The URL with the host replaced by the checked address."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return self.url.copy_with(host=host.strip("[]"))

    def host_header(self) -> str:
        default = {"http": 80, "https": 443}.get(self.url.scheme)
        port = self.url.port
        return self.host if port in (None, default) else f"{self.host}:{port}"


def _private(ip: IPAddress) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    shared = ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
    return (ip in METADATA_IPS or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified or shared)


def _allowed(host: str, ip: IPAddress | None, allow: list[str]) -> bool:
    for entry in allow:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if host == entry:
                return True
            continue
        if ip is not None and ip.version == network.version and ip in network:
            return True
    return False


def check_url(url: str | httpx.URL, allow: list[str]) -> Pinned:
    """Resolve and check ``url``; returns where to connect.

    Raises:
        Blocked: not http(s), no host, the host does not resolve, or an address is not public
        and not allowlisted.
    """
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise Blocked(f"action URLs must be http or https, not {parsed.scheme or 'relative'!r}; set the spec's "
                      "base URL (`knowdesk actions import SPEC --base-url https://...`)")
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise Blocked("the action URL has no host")
    if host in METADATA_HOSTS and not _allowed(host, None, allow):
        raise Blocked(f"{host} is a cloud metadata endpoint; actions may not call it")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, parsed.port or (443 if parsed.scheme == "https" else 80),
                                       type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Blocked(f"the action host {host} does not resolve ({exc})") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos))
    for ip in addresses:
        if _private(ip) and not _allowed(host, ip, allow):
            raise Blocked(f"{host} resolves to {ip}, a private, loopback, link-local or metadata address; "
                          "allowlist it for this workspace (`knowdesk actions allow`) if the API is internal")
    return Pinned(url=parsed, address=addresses[0], host=host)
