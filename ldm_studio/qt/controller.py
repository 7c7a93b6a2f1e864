"""The GUI thread's side of the engine: a job queue, typed signals, one engine thread for life.

DESIGN.md's threading rules, as applied here:

- one `QThread` for the life of the app with one `EngineWorker` moved into it (a thread
  per job crashed on PySide6 6.12);
- jobs and loads enter the worker through queued signals to its slots; a job's cancel flag
  is a `threading.Event` the sampling loop checks every step;
- worker signals connect only to `@Slot` methods of this controller (a lambda would run in
  the worker thread);
- every job has an id, and previews of a job that is no longer current are dropped;
- previews are coalesced to at most one per screen refresh; the worker never waits;
- shutdown sets cancel, quits the thread and waits for it.

The controller keeps the queue itself and hands the worker one job at a time, so a queued
job can be cancelled without ever reaching the engine thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QDeadlineTimer, QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage

from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.trajectory import BranchOrigin, TrajectoryStore
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.qt.jobs import BatchJob, Job
from ldm_studio.qt.mailbox import PreviewMailbox
from ldm_studio.qt.reports import Frame, JobProgress
from ldm_studio.qt.worker import EngineWorker

log = logging.getLogger(__name__)


def screen_interval_ms() -> int:
    """Milliseconds between screen refreshes (16 at 60 Hz); no screen → 60 Hz."""
    screen = QGuiApplication.primaryScreen() if QGuiApplication.instance() else None
    rate = screen.refreshRate() if screen is not None else 60.0
    return max(4, round(1000 / rate)) if rate and rate > 1 else 16


class EngineController(QObject):
    """Submit, cancel and queue generation jobs, (re)load the model, shut the engine down."""

    queued = Signal(int)  # job
    started = Signal(int)  # job (sampling began: queue wait ends here)
    progress = Signal(object)  # JobProgress: steps done of the loop's real total, speed, ETA
    preview = Signal(object)  # Frame: a batch grid with its layout, cheap previews, then the full decode (final)
    finished = Signal(int, list)  # job, written files (str), already on disk
    failed = Signal(int, str)  # job, a message for a person
    cancelled = Signal(int)  # job
    model_loading = Signal(str)  # folder
    model_loaded = Signal(object)  # ModelInfo
    model_failed = Signal(str)  # message
    idle = Signal()  # nothing running and nothing queued
    batch_planned = Signal(int, int, list)  # job, images planned, bad rows
    batch_progress = Signal(int, object)  # job, BatchProgress (done/total, images/s, ETA)
    batch_finished = Signal(int, object)  # job, BatchReport (report.cancelled when stopped part-way)
    step_decoded = Signal(int, int, QImage)  # job, kept step, its prediction fully decoded (a batch grid)
    step_decode_failed = Signal(int, int, str)  # job, kept step, why

    _send_job = Signal(object)
    _send_decode = Signal(int, int)
    _send_load = Signal(str)
    _send_batch = Signal(object)

    def __init__(self, engine: Engine | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine or Engine()
        self.model_info: ModelInfo | None = None
        self._next_id = 1
        self._queue: deque[Job | BatchJob] = deque()
        self._current: Job | BatchJob | None = None
        self._loading = 0
        self._shut_down = False

        self._mailbox = PreviewMailbox()
        # every job's kept steps (written by the engine thread, read here to scrub a timeline)
        self.trajectories = TrajectoryStore()
        self._pending_preview: Frame | None = None
        self._last_preview_at = 0.0
        self._preview_interval = screen_interval_ms()
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.timeout.connect(self._flush_preview)

        self._thread = QThread(self)
        self._thread.setObjectName("ldm-engine")
        self._worker = EngineWorker(self.engine, self._mailbox, self.trajectories)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.prepare_thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._send_job.connect(self._worker.run_job)
        self._send_load.connect(self._worker.load_model)
        self._send_batch.connect(self._worker.run_batch)
        self._send_decode.connect(self._worker.decode_step)
        self._worker.step_decoded.connect(self._on_step_decoded)
        self._worker.step_decode_failed.connect(self._on_step_decode_failed)
        self._worker.model_loaded.connect(self._on_model_loaded)
        self._worker.model_failed.connect(self._on_model_failed)
        self._worker.job_started.connect(self._on_started)
        self._worker.job_progress.connect(self._on_progress)
        self._worker.preview_ready.connect(self._on_preview_ready)
        self._worker.job_finished.connect(self._on_finished)
        self._worker.job_failed.connect(self._on_failed)
        self._worker.job_cancelled.connect(self._on_cancelled)
        self._worker.batch_planned.connect(self._on_batch_planned)
        # emitted from the batch's writer thread: queue explicitly, never run a slot there
        self._worker.batch_progress.connect(self._on_batch_progress, Qt.ConnectionType.QueuedConnection)
        self._worker.batch_finished.connect(self._on_batch_finished)
        self._thread.start()

    # --- public API ------------------------------------------------------------------------

    @property
    def device_label(self) -> str:
        return self.engine.choice.label

    @property
    def current_job(self) -> int | None:
        return self._current.id if self._current else None

    @property
    def queued_jobs(self) -> list[int]:
        return [job.id for job in self._queue]

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    @property
    def loading(self) -> bool:
        return self._loading > 0

    @property
    def is_running(self) -> bool:
        """Whether the engine thread is alive (false after shutdown)."""
        return self._thread.isRunning()

    def submit(
        self, request: GenerationRequest, branch: BranchOrigin | None = None, parent_job: int | None = None
    ) -> int:
        """Queue a request; returns its job id. It runs after the jobs queued before it.

        With `branch` it continues a parent image from a kept step (from `parent_job`'s trajectory
        while that is kept, else by re-running the parent to the step)."""
        if self._shut_down:
            raise RuntimeError("the engine has been shut down")
        job = Job(self._next_id, request, branch=branch, parent_job=parent_job)
        self._next_id += 1
        self._queue.append(job)
        self.queued.emit(job.id)
        self._dispatch()
        return job.id

    def submit_batch(
        self, spec: str | Path, out_dir: str | Path, base_seed: int | None = None, workers: int = 1
    ) -> int:
        """Queue a batch run (spec file into a folder) on the engine thread; returns its job id.

        It waits its turn like any job, is cancelled the same way, and answers batch_planned,
        batch_progress, then batch_finished (or failed / cancelled).
        """
        if self._shut_down:
            raise RuntimeError("the engine has been shut down")
        job = BatchJob(self._next_id, str(spec), str(out_dir), base_seed, workers)
        self._next_id += 1
        self._queue.append(job)
        self.queued.emit(job.id)
        self._dispatch()
        return job.id

    def is_batch(self, job_id: int | None) -> bool:
        """Whether `job_id` is the running or a queued batch job."""
        jobs = [self._current, *self._queue] if self._current else list(self._queue)
        return any(isinstance(job, BatchJob) and job.id == job_id for job in jobs)

    def cancel(self, job_id: int | None = None) -> bool:
        """Cancel a job (default: the running one). False if it is unknown or already over."""
        if job_id is None or (self._current and self._current.id == job_id):
            if self._current is None or self._current.cancel.is_set():
                return False
            self._current.cancel.set()  # the loop stops before its next step
            self._drop_previews()
            return True
        for job in self._queue:
            if job.id == job_id:
                self._queue.remove(job)
                job.cancel.set()
                self.cancelled.emit(job.id)
                self._maybe_idle()
                return True
        return False

    @property
    def preview_mode(self) -> str:
        return self._worker.preview_mode

    def set_preview_mode(self, mode: str) -> None:
        """Which live preview the next jobs render (a key of core.approx_decoder.PREVIEW_MODES)."""
        self._worker.preview_mode = mode

    @property
    def preview_source(self) -> str:
        """The cheap preview the loaded model has: "approximate decoder" or "linear projection"."""
        return self._worker.preview_source

    def request_full_preview(self) -> bool:
        """Ask the running job for a full decode of its current prediction (the cheap preview is
        only a projection). False when no generation is running."""
        if not isinstance(self._current, Job) or self._current.cancel.is_set():
            return False
        self._current.full_preview.set()
        return True

    def decode_step(self, job_id: int, step: int) -> None:
        """Decode a kept step of a job fully, in the engine thread (after the running job); answers
        step_decoded or step_decode_failed."""
        if not self._shut_down:
            self._send_decode.emit(job_id, step)

    def cancel_all(self) -> None:
        """Empty the queue and cancel the running job."""
        for job in list(self._queue):
            self.cancel(job.id)
        self.cancel()

    def load_model(self, path: str | Path) -> None:
        """Load a model folder in the engine thread (after the running job); answers model_loaded/failed."""
        if self._shut_down:
            return
        self._loading += 1
        self.model_loading.emit(str(path))
        self._send_load.emit(str(path))

    def shutdown(self, timeout_s: float = 2.0) -> bool:
        """Cancel everything, stop the engine thread and wait for it; True if it stopped in time."""
        if self._shut_down:
            return not self._thread.isRunning()
        self._shut_down = True
        self._preview_timer.stop()
        for job in self._queue:
            job.cancel.set()
        self._queue.clear()
        if self._current is not None:
            self._current.cancel.set()
        self._thread.quit()
        stopped = self._thread.wait(QDeadlineTimer(int(timeout_s * 1000)))
        if not stopped:
            log.warning("the engine thread did not stop within %.1f s; waiting for its current step", timeout_s)
            stopped = self._thread.wait()
        return stopped

    # --- queue -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._current is None and self._queue and not self._shut_down:
            self._current = self._queue.popleft()
            if isinstance(self._current, BatchJob):
                self._send_batch.emit(self._current)
            else:
                self._send_job.emit(self._current)

    def _end_current(self, job_id: int) -> bool:
        """Clear the running job if it is `job_id`; False for a report about another job."""
        if self._current is None or self._current.id != job_id:
            return False
        self._current = None
        self._drop_previews()
        return True

    def _maybe_idle(self) -> None:
        if not self.busy:
            self.idle.emit()

    def _drop_previews(self) -> None:
        self._pending_preview = None
        self._preview_timer.stop()
        self._mailbox.take()

    # --- worker reports (GUI thread) -------------------------------------------------------

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._loading = max(0, self._loading - 1)
        self.model_info = info
        self.model_loaded.emit(info)

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self._loading = max(0, self._loading - 1)
        self.model_failed.emit(message)

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        if self._current and self._current.id == job_id:
            self.started.emit(job_id)

    @Slot(object)
    def _on_progress(self, progress: JobProgress) -> None:
        if self._current and self._current.id == progress.job and not self._current.cancel.is_set():
            self.progress.emit(progress)

    @Slot()
    def _on_preview_ready(self) -> None:
        item = self._mailbox.take()
        current = self._current
        if item is None or current is None or item.job != current.id or current.cancel.is_set():
            return  # a preview of a replaced or cancelled job
        pending = self._pending_preview
        if pending is None or item.decoded or not pending.decoded or pending.job != item.job:
            self._pending_preview = item  # an asked-for full decode is shown before later projections
        wait_ms = self._preview_interval - (time.perf_counter() - self._last_preview_at) * 1000
        if wait_ms <= 0:
            self._flush_preview()
        elif not self._preview_timer.isActive():
            self._preview_timer.start(int(wait_ms) + 1)

    @Slot()
    def _flush_preview(self) -> None:
        pending, self._pending_preview = self._pending_preview, None
        if pending is None or self._current is None or pending.job != self._current.id:
            return
        self._last_preview_at = time.perf_counter()
        self.preview.emit(pending)

    @Slot(int, list, object)
    def _on_finished(self, job_id: int, files: list, final: Frame) -> None:
        if not self._end_current(job_id):
            return
        self.preview.emit(final)  # the full decode replaces the last cheap preview
        self.finished.emit(job_id, files)
        self._dispatch()
        self._maybe_idle()

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        if not self._end_current(job_id):
            return
        self.failed.emit(job_id, message)
        self._dispatch()
        self._maybe_idle()

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        if not self._end_current(job_id):
            return
        self.cancelled.emit(job_id)
        self._dispatch()
        self._maybe_idle()

    @Slot(int, int, object)
    def _on_step_decoded(self, job_id: int, step: int, image: QImage) -> None:
        self.step_decoded.emit(job_id, step, image)

    @Slot(int, int, str)
    def _on_step_decode_failed(self, job_id: int, step: int, message: str) -> None:
        self.step_decode_failed.emit(job_id, step, message)

    @Slot(int, int, list)
    def _on_batch_planned(self, job_id: int, total: int, bad_rows: list) -> None:
        if self._current and self._current.id == job_id:
            self.batch_planned.emit(job_id, total, bad_rows)

    @Slot(int, object)
    def _on_batch_progress(self, job_id: int, progress: object) -> None:
        if self._current and self._current.id == job_id:
            self.batch_progress.emit(job_id, progress)

    @Slot(int, object)
    def _on_batch_finished(self, job_id: int, report: object) -> None:
        if not self._end_current(job_id):
            return
        self.batch_finished.emit(job_id, report)
        self._dispatch()
        self._maybe_idle()
