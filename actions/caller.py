"""The HTTP call of an action: URL, auth, SSRF guard, timeout, honest results.

Auth comes from the workspace's secrets for the operation's security schemes (API key in a
header or the query, bearer, basic, OAuth2 client credentials with a cached token); the
session's headers (a customer's token) override them. Nothing secret is logged or returned:
``CallResult`` carries the status, the parsed body and a message, never the request headers.
Idempotent methods are retried once after a connection failure or a 502/503/504; POST and PATCH
never are. Redirects are not followed.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx

from .guard import Blocked, check_url
from .models import IDEMPOTENT_METHODS, ActionDef, AuthScheme, Location, SchemeKind, SpecInfo
from .secrets import SecretUnreadable
from .store import ActionStore

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})


class Outcome(StrEnum):
    OK = "ok"
    CLIENT_ERROR = "client_error"  # 4xx: the request was refused (not found, invalid, unauthorized)
    SERVER_ERROR = "server_error"  # 5xx or an unexpected 3xx
    TIMEOUT = "timeout"
    NETWORK = "network"
    BLOCKED = "blocked"
    MISCONFIGURED = "misconfigured"  # a stored secret cannot be decrypted (the key changed)


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a call returned. ``body`` is parsed JSON, text, or None."""

    outcome: Outcome
    status: int | None
    body: Any
    message: str
    duration_ms: float
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class ActionCaller:
    """Makes action calls for a workspace's registry.

    Args:
        store: the registry (spec, secrets, allowlist, session headers).
        timeout: seconds per request (connect, read, write, pool).
        max_bytes: larger responses are failures.
        transport: an httpx transport (tests); the default opens real connections.
    """

    def __init__(self, *, store: ActionStore, timeout: float = 10.0, max_bytes: int = 2_000_000,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.store, self.timeout, self.max_bytes = store, timeout, max_bytes
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport,
                                    trust_env=False)
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def call(self, action: ActionDef, args: dict[str, Any], *, session_id: str | None = None) -> CallResult:
        """Call ``action`` with validated ``args``; never raises for HTTP or network failures."""
        start = time.perf_counter()
        spec = self.store.spec(action.workspace, action.spec)
        allow = self.store.allowlist(action.workspace)
        try:
            request = self._request(action, spec, args, session_id, allow)
        except Blocked as exc:
            log.warning("action %s blocked: %s", action.id, exc.message)
            return CallResult(Outcome.BLOCKED, None, None, exc.message, _ms(start))
        except SecretUnreadable as exc:
            log.error("action %s not called: %s", action.id, exc.message)
            return CallResult(Outcome.MISCONFIGURED, None, None, "the credentials for this API could not be read",
                              _ms(start))
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._client.send(request)
            except httpx.TimeoutException:
                return CallResult(Outcome.TIMEOUT, None, None, f"the API did not answer within {self.timeout:g}s",
                                  _ms(start), attempts)
            except httpx.TransportError as exc:
                if attempts == 1 and action.method in IDEMPOTENT_METHODS and isinstance(exc, httpx.ConnectError):
                    continue
                return CallResult(Outcome.NETWORK, None, None, f"could not reach the API ({type(exc).__name__})",
                                  _ms(start), attempts)
            if response.status_code in RETRY_STATUSES and attempts == 1 and action.method in IDEMPOTENT_METHODS:
                response.close()
                continue
            break
        result = self._result(response, start, attempts)
        log.info("action %s %s -> %s in %.0f ms", action.id, action.method, result.status, result.duration_ms)
        return result

    # -- the request ----------------------------------------------------------------------------
    def _request(self, action: ActionDef, spec: SpecInfo, args: dict[str, Any], session_id: str | None,
                 allow: list[str]) -> httpx.Request:
        base = action.server if action.server and "://" in action.server else spec.base_url
        if not base or "://" not in base:
            raise Blocked(f"spec {spec.name!r} has no absolute base URL; set one with `knowdesk actions import "
                          f"SPEC --base-url https://...` or PUT /v1/actions/specs/{spec.name}")
        path = action.path
        query: list[tuple[str, str | int | float | bool | None]] = []
        headers: dict[str, str] = {"accept": "application/json"}
        body: dict[str, Any] = {}
        whole: Any = None
        for p in action.parameters:
            if p.name not in args:
                continue
            value = args[p.name]
            if p.location is Location.PATH:
                path = path.replace("{" + p.name + "}", quote(_scalar(value), safe=""))
            elif p.location is Location.QUERY:
                values = value if isinstance(value, list) else [value]
                query += [(p.name, _scalar(v)) for v in values]
            elif p.location is Location.HEADER:
                headers[p.name.lower()] = _scalar(value)
            elif action.body_whole:
                whole = value
            else:
                body[p.name] = value
        pinned = check_url(base.rstrip("/") + path, allow)
        self._auth(action, spec, headers, query, allow)
        for name, value in self.store.session_headers(action.workspace, session_id).items() if session_id else ():
            headers[name.lower()] = value  # the customer's own credentials win
        content: bytes | None = None
        if whole is not None or body:
            if action.body_media_type == "application/x-www-form-urlencoded":
                content = str(httpx.QueryParams({k: _scalar(v) for k, v in body.items()})).encode()
            else:
                content = json.dumps(whole if action.body_whole else body).encode()
            headers["content-type"] = action.body_media_type or "application/json"
        headers["host"] = pinned.host_header()
        url = pinned.connect_url().copy_merge_params(httpx.QueryParams(list(query))) if query else pinned.connect_url()
        extensions = {"sni_hostname": pinned.host} if pinned.url.scheme == "https" else {}
        return self._client.build_request(action.method, url, headers=headers, content=content,
                                          extensions=extensions)

    def _auth(self, action: ActionDef, spec: SpecInfo, headers: dict[str, str], query: list[Any],
              allow: list[str]) -> None:
        schemes = {s.name: s for s in spec.schemes}
        for alternative in action.security:
            secrets = {n: self.store.secret(action.workspace, spec.name, n) for n in alternative}
            if all(secrets.values()):
                for name in alternative:
                    self._apply(action.workspace, spec.name, schemes[name], secrets[name] or {}, headers, query,
                                allow)
                return

    def _apply(self, workspace: str, spec: str, scheme: AuthScheme, secret: dict[str, str], headers: dict[str, str],
               query: list[Any], allow: list[str]) -> None:
        if scheme.kind is SchemeKind.API_KEY and scheme.param:
            if scheme.location == "query":
                query.append((scheme.param, secret["value"]))
            elif scheme.location == "cookie":
                headers["cookie"] = f"{scheme.param}={secret['value']}"
            else:
                headers[scheme.param.lower()] = secret["value"]
        elif scheme.kind is SchemeKind.BEARER:
            headers["authorization"] = f"Bearer {secret['token']}"
        elif scheme.kind is SchemeKind.BASIC:
            pair = f"{secret['username']}:{secret['password']}".encode()
            headers["authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        elif scheme.kind is SchemeKind.OAUTH2:
            headers["authorization"] = f"Bearer {self._token(workspace, spec, scheme, secret, allow)}"

    def _token(self, workspace: str, spec: str, scheme: AuthScheme, secret: dict[str, str], allow: list[str]) -> str:
        key = (workspace, spec, scheme.name)
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        if not scheme.token_url:
            raise Blocked(f"security scheme {scheme.name!r} has no token URL")
        pinned = check_url(scheme.token_url, allow)
        data = {"grant_type": "client_credentials"}
        if scheme.scopes:
            data["scope"] = " ".join(scheme.scopes)
        try:
            response = self._client.post(
                pinned.connect_url(), data=data, auth=(secret["client_id"], secret["client_secret"]),
                headers={"host": pinned.host_header(), "accept": "application/json"},
                extensions={"sni_hostname": pinned.host} if pinned.url.scheme == "https" else {})
            payload = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            payload = {}
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            raise Blocked(f"the OAuth2 token endpoint of scheme {scheme.name!r} did not issue a token; check the "
                          "client id and secret")
        ttl = float(payload.get("expires_in") or 300)
        with self._lock:
            self._tokens[key] = (str(token), time.monotonic() + max(ttl - 30, 1))
        return str(token)

    # -- the response ---------------------------------------------------------------------------
    def _result(self, response: httpx.Response, start: float, attempts: int) -> CallResult:
        status = response.status_code
        raw = response.content
        if len(raw) > self.max_bytes:
            return CallResult(Outcome.SERVER_ERROR, status, None,
                              f"the response was larger than {self.max_bytes} bytes", _ms(start), attempts)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")[:2000]
        reason = response.reason_phrase or ""
        if 200 <= status < 300:
            return CallResult(Outcome.OK, status, body, f"{status} {reason}".strip(), _ms(start), attempts)
        detail = _error_detail(body)
        message = f"{status} {reason}".strip() + (f": {detail}" if detail else "")
        outcome = Outcome.CLIENT_ERROR if 400 <= status < 500 else Outcome.SERVER_ERROR
        if 300 <= status < 400:
            message = f"{status} redirect (not followed)"
        return CallResult(outcome, status, body, message, _ms(start), attempts)


def _error_detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "detail", "error_description", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
    return ""


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
