"""The crawler child process seen from the worker: config in, events out, never a hang.

Events are spooled to a temporary file as the child writes them, so a slow consumer (the sync
embedding pages) never blocks the crawler (whose request timers would then fire), and memory stays
flat whatever the site's size. The child is stopped when the reader stops, and silence longer than
the idle timeout is a failure.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from core.errors import SourceError

log = logging.getLogger(__name__)

_STDERR_TAIL = 40


class CrawlerProcess:
    """``python -m ingest.connectors.website.crawl`` with ``config`` on its stdin.

    Args:
        config: the crawl's JSON configuration (see ``crawl.CrawlConfig``).
        idle_timeout: seconds without a new event before the crawler is declared hung.
    """

    def __init__(self, config: dict[str, Any], *, idle_timeout: float) -> None:
        self._idle = idle_timeout
        fd, spool = tempfile.mkstemp(prefix="knowdesk-crawl-", suffix=".jsonl")
        os.close(fd)
        self._writer = open(spool, "w", encoding="utf-8")  # noqa: SIM115 - closed by the pump
        self._reader = open(spool, encoding="utf-8")  # noqa: SIM115 - closed in stop()
        os.unlink(spool)  # both handles stay valid; nothing is left behind even if this process is killed
        self._ready = threading.Semaphore(0)  # one release per spooled line, one more at the end
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._proc = subprocess.Popen(  # our own module, run by this interpreter
            [sys.executable, "-m", "ingest.connectors.website.crawl"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self._threads = [threading.Thread(target=self._pump, daemon=True, name="crawl-stdout"),
                         threading.Thread(target=self._drain_stderr, daemon=True, name="crawl-stderr")]
        for thread in self._threads:
            thread.start()
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(config))
            self._proc.stdin.close()
        except BrokenPipeError:
            log.warning("the crawler exited before reading its configuration")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def events(self) -> Iterator[dict[str, Any]]:
        """The child's events in order; ends when its output ends.

        Raises:
            SourceError: nothing new for ``idle_timeout`` seconds (the crawler is then stopped).
        """
        while True:
            if not self._ready.acquire(timeout=self._idle):
                self.stop()
                raise SourceError(f"the crawler sent nothing for {self._idle:.0f}s and was stopped: "
                                  f"{self.stderr_tail()}")
            line = self._reader.readline()
            if not line:
                return
            try:
                yield json.loads(line)
            except ValueError:
                log.warning("crawler output is not JSON: %.200s", line)

    def returncode(self) -> int | None:
        try:
            return self._proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self) -> str:
        self._threads[1].join(timeout=2.0)
        lines = [line for line in self._stderr if line.strip()]
        return " | ".join(lines[-8:]) or "(no error output)"

    def stop(self) -> None:
        """Stop the crawler if it still runs (the reader stopped early, or it hung); clean up."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for thread in self._threads:  # the process is gone: both reach end of file
            thread.join(timeout=5.0)
        self._reader.close()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        with self._writer:
            for line in self._proc.stdout:
                self._writer.write(line)
                self._writer.flush()
                self._ready.release()
        self._ready.release()
        self._proc.stdout.close()

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip())
        self._proc.stderr.close()
