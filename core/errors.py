"""The error families of knowdesk.

Every error a user or an upstream system can cause is a ``KnowdeskError`` with a message that
says what was wrong and what to do. ``retryable`` tells orchestration (Prefect retry
conditions, connector back-off) whether trying again can help; ``http_status`` tells the HTTP
API which status to answer with.
"""

from __future__ import annotations


class KnowdeskError(Exception):
    """Root of every error knowdesk raises on purpose."""

    retryable: bool = False
    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, object]:
        """The JSON body the HTTP API and ``--json`` CLI output return for this error."""
        body: dict[str, object] = {"error": self.code, "message": self.message}
        body.update({k: v for k, v in self.fields.items() if v is not None})
        return body


class ConfigError(KnowdeskError):
    """Settings or a source's options are invalid."""

    http_status = 400
    code = "invalid_configuration"


class InvalidInput(KnowdeskError):
    """A request, file or argument a user gave is malformed."""

    http_status = 422
    code = "invalid_input"


class TooLarge(InvalidInput):
    """A stored input (source options, a configuration, a text) is over its size limit."""

    http_status = 413
    code = "payload_too_large"


def check_size(value: object, *, what: str, max_bytes: int) -> None:
    """Raise ``TooLarge`` when ``value``'s JSON form is over ``max_bytes``."""
    import json

    size = len(json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "replace"))
    if size > max_bytes:
        raise TooLarge(f"{what} is {size} bytes, over the {max_bytes}-byte limit; store less", limit=max_bytes)


class TooManyRequests(KnowdeskError):
    """The caller asked for expensive work again too soon; ``retry_after`` is in seconds."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, **fields: object) -> None:
        super().__init__(message, retry_after=round(retry_after, 1), **fields)
        self.retry_after = retry_after


class NotFound(KnowdeskError):
    """A named thing (source, workspace, document, key) does not exist."""

    http_status = 404
    code = "not_found"


class Conflict(KnowdeskError):
    """The thing already exists, or is busy (a sync already running)."""

    http_status = 409
    code = "conflict"


class AuthError(KnowdeskError):
    """Missing, unknown or revoked credentials, or a scope the key lacks."""

    http_status = 401
    code = "unauthorized"


class Forbidden(AuthError):
    """The credentials are valid but do not allow this."""

    http_status = 403
    code = "forbidden"


class SourceError(KnowdeskError):
    """An upstream source failed. Subclasses say whether a retry can help."""

    http_status = 502
    code = "source_error"
    retryable = True


class SourceAuthError(SourceError):
    """The source rejected our credentials or permissions (401/403): never retried."""

    code = "source_unauthorized"
    retryable = False


class SourceNotFound(SourceError):
    """The source says the configured space, folder or url does not exist (404)."""

    code = "source_not_found"
    retryable = False


class RateLimited(SourceError):
    """The source asked us to slow down (429); ``retry_after`` is in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: object) -> None:
        super().__init__(message, retry_after=retry_after, **fields)
        self.retry_after = retry_after


class ParseError(KnowdeskError):
    """A document could not be turned into text (empty, corrupt, oversized, unsupported)."""

    http_status = 422
    code = "parse_error"


class IndexError_(KnowdeskError):
    """The vector index failed or is unreachable."""

    http_status = 503
    code = "index_unavailable"
    retryable = True


class StoreLocked(KnowdeskError):
    """The embedded store is open in another process."""

    http_status = 503
    code = "store_locked"
