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
from ldm_studio.core.batch.workers import ProcessBackend, worker_devices
from ldm_studio.core.errors import Cancelled, LdmStudioError
from ldm_studio.core.generation.approx_decoder import policy_for, preview_source
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.memory import sample_with_retry
from ldm_studio.core.generation.previews import (
    ChannelPreview,
    ProjectionFit,
    cached_linear_preview,
    decode_preview,
    keep_fitted,
)
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.sampling import StepEvent
from ldm_studio.core.generation.taesd import TaesdPreview, safe_taesd_preview_for
from ldm_studio.core.generation.trajectory import (
    Trajectory,
    TrajectoryStore,
    branch_recipe,
    branch_resume,
    image_sha256,
)
from ldm_studio.core.models.model_hash import model_hash
from ldm_studio.qt.images import grid_qimage
from ldm_studio.qt.jobs import BatchJob, Job
from ldm_studio.qt.mailbox import PreviewMailbox
from ldm_studio.qt.reports import JobProgress, make_frame
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
    job_progress = Signal(object)  # JobProgress
    preview_ready = Signal()  # take the latest Frame from the mailbox
    job_finished = Signal(int, list, object)  # job, files (str), the final Frame (the full decode)
    job_failed = Signal(int, str)
    job_cancelled = Signal(int)
    batch_planned = Signal(int, int, list)  # job, images planned, bad rows ("row N: problem")
    batch_progress = Signal(int, object)  # job, BatchProgress (emitted from the batch's writer thread)
    batch_finished = Signal(int, object)  # job, BatchReport (also when cancelled part-way)
    step_decoded = Signal(int, int, object)  # job, kept step, QImage grid of its x0 fully decoded
    step_decode_failed = Signal(int, int, str)  # job, kept step, why
    projection_fitted = Signal()  # the cheap preview's projection is fitted (previews were false-colour)
    _fit_more = Signal()  # queued to itself: the next piece of the fit runs after the jobs already sent

    def __init__(self, engine: Engine, mailbox: PreviewMailbox, trajectories: TrajectoryStore | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.mailbox = mailbox
        self.trajectories = trajectories if trajectories is not None else TrajectoryStore()
        self._projection = None
        self._tiny: TaesdPreview | None = None  # the loaded model's installed TAESD (generation.taesd)
        self._fit: ProjectionFit | None = None
        self._fit_queued = False  # one piece in the queue at a time, however often a model is opened
        self._fit_more.connect(self._fit_next, Qt.ConnectionType.QueuedConnection)
        # set from the GUI thread (a str swap), read at each job's start: see core.approx_decoder.PREVIEW_MODES
        self.preview_mode = "approx"
        self.preview_source = "linear projection"  # what "approx" shows for the loaded model
        self._steps_done: dict[int, int] = {}  # job → the loop's real step count (engine thread only)

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
            self._tiny = safe_taesd_preview_for(model)  # an installed TAESD of the model's family
            # what the chosen mode shows for this model (reads the approximate decoder if one is cached)
            self.preview_source = preview_source(model, self._tiny, self.preview_mode)
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
            device = self.engine.choice.label
            extra = None
            if job.branch is not None:  # the recipe names the parent, the step and what changed
                digest = model_hash(model.info.path)
                extra = {"branch": branch_recipe(job.branch, job.request, model.info, model_hash=digest, device=device)}
            files = save_results(images, job.request, model.info, device, job.id, extra_recipe=extra)
            steps = self._steps_done.get(job.id, job.request.settings.steps)
            final = make_frame(job.id, images, (images.shape[2], images.shape[1]), steps, steps, "final")
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
        finally:
            self._steps_done.pop(job.id, None)
        self.job_finished.emit(job.id, [str(p) for p in files], final)

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
            backend = None
            if job.workers > 1 and self.engine.model is not None:
                backend = ProcessBackend(
                    self.engine.model.info,
                    worker_devices(job.workers, str(self.engine.choice.device)),
                    self.engine.choice.label.split("(")[-1].rstrip(")"),  # "cpu (fp32)" -> "fp32"
                )
            run = BatchRun(
                self.engine, spec, out, base_seed=seed, on_progress=on_progress, cancel=job.cancel, backend=backend
            )
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

    @Slot(int, int)
    def decode_step(self, job_id: int, step: int) -> None:
        """Fully decode a kept step's x0 (Ctrl+D on a scrubbed step), here where the model lives."""
        trajectory = self.trajectories.get(job_id)
        try:
            kept = trajectory.step(step) if trajectory is not None else None
            if kept is None or kept.x0 is None:
                raise LdmStudioError(f"step {step + 1} of job {job_id} is no longer kept (timeline memory budget)")
            if self.engine.model is None:
                raise LdmStudioError("no model is loaded")
            image = grid_qimage(decode_preview(self.engine.model, kept.x0.to(self.engine.model.device)))
        except Exception as exc:  # a person asked for a picture: say why there is none
            self.step_decode_failed.emit(job_id, step, str(exc))
            return
        self.step_decoded.emit(job_id, step, image)

    def _generate(self, job: Job) -> np.ndarray:
        """The job's images, its steps kept, with the core's out-of-memory policy (image by image, then explain)."""
        request = job.request
        trajectory = self.trajectories.start(job.id, request, job.branch)
        resume = None
        if job.branch is not None:
            parent = self.trajectories.get(job.parent_job) if job.parent_job is not None else None
            resume = branch_resume(self.engine.model, job.branch, request, parent, job.cancel)
            if parent is not None:
                trajectory.start_from(parent, job.branch.step, job.branch.image)
        clocks: list[StepClock] = []

        def sample(part_request: GenerationRequest, part: int, parts: int) -> np.ndarray:
            if part == 0:  # a fresh clock for the first try and for the image-by-image retry
                clocks.append(StepClock(request.settings.steps * parts))
            if parts == 1:
                images = self._sample(job, part_request, 0, 1, clocks[-1], trajectory, resume)
                trajectory.image_sha256 = [image_sha256(image) for image in images]
                return images
            self.trajectories.discard(job.id)  # split into single images: no one timeline to keep
            return self._sample(job, part_request, part, parts, clocks[-1])

        return sample_with_retry(request, self.engine.choice.label, sample)

    def _sample(
        self,
        job: Job,
        request: GenerationRequest,
        part: int,
        parts: int,
        clock: StepClock,
        trajectory: Trajectory | None = None,
        resume=None,
    ) -> np.ndarray:
        """Sample `request` (part `part` of `parts` of the job); progress counts the loop's real steps."""
        policy = policy_for(self.preview_mode, self._projection, self._tiny)

        def on_step(event: StepEvent) -> None:
            if trajectory is not None:
                trajectory.record(event)
            # Heun and PLMS take more scheduler steps than `steps`: the loop's own count is the truth
            total = clock.total = event.total * parts
            done = part * event.total + event.index + 1
            eta, rate = clock.tick(done)
            self._steps_done[job.id] = total
            s = job.request.settings
            self.job_progress.emit(JobProgress(job.id, done, total, s.steps, s.batch_size, eta, rate))
            image, kind = event.preview, "preview"
            if job.full_preview.is_set() and not event.is_last:
                job.full_preview.clear()
                image, kind = decode_preview(self.engine.model, event.x0), "decoded"  # the exact picture now
            if image is not None and not event.is_last:
                cell = (request.settings.width, request.settings.height)
                if self.mailbox.put(make_frame(job.id, image, cell, done, total, kind)):
                    self.preview_ready.emit()

        result = self.engine.generate(request, cancel=job.cancel, preview=policy, on_step=on_step, resume=resume)
        return result.images
