"""What every HTTP answer gets whatever the route: bounded request bodies, a 4xx (never a 5xx)
for input the routes' own models refuse, and the browser security headers.

- A request body over ``max_body_bytes`` is refused with 413 before any route reads it (declared
  by ``Content-Length`` or counted while it streams).
- A ``pydantic.ValidationError`` raised inside a route (a value object built from the request,
  e.g. a source named ``""`` or containing a lone surrogate) is a 422 with the documented body;
  so is text that cannot be encoded (lone surrogates) or a number past what the database stores.
- Every answer carries ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and a
  restrictive ``Content-Security-Policy`` on HTML pages (scripts and styles from the server only).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Default bound of a request body (the largest legitimate ones are help-center articles and
#: evaluation datasets).
MAX_BODY_BYTES = 2 * 1024 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def clean_text(value: Any) -> Any:
    """``value`` with lone surrogates replaced (U+FFFD), so an error body can always be encoded."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_text(v) for v in value]
    return value


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def error(status: int, code: str, message: str, **fields: Any) -> JSONResponse:
    """The documented error body ``{"error", "message", ...}``."""
    return JSONResponse(clean_text({"error": code, "message": message, **fields}), status_code=status)


def documented_problems(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``problems`` in the documented shape (``{"field", "message"}`` each): a domain
    error may list its problems as plain texts (a dataset's bad lines, a spec's problems), which
    concern the request body as a whole."""
    problems = body.get("problems")
    if not isinstance(problems, list) or all(isinstance(p, dict) for p in problems):
        return body
    return body | {"problems": [p if isinstance(p, dict) else {"field": "body", "message": str(p)}
                                for p in problems]}


def problems_of(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]


class BodyLimit:
    """ASGI middleware: 413 for a request body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error(413, "payload_too_large",
                         f"the request body is larger than {self.max_bytes} bytes; send less at a time")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class SecurityHeaders:
    """ASGI middleware: nosniff and frame denial on every answer, a CSP on HTML ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"same-origin")]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Add the body limit, the headers and the 4xx handlers to ``app``."""
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(ValidationError)
    async def _model_refused(_: Request, exc: ValidationError) -> JSONResponse:
        problems = problems_of(exc)
        return error(422, "invalid_input", "; ".join(f"{p['field']}: {p['message']}" for p in problems),
                     problems=problems)

    @app.exception_handler(UnicodeError)
    async def _bad_text(_: Request, exc: UnicodeError) -> JSONResponse:
        return error(422, "invalid_input", "the request contains text that is not valid Unicode (a lone surrogate "
                     "such as \\ud800); send UTF-8 text")

    @app.exception_handler(OverflowError)
    async def _too_big(_: Request, exc: OverflowError) -> JSONResponse:
        return error(422, "invalid_input", f"a number or date in the request is out of range ({exc})")



