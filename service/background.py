"""Periodic background work of the API process (embedded mode has no scheduler of its own)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.errors import KnowdeskError

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``job`` every ``seconds`` in a daemon thread until ``stop()``.

    A job's ``KnowdeskError`` is logged and the loop goes on (the next tick retries); anything
    else is a bug and ends the loop loudly in the log.
    """

    def __init__(self, name: str, seconds: float, job: Callable[[], object]) -> None:
        self._name, self._seconds, self._job = name, seconds, job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._job()
            except KnowdeskError as exc:
                log.warning("%s: %s (retrying in %.0fs)", self._name, exc.message, self._seconds)
            except Exception:
                log.exception("%s stopped", self._name)
                raise
