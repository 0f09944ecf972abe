"""A dependency-free progress bar for long solves (stderr, redrawn at most ~10 times a second)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "solve") as bar: bar.update(k)``; silent when ``enabled`` is False."""

    def __init__(self, total: int, label: str = "solve", enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = max(1, int(total)), label, enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self._last = 0.0
        self._start = time.perf_counter()

    def update(self, k: int = 1):
        self.done += k
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now):
        frac = min(1.0, self.done / self.total)
        width = 30
        filled = int(width * frac)
        rate = self.done / max(now - self._start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{self.done}/{self.total} {rate:,.0f} it/s eta {eta:5.1f}s")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
        return False
