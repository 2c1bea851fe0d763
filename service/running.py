"""The CLI beside a running ``knowdesk serve``: the server announces itself under KNOWDESK_HOME.

The embedded index (Qdrant Edge, or qdrant-client's local mode) is opened by one process at a time.
While ``knowdesk serve`` holds it, a read command such as ``knowdesk retrieve`` sends its request to
that server instead: the server writes ``KNOWDESK_HOME/server.json`` (mode 0600) with its URL, its
process id and a token made for this process run only, and accepts that token for read requests of
any workspace (header ``X-Knowdesk-Workspace``). The file is removed when the server stops; a file
left by a killed server is ignored (its process is gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from core.errors import KnowdeskError, StoreLocked
from core.models import Frozen, Hit
from retrieval.search import SearchFilters, parse_filters

if TYPE_CHECKING:
    from app.runtime import Runtime

#: One search of a batch: (query, filters, top_k).
Query = tuple[str, SearchFilters | None, int]

log = logging.getLogger(__name__)

DISCOVERY_FILE = "server.json"
WORKSPACE_HEADER = "X-Knowdesk-Workspace"


class RunningServer(Frozen):
    """What ``server.json`` holds."""

    url: str
    token: str
    pid: int


def new_token() -> str:
    """A token for one server process (never stored anywhere but the 0600 discovery file)."""
    return "kdlocal_" + secrets.token_urlsafe(32)


def announce(home: Path, *, url: str, token: str) -> Path:
    """Write the discovery file (owner-only) for the server at ``url``."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / DISCOVERY_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, f)
    os.replace(tmp, path)
    return path


def withdraw(home: Path, *, token: str) -> None:
    """Remove the discovery file if it is still this server's."""
    found = _read(home / DISCOVERY_FILE)
    if found is not None and found.token == token:
        with contextlib.suppress(FileNotFoundError):
            (home / DISCOVERY_FILE).unlink()


def find(home: Path) -> RunningServer | None:
    """The server announced under ``home`` when its process still runs, else None."""
    found = _read(home / DISCOVERY_FILE)
    if found is None:
        return None
    try:
        os.kill(found.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return found


def _read(path: Path) -> RunningServer | None:
    try:
        return RunningServer.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def post(server: RunningServer, path: str, body: dict[str, Any], *, workspace: str, timeout: float = 120.0) -> Any:
    """POST ``body`` to the running server as the local CLI; its JSON answer.

    Raises:
        KnowdeskError: the server is unreachable or answered with an error (its message).
    """
    headers = {"Authorization": f"Bearer {server.token}", WORKSPACE_HEADER: workspace}
    try:
        response = httpx.post(server.url.rstrip("/") + path, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise KnowdeskError(f"the running knowdesk server at {server.url} did not answer: {exc}") from exc
    if response.status_code >= 400:
        try:
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text
        raise KnowdeskError(f"the running knowdesk server at {server.url} answered {response.status_code}: {message}")
    return response.json()


def hit_from_json(data: dict[str, Any]) -> Hit:
    """A ``Hit`` from its JSON form (``service.output.hit``)."""
    return Hit(chunk_id=data["chunk_id"], document_id=data["document_id"], source_id=data["source"],
               title=data["title"], uri=data["uri"], section=tuple(data["section"]), text=data["text"],
               kind=data["kind"], language=data["language"], topic=tuple(data["topic"]), score=data["score"],
               dense_score=data.get("dense_score"))


def _located(rt: Runtime) -> RunningServer:
    server = find(rt.settings.home)
    if server is None:
        raise StoreLocked(
            f"the index under {rt.settings.home} is open in another knowdesk process that is not a `knowdesk serve` "
            "of this KNOWDESK_HOME (a sync, a quickstart, an eval?): wait for it to finish, or stop it",
            path=str(rt.settings.home))
    log.info("the index is held by the server at %s (pid %d): asking it", server.url, server.pid)
    return server


def _filters_json(filters: SearchFilters | None) -> dict[str, Any]:
    return filters.model_dump(exclude_none=True) if filters is not None else {}


def via_running_server(rt: Runtime, workspace: str, query: str, filters: list[str], top_k: int) -> list[Hit]:
    """``retrieve`` through the running server (the CLI's filters as ``key=value`` pairs)."""
    body = {"query": query, "top_k": top_k, "filters": _filters_json(parse_filters(filters))}
    answer = post(_located(rt), "/v1/retrieve", body, workspace=workspace)
    return [hit_from_json(h) for h in answer["hits"]]


def batch_via_running_server(rt: Runtime, workspace: str) -> Callable[[Sequence[Query]], list[list[Hit]]]:
    """A ``search_many`` that sends each query to the running server."""
    server = _located(rt)

    def search(queries: Sequence[Query]) -> list[list[Hit]]:
        return [[hit_from_json(h) for h in post(server, "/v1/retrieve", {
            "query": q, "top_k": k, "filters": _filters_json(f)}, workspace=workspace)["hits"]] for q, f, k in queries]

    return search


def serve_announced(rt: Runtime, *, host: str, port: int, say: Callable[[str], None]) -> None:
    """Run the HTTP API; once it listens, announce it under KNOWDESK_HOME (withdrawn when it stops)."""
    import uvicorn

    from service.api import create_app

    token = new_token()
    home = rt.settings.home

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.servers and self.servers[0].sockets:
                bound = self.servers[0].sockets[0].getsockname()
                url = f"http://{_url_host(host)}:{bound[1]}"
                announce(home, url=url, token=token)
                say(f"knowdesk API on {url} (CLI commands under KNOWDESK_HOME={home} use it while it runs)")

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            withdraw(home, token=token)
            await super().shutdown(sockets=sockets)

    server = Server(uvicorn.Config(create_app(rt, local_token=token), host=host, port=port))
    try:
        server.run()
    finally:
        withdraw(home, token=token)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
