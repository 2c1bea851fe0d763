"""The loopback server toolkit that SaaS connector tests build their vendor fakes on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.loopback import Fault, LoopbackServer, Request, Response, serve


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    yield from serve()


def test_routes_path_params_and_request_log(loopback: LoopbackServer) -> None:
    loopback.route("GET", r"/items/(?P<item_id>\d+)", lambda req: {"id": req.path_params["item_id"], "q": req.arg("q")})
    loopback.route("POST", "/items", lambda req: Response.json({"got": req.json()}, status=201))
    r = httpx.get(f"{loopback.url}/items/7", params={"q": "x"}, headers={"Authorization": "Bearer t"})
    assert r.status_code == 200 and r.json() == {"id": "7", "q": "x"}
    r = httpx.post(f"{loopback.url}/items", json={"a": 1})
    assert r.status_code == 201 and r.json() == {"got": {"a": 1}}
    assert httpx.get(f"{loopback.url}/nope").status_code == 404
    assert [req.path for req in loopback.requests] == ["/items/7", "/items", "/nope"]
    assert loopback.requests[0].header("authorization") == "Bearer t"
    assert len(loopback.requests_to(r"^/items$", method="POST")) == 1


def test_faults_are_consumed_in_order_and_only_where_they_match(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/a", lambda req: {"ok": True})
    loopback.route("GET", "/b", lambda req: {"ok": True})
    loopback.faults.add(Fault.rate_limited(times=2, path="^/a$"))
    loopback.faults.add(Fault(status=503, times=1))
    first = httpx.get(f"{loopback.url}/a")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert httpx.get(f"{loopback.url}/b").status_code == 503
    assert httpx.get(f"{loopback.url}/a").status_code == 429
    assert httpx.get(f"{loopback.url}/a").status_code == 200
    assert loopback.faults.pending == 0


def test_a_failing_handler_answers_500_and_is_recorded(loopback: LoopbackServer) -> None:
    def boom(req: Request) -> Response:
        raise ValueError("bad fake")

    loopback.route("GET", "/boom", boom)
    r = httpx.get(f"{loopback.url}/boom")
    assert r.status_code == 500 and "bad fake" in r.text
    assert len(loopback.errors) == 1


def test_context_manager_stops_the_server() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/", lambda req: {"up": True})
        url = server.url
        assert httpx.get(url + "/").json() == {"up": True}
    try:
        httpx.get(url + "/", timeout=1)
    except httpx.HTTPError:
        pass
    else:
        raise AssertionError("server still answering after stop")
