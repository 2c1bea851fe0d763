"""FastAPI dependencies shared by every router: the runtime, the calling API key and its scope.

The key is read the way ``KeyStore.verify`` documents it (``Authorization: Bearer <key>`` or
``X-API-Key: <key>``); both are declared as OpenAPI security schemes, so every operation that
takes ``Reader``, ``Writer`` or ``Admin`` lists them. The scope guard runs as a dependency, so a
key without the scope gets 403 before the body is validated.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.runtime import Runtime
from service.keys import KeyStore, Principal, Scope

_bearer = HTTPBearer(auto_error=False, scheme_name="bearerKey", bearerFormat="kd_<id>_<secret>",
                     description="An API key (`knowdesk keys create`) as `Authorization: Bearer <key>`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader",
                       description="The same API key in the `X-API-Key` header.")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def presented_key(request: Request) -> str | None:
    """The key a request carries: ``Authorization`` wins over ``X-API-Key``; a non-Bearer
    ``Authorization`` value is taken whole (``Authorization: kd_...``)."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return value if scheme.lower() == "bearer" else authorization
    return request.headers.get("x-api-key")


def principal(
    request: Request,
    rt: RuntimeDep,
    _bearer_key: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller. The two security parameters declare the schemes; the key is read once, here.
    The local CLI's token (``service.running``) reads any workspace, named by ``X-Knowdesk-Workspace``."""
    token = presented_key(request)
    local: str | None = getattr(request.app.state, "local_token", None)
    if token and local and hmac.compare_digest(token.encode(), local.encode()):
        workspace = request.headers.get("x-knowdesk-workspace") or rt.settings.default_workspace
        return Principal(key_id="local-cli", workspace=workspace, scopes=frozenset({Scope.READ}))
    return KeyStore(db=rt.db).verify(token)


Caller = Annotated[Principal, Depends(principal)]


class RequireScope:
    """A dependency: the caller, who must hold ``scope`` (``Forbidden`` otherwise)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __call__(self, caller: Caller) -> Principal:
        caller.require(self.scope)
        return caller


Reader = Annotated[Principal, Depends(RequireScope(Scope.READ))]
Writer = Annotated[Principal, Depends(RequireScope(Scope.WRITE))]
Admin = Annotated[Principal, Depends(RequireScope(Scope.ADMIN))]
