"""The published OpenAPI is a contract: every operation says what it answers, which key it needs
and which error bodies it can send; the document itself is valid OpenAPI."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from service.api import create_app
from service.routing import KeyedRoute

SCHEMES = [{"bearerKey": []}, {"apiKeyHeader": []}]
SUCCESS = ("200", "201", "202", "204")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(SimpleNamespace(db=None))  # type: ignore[arg-type]  # openapi() needs no runtime


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["components"]["securitySchemes"] == {
        "bearerKey": {"type": "http", "scheme": "bearer", "bearerFormat": "kd_<id>_<secret>",
                      "description": "An API key (`knowdesk keys create`) as `Authorization: Bearer <key>`."},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                         "description": "The same API key in the `X-API-Key` header."},
    }
    # FastAPI's own 422 body is not what the API sends, so it must not be documented anywhere
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_operation_documents_its_success_answer(spec: dict[str, Any]) -> None:
    missing = []
    for path, method, op in _operations(spec):
        codes = [c for c in SUCCESS if c in op["responses"]]
        if not codes:
            missing.append(f"{method.upper()} {path}: no success response")
        for code in codes:
            content = op["responses"][code].get("content", {})
            if code == "204":
                assert not content, f"{method.upper()} {path}: a 204 has no body"
                continue
            if "text/html" in content:  # the portal and admin pages
                continue
            if "text/event-stream" in content:  # a streamed reply: its events are described in the text
                assert content["text/event-stream"].get("schema") == {"type": "string"}, f"{method.upper()} {path}"
                continue
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" not in schema:
                missing.append(f"{method.upper()} {path} {code}: {schema or 'no schema'}")
    assert not missing, "\n".join(missing)


def test_every_keyed_operation_declares_the_security_schemes_and_its_errors(app: FastAPI, spec: dict[str, Any]) -> None:
    keyed = {(c.path, m.lower()): c.original_route for c in iter_route_contexts(app.routes)
             if isinstance(c.original_route, KeyedRoute) and c.original_route.scope for m in c.methods or ()}
    assert len(keyed) >= 60
    for path, method, op in _operations(spec):
        route = keyed.get((path, method))
        if route is None:
            assert "security" not in op, f"{method} {path} needs no key but declares one"
            continue
        assert op.get("security") == SCHEMES, f"{method} {path}"
        responses = op["responses"]
        assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorPublic"}
        # read routes with an admin-only option: recomputed insights, retrieval over every audience
        assert ("403" in responses) == (route.scope.value != "read") or (method, path) in {
            ("get", "/v1/insights"), ("post", "/v1/retrieve")}
        if "{" in path:
            assert "404" in responses, f"{method} {path}"
        if "422" in responses:
            ref = responses["422"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ValidationErrorPublic", f"{method} {path}"


def test_only_health_and_html_pages_go_without_a_key(app: FastAPI) -> None:
    routes = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)]
    open_json = sorted(path for path, r in routes if isinstance(r, APIRoute) and not isinstance(r, KeyedRoute)
                       and getattr(r.response_class, "value", r.response_class).media_type == "application/json")
    # the run page's progress checks its browser session itself (401 without one, see test_workspace_pages);
    # the helpdesk's signed replies check their HMAC signature (401 without one, see test_resolutions)
    assert open_json == ["/admin/sources/{name}/runs/{run_id}/progress", "/healthz", "/v1/helpdesk/replies"]


def test_the_error_models_match_what_the_handlers_send(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["ErrorPublic"]["required"]) == {"error", "message"}
    problems = schemas["ValidationErrorPublic"]["properties"]["problems"]
    assert problems["items"] == {"$ref": "#/components/schemas/ProblemPublic"}
    assert set(schemas["ProblemPublic"]["required"]) == {"field", "message"}
