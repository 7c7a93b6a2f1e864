"""`ldm-studio gui --smoke-test`: open the window, make one image, exit 0 (packaging/build_bundle.py relies on it).

Exits non-zero when no model is available, the model fails to load, the job fails, or the
timeout passes, printing why, so a broken bundle is caught without a person watching it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot

from ldm_studio.core.families.registry import get_family
from ldm_studio.core.generation.condition_types import TextCondition
from ldm_studio.core.models.model_folder import ModelInfo

SMOKE_STEPS = 10


class SmokeTest(QObject):
    """Drives a `MainWindow`: waits for its model, generates once, then quits the app with a status."""

    def __init__(self, window, timeout_s: float = 300.0, quit: Callable[[int], None] | None = None) -> None:
        """`quit(code)` ends the event loop (run_app passes `app.exit`; a test passes nothing)."""
        super().__init__(window)
        self.window = window
        self.quit = quit
        self.code: int | None = None
        self.job: int | None = None
        c = window.controller
        c.model_loaded.connect(self._on_loaded)
        c.model_failed.connect(self._on_model_failed)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._on_timeout)
        self.timer.start(int(timeout_s * 1000))
        if c.model_info is not None:
            QTimer.singleShot(0, lambda: self._on_loaded(c.model_info))
        elif not c.loading:
            QTimer.singleShot(0, lambda: self._end(3, "no model to test: give --model DIR (no demo model installed)"))

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        if self.job is not None or self.code is not None:
            return
        sampler = self.window.sampler
        sampler.steps.setValue(min(info.defaults.steps, SMOKE_STEPS))
        sampler.batch.setValue(1)
        spec = get_family(info.family)  # a family built from a prompt alone needs one to make a picture
        prompt = self.window.conditioning.text.prompt
        if spec is not None and spec.builder is TextCondition and not prompt.toPlainText().strip():
            prompt.setPlainText("a beach under a clear sky")
        self.job = self.window.generate()
        if self.job is None:
            self._end(1, f"could not start a job: {self.window.last_error}")

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self._end(1, f"the model did not load: {message}")

    @Slot(int, list)
    def _on_finished(self, job: int, files: list) -> None:
        if job == self.job:
            self._end(0, f"ok: {files[0] if files else 'no file'}")

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        if job == self.job:
            self._end(1, f"the job failed: {message}")

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        if job == self.job:
            self._end(1, "the job was cancelled")

    @Slot()
    def _on_timeout(self) -> None:
        self._end(2, "timed out")

    def _end(self, code: int, message: str) -> None:
        if self.code is not None:
            return
        self.code = code
        self.timer.stop()
        print(f"smoke test: {message}", file=sys.stdout if code == 0 else sys.stderr, flush=True)
        self.window.close()
        if self.quit is not None:
            self.quit(code)
