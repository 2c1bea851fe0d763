"""FastAPI dependencies shared by every router: the runtime and the calling API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from app.runtime import Runtime
from service.keys import KeyStore, Principal


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def principal(
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else authorization
    return KeyStore(db=rt.db).verify(token)


Caller = Annotated[Principal, Depends(principal)]
