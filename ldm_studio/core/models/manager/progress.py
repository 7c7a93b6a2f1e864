"""Progress and cancel for long model jobs, in a form a GUI worker thread can forward as signals.

Every job takes `progress: ProgressFn | None` and `cancel: threading.Event | None`. The callback
receives immutable `Progress` snapshots (bytes done/total, smoothed speed, ETA), throttled so a
fast network cannot flood the GUI; phase changes and the last update always go through. Setting
the Event makes the job raise `DownloadCancelled` at its next check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ldm_studio.core.errors import DownloadCancelled

PHASES = ("preparing", "downloading", "verifying", "unpacking", "converting", "installing", "done")


@dataclass(frozen=True)
class Progress:
    """One progress report. `bytes_total`, `speed` and `eta` are None while unknown."""

    phase: str
    message: str
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None  # bytes per second, smoothed
    eta: float | None = None  # seconds left
    fraction: float | None = None  # 0..1 of the current phase, when known

    def describe(self) -> str:
        """One human line, e.g. 'downloading model.ckpt  1.2 GB / 3.4 GB  12.3 MB/s  ETA 3 min'."""
        parts = [f"{self.phase}: {self.message}"] if self.message else [self.phase]
        if self.bytes_total:
            parts.append(f"{format_bytes(self.bytes_done)} / {format_bytes(self.bytes_total)}")
        elif self.bytes_done:
            parts.append(format_bytes(self.bytes_done))
        if self.speed:
            parts.append(f"{format_bytes(self.speed)}/s")
        if self.eta is not None:
            parts.append(f"ETA {format_duration(self.eta)}")
        return "  ".join(parts)


ProgressFn = Callable[[Progress], None]


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_cancel(cancel: threading.Event | None, what: str = "download") -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(what)


class ProgressTracker:
    """Turns byte counts (from any thread) into throttled `Progress` reports with speed and ETA."""

    def __init__(
        self,
        callback: ProgressFn | None,
        cancel: threading.Event | None = None,
        *,
        interval: float = 0.1,
        what: str = "download",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._cancel = cancel
        self._interval = interval
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self.phase = "preparing"
        self.message = ""
        self.bytes_done = 0
        self.bytes_total: int | None = None
        self._speed: float | None = None
        self._last_emit = -1e9
        self._window: tuple[float, int] = (clock(), 0)  # (time, bytes) at the start of the speed window

    def check(self) -> None:
        check_cancel(self._cancel, self._what)

    def start(self, phase: str, message: str = "", total: int | None = None, done: int = 0) -> None:
        """Begin a phase (always reported); byte counts and speed restart."""
        with self._lock:
            self.phase, self.message, self.bytes_total, self.bytes_done = phase, message, total, done
            self._speed = None
            self._window = (self._clock(), done)
        self.check()
        self._emit(force=True)

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self.bytes_total = total

    def add(self, n: int, message: str | None = None) -> None:
        """Count `n` more bytes (negative to roll back); raises DownloadCancelled when asked to stop."""
        self.check()
        with self._lock:
            self.bytes_done += n
            if message is not None:
                self.message = message
            now = self._clock()
            start_t, start_b = self._window
            if now - start_t >= 0.5:  # update the smoothed speed twice a second
                rate = (self.bytes_done - start_b) / (now - start_t)
                self._speed = rate if self._speed is None else 0.6 * rate + 0.4 * self._speed
                self._window = (now, self.bytes_done)
        self._emit()

    def note(self, message: str, fraction: float | None = None) -> None:
        """A message within the phase (converter steps and the like)."""
        with self._lock:
            self.message = message
        self.check()
        self._emit(force=True, fraction=fraction)

    def finish(self, message: str = "done") -> None:
        with self._lock:
            self.phase, self.message = "done", message
        self._emit(force=True, fraction=1.0)

    def snapshot(self, fraction: float | None = None) -> Progress:
        with self._lock:
            total, done, speed = self.bytes_total, self.bytes_done, self._speed
            if fraction is None and total:
                fraction = min(1.0, done / total) if total > 0 else None
            eta = (total - done) / speed if total and speed and speed > 0 and done <= total else None
            return Progress(self.phase, self.message, done, total, speed, eta, fraction)

    def _emit(self, force: bool = False, fraction: float | None = None) -> None:
        if self._callback is None:
            return
        now = self._clock()
        with self._lock:
            complete = self.bytes_total is not None and self.bytes_done >= self.bytes_total
            if not (force or complete) and now - self._last_emit < self._interval:
                return
            self._last_emit = now
        self._callback(self.snapshot(fraction))
