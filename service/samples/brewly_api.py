"""The Brewly sample shop API: a small real HTTP server implementing ``brewly-api.yaml``.

``knowdesk quickstart`` and ``knowdesk eval bundled`` start it on 127.0.0.1 for as long as they
talk to the agent; ``knowdesk samples api`` serves it in the foreground (port 8781, the spec's
server) so the sample actions work from ``knowdesk serve`` too. Data is in memory, made up, and
fresh at every start; dates are relative to today so the answers read naturally.

Every request needs ``X-Brewly-Key: brewly-sample-key`` (401 otherwise). Errors are JSON
``{"error": code, "message": text}`` with 400/401/404/409/422 as the spec says.

Example::

    with BrewlyApi() as api:          # a free port
        httpx.get(f"{api.base_url}/orders/BR-104233/tracking", headers={"X-Brewly-Key": SAMPLE_KEY})
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import threading
from collections.abc import Callable
from copy import deepcopy
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).with_name("brewly-api.yaml")
#: The name the sample spec has in a workspace (``knowdesk actions list --spec brewly``).
SPEC_NAME = "brewly"
SCHEME = "BrewlyKey"
SAMPLE_KEY = "brewly-sample-key"
HOST = "127.0.0.1"
DEFAULT_PORT = 8781
DEFAULT_BASE_URL = f"http://{HOST}:{DEFAULT_PORT}/v1"
MONTHS = [m.lower() for m in calendar.month_name[1:]]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _box_after(day: date) -> date:
    """Boxes leave the warehouse on the 5th: the first 5th of a month after ``day``'s month."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=5)


def sample_data(today: date | None = None) -> dict[str, Any]:
    """The shop's customers, orders, gift cards and invoices (made up), dated around ``today``."""
    today = today or date.today()
    next_box = _box_after(today)

    def subscription(plan: str, address: str, **changes: Any) -> dict[str, Any]:
        return {"plan": plan, "status": "active", "next_box": next_box.isoformat(), "skipped": [],
                "paused_until": None, "delivery_address": address, **changes}

    return {
        "subscriptions": {
            "dana@example.com": subscription("daily", "Lindenstrasse 7, 10969 Berlin"),
            "alex@example.com": subscription("starter", "Hafenweg 3, 20457 Hamburg"),
            "sam@example.com": subscription("office", "Brewly Office Park 1, 80331 Munich"),
            "kim@example.com": subscription("starter", "Ringstrasse 21, 1010 Vienna", status="paused",
                                            paused_until=(today + timedelta(days=40)).isoformat()),
        },
        "orders": {
            "BR-104233": {"order_number": "BR-104233", "email": "dana@example.com", "status": "shipped",
                          "placed_on": (today - timedelta(days=3)).isoformat(),
                          "items": [{"name": "Brewly Mill", "quantity": 1},
                                    {"name": "Cleaning pellets", "quantity": 2}],
                          "total": 219.8, "currency": "EUR", "carrier": "DHL",
                          "tracking_number": "00340434161094027318",
                          "estimated_delivery": (today + timedelta(days=2)).isoformat(),
                          "last_event": "In transit: left the Hamburg parcel centre"},
            "BR-104118": {"order_number": "BR-104118", "email": "dana@example.com", "status": "delivered",
                          "placed_on": (today - timedelta(days=24)).isoformat(),
                          "items": [{"name": "Ethiopia Guji, 250 g", "quantity": 2}],
                          "total": 27.8, "currency": "EUR", "carrier": "DHL",
                          "tracking_number": "00340434161094011245",
                          "estimated_delivery": (today - timedelta(days=20)).isoformat(),
                          "last_event": "Delivered to the front door"},
            "BR-104305": {"order_number": "BR-104305", "email": "alex@example.com", "status": "processing",
                          "placed_on": today.isoformat(), "items": [{"name": "Brewly gift box", "quantity": 1}],
                          "total": 39.0, "currency": "EUR", "carrier": None, "tracking_number": None,
                          "estimated_delivery": (today + timedelta(days=4)).isoformat(),
                          "last_event": "Being packed in our warehouse"},
        },
        "gift_cards": {
            "BRW-7K2M-9QXP-4TZD": {"code": "BRW-7K2M-9QXP-4TZD", "balance": 35.0, "currency": "EUR",
                                   "expires_on": (today + timedelta(days=700)).isoformat(), "redeemed": False},
            "BRW-4H8N-2LWC-7RJE": {"code": "BRW-4H8N-2LWC-7RJE", "balance": 0.0, "currency": "EUR",
                                   "expires_on": (today + timedelta(days=300)).isoformat(), "redeemed": True},
        },
        "invoices": {
            "INV-2026-0012345": {"invoice_number": "INV-2026-0012345", "email": "dana@example.com", "total": 29.9,
                                 "currency": "EUR"},
            "INV-2026-0012377": {"invoice_number": "INV-2026-0012377", "email": "alex@example.com", "total": 14.9,
                                 "currency": "EUR"},
        },
    }


class Shop:
    """The API's behaviour over the in-memory data (thread-safe: one lock around every change)."""

    def __init__(self, today: date | None = None) -> None:
        self.today = today or date.today()
        self.data = sample_data(self.today)
        self.lock = threading.Lock()

    # -- orders ---------------------------------------------------------------------------------
    def _order(self, number: str) -> dict[str, Any]:
        order: dict[str, Any] | None = self.data["orders"].get(number.upper())
        if order is None:
            raise ApiError(404, "not_found", f"no order {number}")
        return order

    def list_orders(self, query: dict[str, str]) -> dict[str, Any]:
        email = _email(query.get("email"))
        status = query.get("status")
        rows = [_public_order(o) for o in self.data["orders"].values()
                if o["email"] == email and (not status or o["status"] == status)]
        return {"orders": sorted(rows, key=lambda o: o["placed_on"], reverse=True)}

    def get_order(self, number: str) -> dict[str, Any]:
        return _public_order(self._order(number))

    def track_order(self, number: str) -> dict[str, Any]:
        order = self._order(number)
        keys = ("order_number", "status", "carrier", "tracking_number", "estimated_delivery", "last_event")
        return {k: order[k] for k in keys if order.get(k) is not None}

    # -- the subscription -----------------------------------------------------------------------
    def _subscription(self, email: str) -> dict[str, Any]:
        sub: dict[str, Any] | None = self.data["subscriptions"].get(email)
        if sub is None:
            raise ApiError(404, "not_found", f"no subscription for {email}")
        return sub

    def get_subscription(self, query: dict[str, str]) -> dict[str, Any]:
        return _public_subscription(self._subscription(_email(query.get("email"))))

    def skip(self, body: dict[str, Any]) -> dict[str, Any]:
        month = body.get("month")
        if month not in ("next", *MONTHS):
            raise ApiError(422, "invalid", "month must be 'next' or a month name")
        with self.lock:
            sub = self._active(_email(body.get("email")))
            box = date.fromisoformat(sub["next_box"])
            if month != "next":  # the first box in that month from now on
                number, first = MONTHS.index(month) + 1, _box_after(self.today)
                box = date(first.year if number >= first.month else first.year + 1, number, 5)
            label = box.strftime("%Y-%m")
            if label in sub["skipped"]:
                raise ApiError(409, "already_skipped", f"the box of {box:%B %Y} is already skipped")
            sub["skipped"].append(label)
            if box.isoformat() == sub["next_box"]:
                sub["next_box"] = _box_after(box).isoformat()
            return _public_subscription(sub)

    def pause(self, body: dict[str, Any]) -> dict[str, Any]:
        months = body.get("months")
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 3:
            raise ApiError(422, "invalid", "months must be 1, 2 or 3")
        with self.lock:
            sub = self._active(_email(body.get("email")))
            until = self.today + timedelta(days=30 * months)
            sub.update(status="paused", paused_until=until.isoformat(),
                       next_box=_box_after(until).isoformat())
            return _public_subscription(sub)

    def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            sub = self._subscription(_email(body.get("email")))
            if sub["status"] != "paused":
                raise ApiError(409, "not_paused", f"the subscription is {sub['status']}, not paused")
            sub.update(status="active", paused_until=None, next_box=_box_after(self.today).isoformat())
            return _public_subscription(sub)

    def cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            sub = self._subscription(_email(body.get("email")))
            if sub["status"] == "cancelled":
                raise ApiError(409, "already_cancelled", "the subscription is already cancelled")
            sub.update(status="cancelled", next_box=None, paused_until=None)
            return _public_subscription(sub)

    def update_address(self, body: dict[str, Any]) -> dict[str, Any]:
        address = body.get("address")
        if not isinstance(address, str) or not 10 <= len(address.strip()) <= 200:
            raise ApiError(422, "invalid", "address must be one line of 10 to 200 characters")
        with self.lock:
            sub = self._subscription(_email(body.get("email")))
            sub["delivery_address"] = address.strip()
            return _public_subscription(sub)

    def _active(self, email: str) -> dict[str, Any]:
        sub = self._subscription(email)
        if sub["status"] != "active":
            raise ApiError(409, "not_active", f"the subscription is {sub['status']}")
        return sub

    # -- billing --------------------------------------------------------------------------------
    def gift_card(self, code: str) -> dict[str, Any]:
        card = self.data["gift_cards"].get(code.upper())
        if card is None:
            raise ApiError(404, "not_found", f"no gift card {code}")
        return dict(card)

    def resend_invoice(self, number: str, body: dict[str, Any]) -> dict[str, Any]:
        email = _email(body.get("email"))
        invoice = self.data["invoices"].get(number.upper())
        if invoice is None or invoice["email"] != email:  # never confirm another customer's invoice exists
            raise ApiError(404, "not_found", f"no invoice {number} for {email}")
        return {"invoice_number": invoice["invoice_number"], "sent_to": email, "total": invoice["total"],
                "currency": invoice["currency"]}


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise ApiError(422, "invalid", "email must be the email address of the customer's account")
    return value.lower()


def _public_order(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("order_number", "status", "placed_on", "items", "total", "currency")
    return deepcopy({k: order[k] for k in keys})


def _public_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    return deepcopy({k: v for k, v in sub.items() if v is not None})


Route = tuple[str, re.Pattern[str], Callable[[Shop, re.Match[str], dict[str, str], dict[str, Any]], dict[str, Any]]]
ROUTES: list[Route] = [
    ("GET", re.compile(r"/v1/orders"), lambda s, m, q, b: s.list_orders(q)),
    ("GET", re.compile(r"/v1/orders/(?P<n>[^/]+)"), lambda s, m, q, b: s.get_order(m["n"])),
    ("GET", re.compile(r"/v1/orders/(?P<n>[^/]+)/tracking"), lambda s, m, q, b: s.track_order(m["n"])),
    ("GET", re.compile(r"/v1/subscription"), lambda s, m, q, b: s.get_subscription(q)),
    ("POST", re.compile(r"/v1/subscription/skip"), lambda s, m, q, b: s.skip(b)),
    ("POST", re.compile(r"/v1/subscription/pause"), lambda s, m, q, b: s.pause(b)),
    ("POST", re.compile(r"/v1/subscription/resume"), lambda s, m, q, b: s.resume(b)),
    ("POST", re.compile(r"/v1/subscription/cancel"), lambda s, m, q, b: s.cancel(b)),
    ("PUT", re.compile(r"/v1/subscription/address"), lambda s, m, q, b: s.update_address(b)),
    ("GET", re.compile(r"/v1/gift-cards/(?P<c>[^/]+)"), lambda s, m, q, b: s.gift_card(m["c"])),
    ("POST", re.compile(r"/v1/invoices/(?P<n>[^/]+)/resend"), lambda s, m, q, b: s.resend_invoice(m["n"], b)),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            body = self._body()
            if self.headers.get("X-Brewly-Key") != self.server.key:
                raise ApiError(401, "unauthorized", "missing or wrong X-Brewly-Key")
            known = [(r, m) for r in ROUTES if (m := r[1].fullmatch(url.path.rstrip("/")))]
            if not known:
                raise ApiError(404, "not_found", f"no such endpoint {url.path}")
            route = next(((r, m) for r, m in known if r[0] == method), None)
            if route is None:
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {url.path}")
            (_, _, call), match = route
            self._send(200, call(self.server.shop, match, query, body))
        except ApiError as exc:
            self._send(exc.status, {"error": exc.code, "message": exc.message})
        self.server.count(method, url.path)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(400, "bad_request", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        return data

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sample api: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, shop: Shop, key: str) -> None:
        super().__init__(address, _Handler)
        self.shop, self.key = shop, key
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))


class BrewlyApi:
    """The sample API on ``host:port`` (port 0: a free one), in a background thread or the foreground.

    Args:
        host: the address to bind (loopback by default; the data is sample data, not a real shop).
        port: the port; ``DEFAULT_PORT`` is the one the spec's ``servers`` names.
        key: the API key requests must send in ``X-Brewly-Key``.

    Raises:
        OSError: the port is taken (``start``/``serve``).
    """

    def __init__(self, *, host: str = HOST, port: int = 0, key: str = SAMPLE_KEY, today: date | None = None) -> None:
        self.shop = Shop(today)
        self._server = _Server((host, port), shop=self.shop, key=key)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The API's base URL (what the spec's actions are imported with)."""
        return f"{self.url}/v1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request answered so far."""
        return list(self._server.requests)

    def start(self) -> BrewlyApi:
        self._thread = threading.Thread(target=self._server.serve_forever, name="brewly-sample-api", daemon=True)
        self._thread.start()
        log.info("Brewly sample API on %s", self.base_url)
        return self

    def serve(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> BrewlyApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spec_text() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")
