"""A small Chrome DevTools Protocol client over websockets for the portal's browser test.

Starts Debian's ``chromium`` headless and drives one page: navigate, type, press keys, click,
evaluate JavaScript, emulate a phone screen and take screenshots.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--remote-debugging-port=0", "about:blank"]
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_path() -> str | None:
    return shutil.which("chromium")


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, profile: Path, timeout: float = 120.0) -> None:
        self.timeout = timeout
        binary = chromium_path()
        assert binary is not None
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        url = self._devtools_url()
        self.ws: ClientConnection = connect(url, max_size=64 * 1024 * 1024, open_timeout=30)
        self._next = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")

    def _devtools_url(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            m = _LISTENING.search(line)
            if m:
                return m.group(1)
        raise RuntimeError("chromium did not start: " + "".join(seen[-20:]))

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()

    # -- protocol -----------------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            data = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if data.get("id") == self._next:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result", {}))
            if "method" in data:
                self._events.append(data)

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, self.session)

    def wait_event(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == name:
                    return self._events.pop(i)
            data = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in data:
                self._events.append(data)

    # -- actions ------------------------------------------------------------------------------------
    def _loads(self, action: Any) -> None:
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        action()
        self.wait_event("Page.loadEventFired")

    def goto(self, url: str) -> None:
        self._loads(lambda: self.page("Page.navigate", {"url": url}))

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self, selector: str) -> str:
        """The stripped text of the first element ``selector`` matches ("" when none does)."""
        return str(self.js(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")).strip()

    def value(self, selector: str) -> str:
        """The current value of the form field ``selector`` matches."""
        return str(self.js(f"document.querySelector({json.dumps(selector)}).value"))

    def type_and_enter(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.page("Input.insertText", {"text": text})
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
        self._loads(lambda: (self.page("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **enter}),
                             self.page("Input.dispatchKeyEvent", {"type": "keyUp", **enter})))

    def fill(self, selector: str, text: str) -> None:
        """Type ``text`` into a field as a person would, replacing what it held."""
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select(); }})()")
        self.page("Input.insertText", {"text": text})

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view first)."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                      " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        x, y = box
        self._loads(lambda: [self.page("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y, "button": "left",
                                                                    "clickCount": 1})
                             for t in ("mouseMoved", "mousePressed", "mouseReleased")])

    def phone(self, width: int = 390, height: int = 844) -> None:
        self.page("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 2,
                                                         "mobile": True})

    def screenshot(self, path: Path) -> None:
        data = self.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
