"""Live mode: the picture follows the painting.

Each change restarts a short single-shot timer; when it fires, a running live job is stale
(its map is out of date), so it is cancelled and one new job is submitted. Rapid strokes
thus cost one job per pause, not one per stroke.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot

from ldm_studio.qt.controller import EngineController

DEBOUNCE_MS = 300


class LiveGenerator(QObject):
    """Debounce map changes into generations through the window's own generate path."""

    def __init__(
        self, controller: EngineController, generate: Callable[[], int | None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.generate = generate
        self.enabled = False
        self.job: int | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self._fire)
        for signal in (controller.finished, controller.failed, controller.cancelled):
            signal.connect(self._job_over)

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        if not self.enabled:
            self.timer.stop()

    @Slot()
    def map_changed(self) -> None:
        if self.enabled:
            self.timer.start()  # restarts: only the last change of a burst generates

    @Slot()
    def _fire(self) -> None:
        stale = self.job
        if stale is not None and (stale == self.controller.current_job or stale in self.controller.queued_jobs):
            self.controller.cancel(stale)
        self.job = self.generate()

    def _job_over(self, job: int, *_: object) -> None:
        if job == self.job:
            self.job = None
