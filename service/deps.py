"""FastAPI dependencies shared by every router: the runtime and the calling API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from app.runtime import Runtime
from service.keys import KeyStore, Principal, Scope


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def principal(
    request: Request,
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_knowdesk_workspace: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the local CLI's token
    (``service.running``) reads any workspace, named by ``X-Knowdesk-Workspace``."""
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else authorization
    local: str | None = getattr(request.app.state, "local_token", None)
    if token and local and hmac.compare_digest(token.encode(), local.encode()):
        return Principal(key_id="local-cli", workspace=x_knowdesk_workspace or rt.settings.default_workspace,
                         scopes=frozenset({Scope.READ}))
    return KeyStore(db=rt.db).verify(token)


Caller = Annotated[Principal, Depends(principal)]
