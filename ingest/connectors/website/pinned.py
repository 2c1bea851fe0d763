"""One GET to a website's start url (the source check), connected only to checked addresses.

The host is resolved once, every answer is checked with the source's ``AddressPolicy`` and the
connection goes to the first checked address (``Host`` header and TLS server name stay the
host's), so a name that answers differently to a second lookup cannot redirect it. Redirects are
followed by hand, each target checked the same way.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from ingest.connectors.website.resolver import lookup
from ingest.connectors.website.safety import AddressPolicy, BlockedAddress

MAX_REDIRECTS = 5


def pinned_get(url: str, policy: AddressPolicy, *, timeout: float = 15.0) -> httpx.Response:
    """GET ``url`` (and up to five redirects), each connection pinned to a checked address.

    Raises:
        BlockedAddress: a host (the start url's or a redirect's) is refused by ``policy``.
        httpx.HTTPError: the request failed.
    """
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parsed = httpx.URL(url)
            host = parsed.host
            if parsed.scheme not in ("http", "https") or not host:
                raise BlockedAddress(f"{url!r} is not an http(s) url with a host")
            addresses = lookup(host)
            policy.check(host, addresses)
            address = addresses[0]
            connect = parsed.copy_with(host=address)
            headers = {"User-Agent": "knowdesk-crawler/0.1",
                       "Host": parsed.netloc.decode("ascii")}
            extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
            response = client.get(connect, headers=headers, extensions=extensions)
            location = response.headers.get("location")
            if response.is_redirect and location:
                url = urljoin(url, location)
                continue
            return response
    raise BlockedAddress(f"{urlsplit(url).geturl()} redirects more than {MAX_REDIRECTS} times")
