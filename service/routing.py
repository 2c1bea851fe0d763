"""The route class of every keyed router: the key first, then the body; error answers documented.

FastAPI reads a JSON body before it runs dependencies, so a malformed body would answer 422 to a
caller without a key. ``KeyedRoute`` checks the key and scope of a route that needs one whenever
validation fails, so such a caller gets 401 (or 403) whatever the body. It also fills the
operation's error responses from what the route can produce: 401 with a key, 403 above the read
scope, 404 with path parameters, 422 with parameters or a body (the body the API really sends).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match, compile_path

from service.deps import RequireScope, presented_key
from service.keys import KeyStore, Scope
from service.schemas.common import errors


def _scope_of(dependant: Dependant) -> Scope | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RequireScope):
            return sub.call.scope
        found = _scope_of(sub)
        if found is not None:
            return found
    return None


class KeyedRoute(APIRoute):
    """An ``APIRoute`` that authenticates before reporting invalid input and documents its errors."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # the error responses must be known before APIRoute builds their response fields
        dependant = get_dependant(path=compile_path(path)[1], call=endpoint)
        self.scope: Scope | None = _scope_of(dependant)
        codes = []
        if self.scope is not None:
            codes.append(401)
            if self.scope is not Scope.READ:
                codes.append(403)
        if dependant.path_params:
            codes.append(404)
        if dependant.body_params or dependant.query_params or dependant.path_params:
            codes.append(422)
        declared = dict(kwargs.pop("responses", None) or {})
        documented = {int(c) for c in declared if str(c).isdigit()}
        kwargs["responses"] = {**errors(*(c for c in codes if c not in documented)), **declared}
        # routes return dicts: keys a body leaves out stay out (not null), so bodies are what they were
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scope = self.scope
        if scope is None:
            return handler

        async def key_first(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await run_in_threadpool(_check_key, request, scope)
                raise

        return key_first


def _check_key(request: Request, scope: Scope) -> None:
    KeyStore(db=request.app.state.runtime.db).verify(presented_key(request)).require(scope)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on the request's path (the ``Allow`` header)."""
    methods: set[str] = set()
    probe = {**request.scope, "method": "__none__"}
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(probe)
        if match is not Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods)
