"""The crawl's name resolver: resolve each host once, check every answer, connect only to those.

Scrapy connects through Twisted's ``HostnameEndpoint``, which asks the reactor's name resolver for
the addresses of every host (IP literals included) right before it connects. Installed as the
crawl's ``TWISTED_DNS_RESOLVER``, ``PinningResolver`` is therefore the one place that decides where
a connection goes: the first answer for a host is checked with the source's ``AddressPolicy`` and
pinned for the whole crawl, so a name that answers a public address to a check and 127.0.0.1 to
the connection (DNS rebinding) cannot reach loopback, and neither can a redirect to such a name.
A refused host resolves to no address (the endpoint fails with ``DNSLookupError``) and its reason
is kept in ``refusals`` for the crawl's failure events.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer

from ingest.connectors.website.safety import AddressPolicy, BlockedAddress, parse_networks

#: Scrapy settings that carry the source's policy into the resolver.
ALLOW_PRIVATE_SETTING = "KNOWDESK_ALLOW_PRIVATE_NETWORK"
ALLOW_ADDRESSES_SETTING = "KNOWDESK_ALLOW_ADDRESSES"


def lookup(host: str) -> list[str]:
    """Every TCP address of ``host`` (the system's name service; one call per host and crawl)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        """Nothing to cancel: the lookup thread finishes on its own."""


@implementer(IHostnameResolver)
class PinningResolver:
    """Resolves a host once per crawl, refuses it when any answer breaks the policy.

    Args:
        reactor: the crawl's reactor (its thread pool runs the lookups).
        policy: which addresses may be connected to.
    """

    def __init__(self, reactor: Any, policy: AddressPolicy) -> None:
        self.reactor = reactor
        self.policy = policy
        #: host -> the checked addresses every connection to it uses.
        self.pinned: dict[str, list[str]] = {}
        #: host -> why it was refused.
        self.refusals: dict[str, str] = {}
        self._lookups: dict[str, Deferred[list[str] | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PinningResolver:
        settings = crawler.settings
        policy = AddressPolicy(allow_private=settings.getbool(ALLOW_PRIVATE_SETTING),
                               allowed=parse_networks(settings.getlist(ALLOW_ADDRESSES_SETTING)))
        return cls(reactor, policy)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    # zope interfaces are not typed: the receiver is an IResolutionReceiver, the result an IHostResolution
    def resolveHostName(self, resolutionReceiver: Any, hostName: str,
                        portNumber: int = 0, addressTypes: Sequence[type[IAddress]] | None = None,
                        transportSemantics: str = "TCP") -> Any:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        host = hostName.strip("[]").lower()

        def deliver(addresses: list[str]) -> None:
            for address in addresses:
                if ":" in address:
                    resolutionReceiver.addressResolved(IPv6Address("TCP", address, portNumber))
                else:
                    resolutionReceiver.addressResolved(IPv4Address("TCP", address, portNumber))
            resolutionReceiver.resolutionComplete()

        self.addresses(host).addCallback(lambda addresses: deliver(addresses or []))
        return resolution

    def addresses(self, host: str) -> Deferred[list[str] | None]:
        """The checked addresses of ``host``, or None when it is refused (looked up once per crawl:
        every later connection reuses the first, checked answer)."""
        if host not in self._lookups:
            lookup_done: Deferred[list[str]] = deferToThreadPool(
                self.reactor, self.reactor.getThreadPool(), lookup, host)
            self._lookups[host] = lookup_done.addCallbacks(self._check, self._refused,
                                                           callbackArgs=(host,), errbackArgs=(host,))
        waiter: Deferred[list[str] | None] = Deferred()

        def forward(result: list[str] | None) -> list[str] | None:
            waiter.callback(result)
            return result

        self._lookups[host].addCallback(forward)
        return waiter

    def _check(self, addresses: list[str], host: str) -> list[str] | None:
        try:
            self.policy.check(host, addresses)
        except BlockedAddress as exc:
            self.refusals[host] = str(exc)
            return None
        self.pinned[host] = addresses
        return addresses

    def _refused(self, failure: Failure, host: str) -> None:
        self.refusals[host] = failure.getErrorMessage()

    def refusal(self, host: str | None) -> str | None:
        """Why ``host`` was refused during this crawl, or None."""
        return self.refusals.get((host or "").strip("[]").lower())
