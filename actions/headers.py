"""Per-session action headers (a customer's token): only well-formed end-to-end headers.

A header name must be an RFC 9110 token and a value visible characters, spaces and tabs (no CR,
LF or NUL: a value cannot smuggle a second header or request). Hop-by-hop and framing headers
(``Connection``, ``Transfer-Encoding``, ``Content-Length``, ``Host``, ...) are dropped: the HTTP
client sets them for the request it actually sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import InvalidInput

#: Headers that describe one connection or the message framing, never forwarded from a session.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length", "host",
                        "expect"})
MAX_HEADERS = 32
MAX_VALUE = 8 * 1024
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


def clean_headers(headers: Mapping[str, str], *, strict: bool = True) -> dict[str, str]:
    """The headers a session may send, names lower-cased, hop-by-hop ones dropped.

    Raises:
        InvalidInput: (``strict``) a name is not a token, a value holds CR, LF, NUL or other control
            characters or is too long, or there are too many; without ``strict`` such headers are
            dropped instead (headers stored before these rules).
    """
    if strict and len(headers) > MAX_HEADERS:
        raise InvalidInput(f"{len(headers)} headers; a session may set at most {MAX_HEADERS}", field="headers")
    out: dict[str, str] = {}
    for name, value in headers.items():
        problem = None
        if not isinstance(name, str) or not _TOKEN.match(name):
            problem = f"header name {name!r} is not a valid HTTP token"
        elif not isinstance(value, str) or len(value) > MAX_VALUE or not _VALUE.match(value):
            problem = (f"header {name!r} has a value with control characters (CR, LF, NUL...) or over "
                       f"{MAX_VALUE} characters")
        if problem:
            if strict:
                raise InvalidInput(problem, field="headers")
            continue
        if name.lower() in HOP_BY_HOP:
            continue
        out[name.lower()] = value.strip()
    return out
