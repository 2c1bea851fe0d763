"""Import OpenAPI 3.1, 3.0 and Swagger 2.0 specs (JSON or YAML) into actions, one per operation.

The whole document is checked once against the official OpenAPI metaschema of its version
(``openapi-spec-validator``'s bundled schemas, run by ``jsonschema``); each error is pinned to the
operation it sits in, so a bad operation is skipped with its reason and the others still import.
Each operation is then checked on its own: local ``$ref``s resolve (``referencing``; nested and
circular references are fine: schemas keep their ``$ref`` and carry the fragments they need),
path parameters match the path template, parameter schemas are valid JSON Schema, security
schemes exist, the request body is JSON or a form.

Example::

    parsed = parse_spec(Path("orders.yaml").read_text(), workspace="default", name="orders")
    parsed.actions[0].id, [s.reason for s in parsed.skipped]
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml
from jsonschema.exceptions import SchemaError, best_match
from openapi_schema_validator import OAS30Validator, OAS31Validator
from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31
from openapi_spec_validator.schemas.backend.jsonschema import create_validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from core.errors import InvalidInput

from .models import SAFE_METHODS, ActionDef, AuthScheme, Location, Parameter, SchemeKind, Skipped
from .templates import parse_templates

log = logging.getLogger(__name__)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SPEC_URI = "urn:knowdesk:spec"
_TEMPLATE = re.compile(r"{([^{}]+)}")
_IGNORED_HEADERS = {"authorization", "content-type", "accept"}


class InvalidSpec(InvalidInput):
    """The document is not an OpenAPI 3.x or Swagger 2.0 spec at all (nothing was imported)."""

    code = "invalid_spec"


@functools.cache
def _metaschema_validator(version: str) -> Any:
    """jsonschema's validator of the OpenAPI metaschema (never the jsonschema-rs backend that
    openapi-spec-validator picks when it is installed: the errors' paths and contexts are what
    attribute a problem to its operation)."""
    return create_validator({"2.0": schema_v2, "3.0": schema_v30, "3.1": schema_v31}[version])


@dataclass
class ParsedSpec:
    """The result of parsing: the actions, every skipped operation and document-level problems."""

    version: str
    title: str
    base_url: str | None
    schemes: list[AuthScheme]
    actions: list[ActionDef] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_document(text: str | bytes) -> dict[str, Any]:
    """The spec as plain JSON data (YAML keys and dates become strings).

    Raises:
        InvalidSpec: not JSON or YAML, or not a mapping.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=yaml.CSafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidSpec(f"the spec is neither valid JSON nor valid YAML: {str(exc)[:300]}") from exc
    if not isinstance(data, dict):
        raise InvalidSpec("the spec must be a JSON or YAML mapping with an 'openapi' or 'swagger' field")
    return _plain(data)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def spec_version(doc: dict[str, Any]) -> str:
    """``"3.1"``, ``"3.0"`` or ``"2.0"``.

    Raises:
        InvalidSpec: no or an unsupported ``openapi``/``swagger`` version.
    """
    raw = str(doc.get("openapi") or doc.get("swagger") or "")
    for prefix, version in (("3.1", "3.1"), ("3.0", "3.0"), ("2.0", "2.0")):
        if raw.startswith(prefix) and ("openapi" in doc) == (version != "2.0"):
            return version
    if not raw:
        raise InvalidSpec("the document has no 'openapi' (3.0, 3.1) or 'swagger' (2.0) version field")
    raise InvalidSpec(f"unsupported spec version {raw!r}; import OpenAPI 3.1, 3.0 or Swagger 2.0")


def parse_spec(text: str | bytes | dict[str, Any], *, workspace: str, name: str) -> ParsedSpec:
    """Parse and validate a spec into actions (not stored). See the module docstring."""
    doc = _plain(text) if isinstance(text, dict) else load_document(text)
    version = spec_version(doc)
    return _Parser(doc, version, workspace=workspace, name=name).run()


class _Parser:
    def __init__(self, doc: dict[str, Any], version: str, *, workspace: str, name: str) -> None:
        self.doc, self.version, self.workspace, self.name = doc, version, workspace, name
        self.resolver = Registry().with_resource(
            SPEC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
        ).resolver(base_uri=SPEC_URI)
        self.validator_cls = OAS31Validator if version == "3.1" else OAS30Validator
        self.op_errors: dict[tuple[str, str], list[str]] = {}
        self.path_errors: dict[str, list[str]] = {}
        self.problems: list[str] = []
        self._defs_cache: dict[str, set[str]] = {}

    # -- document -------------------------------------------------------------------------------
    def run(self) -> ParsedSpec:
        self._metaschema()
        schemes = self._schemes()
        raw_info = self.doc.get("info")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        out = ParsedSpec(
            version=self.version,
            title=str(info.get("title") or ""),
            base_url=self._base_url(self.doc.get("servers")),
            schemes=list(schemes.values()),
            problems=self.problems,
        )
        if out.base_url and "://" not in out.base_url:
            self.problems.append(f"the server URL {out.base_url!r} is relative; set an absolute base URL "
                                 "(--base-url) before the actions can be called")
        seen: set[str] = set()
        for path, method, op, item in self._operations():
            label = f"{method.upper()} {path}"
            key = str(op.get("operationId") or "") if isinstance(op, dict) else ""
            ident = key or _fallback_id(method, path)
            errors = self.op_errors.get((path, method), []) + self.path_errors.get(path, [])
            if errors:
                out.skipped.append(Skipped(operation=ident, method=method.upper(), path=path, reason="; ".join(errors)))
                continue
            if ident in seen:
                out.skipped.append(Skipped(operation=ident, method=method.upper(), path=path,
                                           reason=f"duplicate operationId {ident!r} ({label})"))
                continue
            try:
                action = self._action(ident, path, method, op, item, schemes)
            except _Skip as exc:
                out.skipped.append(Skipped(operation=ident, method=method.upper(), path=path, reason=str(exc)))
                continue
            seen.add(ident)
            out.actions.append(action)
        return out

    def _metaschema(self) -> None:
        validator = _metaschema_validator(self.version)
        for error in validator.iter_errors(self.doc):
            path = [str(p) for p in error.absolute_path]
            context = [c for c in error.context or () if c.message != "'$ref' is a required property"]
            detail = best_match(context) or error if context else error
            where = "/".join(path) or "(document)"
            message = f"{where}: {_short(detail.message)}"
            if len(path) >= 3 and path[0] == "paths" and path[2] in METHODS:
                self.op_errors.setdefault((path[1], path[2]), []).append(
                    f"invalid: {'/'.join(path[3:]) or 'operation'}: {_short(detail.message)}")
            elif len(path) >= 2 and path[0] == "paths":
                self.path_errors.setdefault(path[1], []).append(f"invalid path item: {message}")
            else:
                self.problems.append(message)

    def _operations(self) -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
        paths = self.doc.get("paths")
        if not isinstance(paths, dict):
            self.problems.append("the spec has no 'paths'; nothing to import")
            return
        for path, item in paths.items():
            if not isinstance(item, dict):
                continue
            try:
                item = self._deref(item)
            except _Skip as exc:
                self.path_errors.setdefault(path, []).append(str(exc))
                for method in METHODS:
                    if method in paths[path]:
                        yield path, method, {}, {}
                continue
            for method in METHODS:
                if method in item:
                    yield path, method, item[method], item

    # -- one operation --------------------------------------------------------------------------
    def _action(self, ident: str, path: str, method: str, op: Any, item: dict[str, Any],
                schemes: dict[str, AuthScheme]) -> ActionDef:
        if not isinstance(op, dict):
            raise _Skip("the operation is not an object")
        params = self._parameters(item.get("parameters") or [], op.get("parameters") or [])
        body_media, whole = None, False
        taken = {p.name for p in params if p.location not in (Location.BODY, Location.FORM)}
        if self.version == "2.0":
            body_media, whole, params = self._swagger_body(params, taken)
        elif "requestBody" in op:
            body_media, whole, body_params = self._request_body(op["requestBody"], taken)
            params += body_params
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _Skip(f"parameter names used twice (path/query/header/body): {', '.join(dupes)}")
        template = set(_TEMPLATE.findall(path))
        declared = {p.name for p in params if p.location == Location.PATH}
        if template - declared:
            raise _Skip(f"path parameter(s) {', '.join(sorted(template - declared))} of {path} are not declared")
        if declared - template:
            raise _Skip(f"path parameter(s) {', '.join(sorted(declared - template))} are not in the path {path}")
        security = self._security(op, schemes)
        defs: dict[str, Any] = {}
        for p in params:
            self._check_schema(p)
            for ref in self._refs_closure(p.schema_):
                _place(defs, ref, self._lookup(ref))
        server = None if self.version == "2.0" else (self._base_url(op.get("servers"))
                                                     or self._base_url(item.get("servers")))
        confirm_flag = op.get("x-knowdesk-confirm")
        confirm = bool(confirm_flag) if isinstance(confirm_flag, bool) else method.upper() not in SAFE_METHODS
        examples = op.get("x-knowdesk-examples") or []
        try:
            reply = parse_templates(op.get("x-knowdesk-reply"))
        except ValueError as exc:
            raise _Skip(str(exc)) from None
        return ActionDef(
            workspace=self.workspace, id=ident, spec=self.name, method=method.upper(), path=path,
            summary=_text(op.get("summary")), description=_text(op.get("description")),
            tags=tuple(str(t) for t in op.get("tags") or () if isinstance(t, str)),
            parameters=tuple(params), body_media_type=body_media, body_whole=whole, defs=defs,
            dialect=self.version, security=security, confirm=confirm, server=server,
            examples=tuple(str(e) for e in examples if isinstance(e, str)), reply=reply,
        )

    def _parameters(self, shared: list[Any], own: list[Any]) -> list[Parameter]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*shared, *own]:  # operation-level parameters override path-level ones
            p = self._deref(raw)
            merged[(str(p.get("name")), str(p.get("in")))] = p
        out = []
        for (name, where), p in merged.items():
            if where == "body" or where == "formData":
                out.append(Parameter(name=name, location=Location(where.replace("formData", "form")),
                                     required=bool(p.get("required")), description=_text(p.get("description")),
                                     schema=self._swagger_schema(p)))
                continue
            if where == "cookie" or (where == "header" and name.lower() in _IGNORED_HEADERS):
                if p.get("required") and where == "cookie":
                    raise _Skip(f"required cookie parameter {name!r} is not supported")
                continue
            if where not in ("path", "query", "header"):
                raise _Skip(f"parameter {name!r} has an unknown location {where!r}")
            if self.version == "2.0":
                schema = self._swagger_schema(p)
            elif "schema" in p:
                schema = p["schema"]
            elif isinstance(p.get("content"), dict) and p["content"]:
                schema = next(iter(p["content"].values())).get("schema") or {}
            else:
                schema = {}
            out.append(Parameter(name=name, location=Location(where), required=bool(p.get("required")) or where ==
                                 "path", description=_text(p.get("description")), schema=schema,
                                 source=_contact_source(p)))
        return out

    def _swagger_schema(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("in") == "body":
            return dict(p.get("schema") or {})
        if p.get("type") == "file":
            raise _Skip(f"file upload parameter {p.get('name')!r} is not supported")
        keys = ("type", "format", "enum", "items", "pattern", "minimum", "maximum", "minLength", "maxLength",
                "default", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems")
        return {k: p[k] for k in keys if k in p}

    def _swagger_body(self, params: list[Parameter], taken: set[str]) -> tuple[str | None, bool, list[Parameter]]:
        rest = [p for p in params if p.location not in (Location.BODY, Location.FORM)]
        body = [p for p in params if p.location == Location.BODY]
        form = [p for p in params if p.location == Location.FORM]
        if form:
            return "application/x-www-form-urlencoded", False, rest + form
        if body:
            fields, whole = self._flatten(body[0].schema_, body[0].required, taken)
            return "application/json", whole, rest + fields
        return None, False, rest

    def _request_body(self, raw: Any, taken: set[str]) -> tuple[str | None, bool, list[Parameter]]:
        body = self._deref(raw)
        content = body.get("content") or {}
        required = bool(body.get("required"))
        media = next((m for m in content if m == "application/json" or m.endswith("+json")), None)
        if media is None and "application/x-www-form-urlencoded" in content:
            media = "application/x-www-form-urlencoded"
        if media is None:
            if required:
                raise _Skip(f"request body media type(s) {', '.join(content) or 'none'} not supported (JSON or form)")
            return None, False, []
        schema = (content[media] or {}).get("schema") or {}
        fields, whole = self._flatten(schema, required, taken)
        return media, whole, fields

    def _flatten(self, schema: dict[str, Any], required: bool, taken: set[str]) -> tuple[list[Parameter], bool]:
        """An object body becomes one parameter per property (unless a property's name is taken by a
        path, query or header parameter); anything else one ``body`` parameter."""
        resolved = self._deref(schema) if "$ref" in schema else schema
        parts = [resolved, *[self._deref(s) for s in resolved.get("allOf") or [] if isinstance(s, dict)]]
        props: dict[str, Any] = {}
        needed: set[str] = set()
        for part in parts:
            if part.get("type") not in (None, "object") or "oneOf" in part or "anyOf" in part:
                break
            props.update(part.get("properties") or {})
            needed.update(part.get("required") or [])
        else:
            if props and not set(props) & taken:
                return [Parameter(name=n, location=Location.BODY, required=required and n in needed,
                                  description=_text(s.get("description")) if isinstance(s, dict) else "",
                                  schema=s if isinstance(s, dict) else {}, source=_contact_source(s))
                        for n, s in props.items()], False
        return [Parameter(name="body", location=Location.BODY, required=required, schema=schema)], True

    def _security(self, op: dict[str, Any], schemes: dict[str, AuthScheme]) -> tuple[tuple[str, ...], ...]:
        reqs = op.get("security", self.doc.get("security")) or []
        out = []
        for req in reqs:
            if not isinstance(req, dict):
                continue
            unknown = [n for n in req if n not in schemes]
            if unknown:
                raise _Skip(f"security scheme(s) {', '.join(unknown)} are not defined in the spec")
            out.append(tuple(req))
        return tuple(out)

    def _schemes(self) -> dict[str, AuthScheme]:
        raw = (self.doc.get("securityDefinitions") if self.version == "2.0"
               else (self.doc.get("components") or {}).get("securitySchemes")) or {}
        out: dict[str, AuthScheme] = {}
        for name, s in raw.items():
            try:
                s = self._deref(s)
            except _Skip as exc:
                self.problems.append(f"security scheme {name}: {exc}")
                continue
            kind = str(s.get("type"))
            if kind == "apiKey":
                out[name] = AuthScheme(name=name, kind=SchemeKind.API_KEY, location=s.get("in"), param=s.get("name"))
            elif kind == "http" and str(s.get("scheme", "")).lower() in ("bearer", "basic"):
                out[name] = AuthScheme(name=name, kind=SchemeKind(str(s["scheme"]).lower()))
            elif kind == "basic":
                out[name] = AuthScheme(name=name, kind=SchemeKind.BASIC)
            elif kind == "oauth2":
                flows = s.get("flows") or {}
                flow = flows.get("clientCredentials") or (s if s.get("flow") == "application" else None)
                if flow:
                    out[name] = AuthScheme(name=name, kind=SchemeKind.OAUTH2, token_url=flow.get("tokenUrl"),
                                           scopes=tuple(flow.get("scopes") or ()))
                else:  # user-facing flows: the customer's token comes as a per-session header
                    out[name] = AuthScheme(name=name, kind=SchemeKind.BEARER)
            elif kind == "openIdConnect":
                out[name] = AuthScheme(name=name, kind=SchemeKind.BEARER)
            else:
                self.problems.append(f"security scheme {name}: type {kind!r} is not supported")
        return out

    def _base_url(self, servers: Any) -> str | None:
        if self.version == "2.0":
            if servers is not None or not self.doc.get("host"):
                return None
            schemes = self.doc.get("schemes") or ["https"]
            scheme = "https" if "https" in schemes else str(schemes[0])
            return f"{scheme}://{self.doc['host']}{self.doc.get('basePath') or ''}".rstrip("/")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            return None
        server = servers[0]
        url = str(server.get("url") or "")
        for var, spec in (server.get("variables") or {}).items():
            url = url.replace("{" + var + "}", str((spec or {}).get("default", "")))
        return url.rstrip("/") or None

    # -- references -----------------------------------------------------------------------------
    def _lookup(self, ref: str) -> Any:
        try:
            return self.resolver.lookup(ref).contents
        except Unresolvable as exc:
            raise _Skip(f"unresolvable $ref {ref!r}") from exc

    def _deref(self, node: Any) -> dict[str, Any]:
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#"):
                raise _Skip(f"external $ref {ref!r} is not supported (bundle the spec into one file)")
            if ref in seen:
                raise _Skip(f"$ref {ref!r} refers to itself")
            seen.add(ref)
            node = self._lookup(ref)
        if not isinstance(node, dict):
            raise _Skip("expected an object")
        return node

    def _refs_closure(self, schema: Any) -> set[str]:
        out: set[str] = set()
        stack = list(_refs(schema))
        while stack:
            ref = stack.pop()
            if ref in out:
                continue
            if not ref.startswith("#/"):
                raise _Skip(f"external $ref {ref!r} is not supported (bundle the spec into one file)")
            out.add(ref)
            if ref not in self._defs_cache:
                self._defs_cache[ref] = set(_refs(self._lookup(ref)))
            stack.extend(self._defs_cache[ref])
        return out

    def _check_schema(self, p: Parameter) -> None:
        try:
            self.validator_cls.check_schema(p.schema_)
        except SchemaError as exc:
            raise _Skip(f"parameter {p.name!r} has an invalid schema: {_short(exc.message)}") from exc


class _Skip(Exception):
    """Internal: the operation is skipped with this reason."""


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _place(defs: dict[str, Any], ref: str, value: Any) -> None:
    parts = [unquote(p).replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
    node = defs
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _contact_source(p: Any) -> str | None:
    value = p.get("x-knowdesk-contact") if isinstance(p, dict) else None
    return str(value) if value in ("email", "phone", "external_id", "name") else None


def _fallback_id(method: str, path: str) -> str:
    return f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}".lower()


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, str) else ""


def _short(message: str, limit: int = 240) -> str:
    # The validator's first line says what is wrong; the jsonschema-rs backend (picked by
    # openapi-spec-validator when installed) appends the schema and instance dump after it.
    message = message.strip().split("\n", 1)[0]
    return message if len(message) <= limit else message[: limit - 3] + "..."
