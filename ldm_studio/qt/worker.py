"""The engine thread's side: one `EngineWorker` living in the app's one engine QThread.

It receives jobs and model loads through queued slot calls, runs them on the Qt-free
`Engine`, and reports through signals. It never waits for the GUI: progress is a small
queued signal, and previews go through a latest-only mailbox.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from ldm_studio.core.batch import BatchProgress, BatchRun, read_spec
from ldm_studio.core.engine import Engine
from ldm_studio.core.errors import Cancelled, LdmStudioError
from ldm_studio.core.previews import (
    ChannelPreview,
    PreviewPolicy,
    ProjectionFit,
    cached_linear_preview,
    decode_preview,
    keep_fitted,
)
from ldm_studio.core.requests import GenerationRequest
from ldm_studio.core.sampling import StepEvent
from ldm_studio.qt.images import grid_qimage
from ldm_studio.qt.jobs import BatchJob, Job
from ldm_studio.qt.mailbox import PreviewItem, PreviewMailbox
from ldm_studio.qt.oom import explain_out_of_memory, free_device_memory, is_out_of_memory, single_image_requests
from ldm_studio.qt.results import save_results

log = logging.getLogger(__name__)


class StepClock:
    """Steps per second and ETA of the sampling alone (queue wait and model load excluded).

    The first step also pays for encoding the condition, so once two steps are done the
    rate is measured from the end of the first one.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()
        self.first_done: float | None = None

    def tick(self, done: int) -> tuple[float, float]:
        """(eta seconds, steps per second) after `done` steps."""
        now = time.perf_counter()
        if self.first_done is None:
            self.first_done = now
        if done >= 2:
            per_step = (now - self.first_done) / (done - 1)
        else:
            per_step = now - self.start
        per_step = max(per_step, 1e-6)
        return per_step * max(self.total - done, 0), 1.0 / per_step


class EngineWorker(QObject):
    """Runs model loads and jobs, one at a time, in the engine thread."""

    model_loaded = Signal(object)  # ModelInfo
    model_failed = Signal(str)
    job_started = Signal(int)
    job_progress = Signal(int, int, int, float, float)  # job, done, total, eta seconds, steps/s
    preview_ready = Signal()  # take the latest from the mailbox
    job_finished = Signal(int, list, object)  # job, files (str), QImage grid of the full decode
    job_failed = Signal(int, str)
    job_cancelled = Signal(int)
    batch_planned = Signal(int, int, list)  # job, images planned, bad rows ("row N: problem")
    batch_progress = Signal(int, object)  # job, BatchProgress (emitted from the batch's writer thread)
    batch_finished = Signal(int, object)  # job, BatchReport (also when cancelled part-way)
    projection_fitted = Signal()  # the cheap preview's projection is fitted (previews were false-colour)
    _fit_more = Signal()  # queued to itself: the next piece of the fit runs after the jobs already sent

    def __init__(self, engine: Engine, mailbox: PreviewMailbox) -> None:
        super().__init__()
        self.engine = engine
        self.mailbox = mailbox
        self._projection = None
        self._fit: ProjectionFit | None = None
        self._fit_queued = False  # one piece in the queue at a time, however often a model is opened
        self._fit_more.connect(self._fit_next, Qt.ConnectionType.QueuedConnection)

    @Slot()
    def prepare_thread(self) -> None:
        """Per-thread torch settings (denormal flushing, thread count) for the engine thread."""
        self.engine.prepare_thread()

    @Slot(str)
    def load_model(self, path: str) -> None:
        self._fit = None  # a fit in progress belongs to the model being replaced
        try:
            model = self.engine.load(Path(path))
            # The cheap preview's projection, when cached; otherwise it is fitted piece by piece
            # after `model_loaded`, between jobs, and previews are false-colour until then.
            self._projection = cached_linear_preview(model)
        except LdmStudioError as exc:
            self.model_failed.emit(str(exc))
            return
        except Exception as exc:  # a bug or a broken file: keep the app alive, say what happened
            log.exception("loading %s failed", path)
            self.model_failed.emit(f"{path}: {type(exc).__name__}: {exc}")
            return
        self.model_loaded.emit(model.info)
        if self._projection is None:
            self._projection = ChannelPreview()
            self._fit = ProjectionFit(model)
            self._queue_fit()

    def _queue_fit(self) -> None:
        if not self._fit_queued:
            self._fit_queued = True
            self._fit_more.emit()

    @Slot()
    def _fit_next(self) -> None:
        """One piece of the projection fit; queues the next behind whatever was sent meanwhile."""
        self._fit_queued = False
        fit = self._fit
        if fit is None or fit.model is not self.engine.model:
            return
        started = time.perf_counter()
        try:
            if not fit.step():
                self._queue_fit()
                return
            projection = keep_fitted(fit.model, fit.result())
        except Exception:  # the false-colour preview stays; sampling is unaffected
            log.exception("fitting the preview projection of %s failed", fit.model.info.path)
            self._fit = None
            return
        self._fit = None
        self._projection = projection
        seconds = time.perf_counter() - started
        log.info("preview projection fitted for %s (last piece %.2f s)", fit.model.info.path, seconds)
        self.projection_fitted.emit()

    def _start(self, job: Job | BatchJob) -> bool:
        """Report the job cancelled (before it began) or impossible (no model), or started."""
        if job.cancel.is_set():
            self.job_cancelled.emit(job.id)
            return False
        if self.engine.model is None:
            self.job_failed.emit(job.id, "No model is loaded: open a model folder first (Ctrl+O).")
            return False
        self.job_started.emit(job.id)
        return True

    @Slot(object)
    def run_job(self, job: Job) -> None:
        if not self._start(job):
            return
        model = self.engine.model
        try:
            images = self._generate(job)
            files = save_results(images, job.request, model.info, self.engine.choice.label, job.id)
        except Cancelled:
            self.job_cancelled.emit(job.id)
            return
        except LdmStudioError as exc:
            self.job_failed.emit(job.id, str(exc))
            return
        except Exception as exc:
            log.exception("job %d failed", job.id)
            self.job_failed.emit(job.id, f"{type(exc).__name__}: {exc}")
            return
        self.job_finished.emit(job.id, [str(p) for p in files], grid_qimage(images))

    @Slot(object)
    def run_batch(self, job: BatchJob) -> None:
        """Run a batch spec here, on the engine thread, so the one loaded model is never shared across threads."""
        if not self._start(job):
            return

        def on_progress(progress: BatchProgress) -> None:
            self.batch_progress.emit(job.id, progress)  # a queued signal: the writer thread never waits

        try:
            spec = read_spec(job.spec)
            out, seed = Path(job.out_dir), job.base_seed
            run = BatchRun(self.engine, spec, out, base_seed=seed, on_progress=on_progress, cancel=job.cancel)
            self.batch_planned.emit(job.id, len(run.jobs), [str(bad) for bad in run.bad_rows])
            report = run.run()
        except LdmStudioError as exc:
            self.job_failed.emit(job.id, str(exc))
            return
        except Exception as exc:
            log.exception("batch %d failed", job.id)
            self.job_failed.emit(job.id, f"{type(exc).__name__}: {exc}")
            return
        self.batch_finished.emit(job.id, report)

    def _generate(self, job: Job) -> np.ndarray:
        """The job's images; on out-of-memory, once more one image at a time, then explain."""
        request = job.request
        try:
            return self._sample(job, request, 0, 1, StepClock(request.settings.steps))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            free_device_memory()
            device = self.engine.choice.label
            if request.settings.batch_size == 1:
                raise LdmStudioError(explain_out_of_memory(request, device, split=False)) from exc
        parts = single_image_requests(request)
        clock = StepClock(request.settings.steps * len(parts))
        try:
            images = [self._sample(job, part, i, len(parts), clock) for i, part in enumerate(parts)]
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            free_device_memory()
            raise LdmStudioError(explain_out_of_memory(request, device, split=True)) from exc
        return np.concatenate(images)

    def _sample(self, job: Job, request: GenerationRequest, part: int, parts: int, clock: StepClock) -> np.ndarray:
        """Sample `request` (part `part` of `parts` of the job); progress counts the loop's real steps."""
        policy = PreviewPolicy("cheap", projection=self._projection)

        def on_step(event: StepEvent) -> None:
            # Heun and PLMS take more scheduler steps than `steps`: the loop's own count is the truth
            total = clock.total = event.total * parts
            done = part * event.total + event.index + 1
            eta, rate = clock.tick(done)
            self.job_progress.emit(job.id, done, total, eta, rate)
            image, decoded = event.preview, False
            if job.full_preview.is_set() and not event.is_last:
                job.full_preview.clear()
                image, decoded = decode_preview(self.engine.model, event.x0), True  # the exact picture now
            if image is not None and not event.is_last:
                item = PreviewItem(job.id, done, total, grid_qimage(image), decoded)
                if self.mailbox.put(item):
                    self.preview_ready.emit()

        result = self.engine.generate(request, cancel=job.cancel, preview=policy, on_step=on_step)
        return result.images
