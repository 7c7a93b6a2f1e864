"""Run a batch into a folder, resumably, with image writing overlapped with sampling.

The folder holds:
- `batch_plan.json`: the spec's hash, the base seed and the template, written before the
  first image, so a second run expands the spec to exactly the same jobs;
- one PNG per image, written to a temp name and renamed (a half-written file never remains);
- `manifest.jsonl`: a line per finished image (file, recipe, time), appended after the rename.

Running the same command again (after a crash or `kill -9`) reads the manifest, adopts
images that were renamed but not yet listed, and makes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ldm_studio.core.batch.contact_sheet import write_contact_sheet
from ldm_studio.core.batch.spec import BadRow, BatchSpec, ImageJob, expand, plan_file_names
from ldm_studio.core.batch.workers import Backend, Done, Failed, InProcessBackend, Lost
from ldm_studio.core.errors import Cancelled, FileFormatError, LdmStudioError
from ldm_studio.core.files.outputs import remove_partial_files, write_png_atomic
from ldm_studio.core.files.recipe import build_recipe, recipe_chunks
from ldm_studio.core.files.untrusted import read_bytes_bounded, short_text
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.models.model_hash import model_hash

PLAN_FILE = "batch_plan.json"
MANIFEST_FILE = "manifest.jsonl"
SHEET_FILE = "contact_sheet.png"
MAX_MANIFEST_BYTES = 1 << 30  # a line per image with its recipe: ~2 KB, or ~64 KB with a map


@dataclass(frozen=True)
class BatchProgress:
    done: int
    total: int
    images_per_second: float
    eta_seconds: float | None
    workers: tuple[str, ...] = ()  # one state per worker ("cpu #1: row 4", "cuda:0 #0: lost (...)")


@dataclass
class BatchReport:
    total: int
    written: list[Path] = field(default_factory=list)
    already_done: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    contact_sheet: Path | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not (self.bad_rows or self.failed or self.cancelled)


class BatchRun:
    """One batch into one folder; `run()` may be called again on the same folder.

    The images are made by `engine` in this process, or by `backend` (worker processes, Ray
    actors) when one is given; this object alone writes the folder either way.
    """

    def __init__(
        self,
        engine: Engine | None,
        spec: BatchSpec,
        out_dir: Path,
        *,
        base_seed: int | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
        cancel: threading.Event | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.cancel = cancel or threading.Event()
        if backend is None:
            if engine is None:
                raise RuntimeError("a batch needs an engine or a backend")
            backend = InProcessBackend(engine, self.cancel)
        self.backend = backend
        self.engine = engine
        self.info = backend.info
        self.spec = spec
        self.out = Path(out_dir)
        self.on_progress = on_progress
        self.base_seed, new_plan = self._plan(base_seed)
        self.jobs, self.bad_rows = expand(spec, self.info, self.base_seed)
        # every name up front: a template that is unusable or gives two images one name is refused
        # here, before the folder or its plan exist
        self.names = plan_file_names(self.jobs, spec.template)
        if new_plan is not None:
            self._write_plan(new_plan)

    # --- plan and manifest ---------------------------------------------------------------------

    def _plan(self, base_seed: int | None) -> tuple[int, dict[str, Any] | None]:
        """The base seed for this folder: stored on the first run (the plan to write), reused on every later one."""
        if self.out.exists() and not self.out.is_dir():
            raise LdmStudioError(f"{self.out}: is a file, not an output folder")
        plan_path = self.out / PLAN_FILE
        spec_hash = hashlib.sha256(self.spec.source.read_bytes()).hexdigest()
        if plan_path.exists():
            try:
                plan = json.loads(plan_path.read_text(encoding="utf-8"))
                stored_hash, stored_seed = plan["spec_sha256"], int(plan["base_seed"])
            except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
                problem = short_text(str(exc), 120)
                raise LdmStudioError(f"{plan_path}: unreadable batch plan ({problem}); use a new folder") from None
            if stored_hash != spec_hash:
                raise LdmStudioError(
                    f"{self.out}: holds a batch of a different spec; use a new output folder to run this one"
                )
            if base_seed is not None and base_seed != stored_seed:
                raise LdmStudioError(f"{self.out}: was started with base seed {stored_seed}, not {base_seed}")
            return stored_seed, None
        from ldm_studio.core.generation.requests import random_seed

        seed = random_seed() if base_seed is None else base_seed
        return seed, {"spec": str(self.spec.source), "spec_sha256": spec_hash, "base_seed": seed}

    def _write_plan(self, plan: dict[str, Any]) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LdmStudioError(f"{self.out}: cannot create the output folder ({exc.strerror or exc})") from None
        try:
            _write_text_atomic(self.out / PLAN_FILE, json.dumps(plan, indent=2) + "\n")
        except OSError as exc:
            raise LdmStudioError(f"{self.out}: cannot write the batch plan ({exc.strerror or exc})") from None

    def _load_manifest(self) -> dict[int, str]:
        """index → file name of finished images. A torn last line (a kill mid-append) is dropped.

        Only a line naming the very file its job plans counts: a hand-edited or hostile line that
        names `/etc/hostname` or another job's file is dropped like a torn one.
        """
        path = self.out / MANIFEST_FILE
        if not path.exists() and not path.is_symlink():
            return {}
        if not path.is_file():
            raise LdmStudioError(f"{path}: is not a file; move it away to run this batch")
        try:
            data = read_bytes_bounded(path, MAX_MANIFEST_BYTES, "batch manifest")
        except FileFormatError as exc:
            raise LdmStudioError(f"{exc}; move it away to start the batch over") from None
        done: dict[int, str] = {}
        kept: list[str] = []
        torn = False
        for raw in data.splitlines():
            try:
                line = raw.decode("utf-8")
                entry = json.loads(line)
                index, name = int(entry["index"]), str(entry["file"])
            except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
                torn = True
                continue
            if 0 <= index < len(self.names) and name == self.names[index] and (self.out / name).is_file():
                done[index] = name
                kept.append(line)
            else:
                torn = True  # listed but gone (deleted by hand), or not this batch's file: make it again
        if torn:
            try:
                _write_text_atomic(path, "".join(f"{line}\n" for line in kept))
            except OSError as exc:
                raise LdmStudioError(
                    f"{path}: cannot repair the manifest ({exc.strerror or exc}); free some space and run again"
                ) from None
        return done

    # --- running -------------------------------------------------------------------------------

    def run(self) -> BatchReport:
        remove_partial_files(self.out)
        digest = model_hash(self.info.path)
        done = self._load_manifest()
        report = BatchReport(total=len(self.jobs), bad_rows=list(self.bad_rows))
        writer = _Writer(self.out / MANIFEST_FILE)
        pending: list[ImageJob] = []
        for job in self.jobs:
            name = self.names[job.index]
            if job.index in done:
                report.already_done += 1
            elif (self.out / name).is_file():  # renamed into place, killed before its manifest line
                writer.append_entry(self._entry(job, name, digest, self.backend.device_label))
                report.already_done += 1
            else:
                pending.append(job)

        start = time.perf_counter()
        finished_here = 0
        states: dict[int, str] = {}

        def written(path: Path) -> None:
            nonlocal finished_here
            finished_here += 1
            report.written.append(path)
            if self.on_progress is not None:
                elapsed = time.perf_counter() - start
                rate = finished_here / elapsed if elapsed > 0 else 0.0
                left = len(pending) - finished_here
                eta = left / rate if rate > 0 else None
                workers = tuple(states[w] for w in sorted(states))
                self.on_progress(BatchProgress(report.already_done + finished_here, len(self.jobs), rate, eta, workers))

        writer.on_written = written
        writer.start()
        try:
            if pending:
                self._drive(_groups(pending), writer, digest, report, states)
        finally:
            writer.finish()  # also on Ctrl+C: the writer drains what it has, then the interrupt goes on
        if writer.error is not None:
            raise LdmStudioError(
                f"{self.out}: cannot write ({writer.error}); the batch stopped after "
                f"{report.already_done + len(report.written)} of {len(self.jobs)} images. "
                f"The manifest lists every finished image: run the same command again to resume."
            )
        if self.spec.is_sweep and report.already_done + len(report.written) == len(self.jobs) and self.jobs:
            files = [self.out / name for name in self.names]
            report.contact_sheet = write_contact_sheet(self.out / SHEET_FILE, self.jobs, files, self.spec.sweep_axes)
        return report

    def _drive(
        self,
        groups: list[list[ImageJob]],
        writer: _Writer,
        digest: str,
        report: BatchReport,
        states: dict[int, str],
    ) -> None:
        """The one driver loop of every backend: hand groups to workers, write what comes back.

        A worker holds at most `backend.depth` groups; a group whose worker is lost goes back to
        the front of the queue; a group that fails is retried on a worker that has not tried it
        yet, and reported (by row) once every live worker has failed it. A result for a group that
        is already written (a lost worker's late answer) is dropped, so no image is written twice.
        """
        backend = self.backend
        backend.start()
        todo: deque[int] = deque(range(len(groups)))
        in_flight: dict[int, list[int]] = {w: [] for w in backend.live_workers()}
        tried: dict[int, set[int]] = {}
        messages: dict[int, str] = {}
        finished: set[int] = set()
        for w in in_flight:
            states[w] = f"{backend.worker_label(w)}: idle"
        try:
            while todo or any(in_flight.values()):
                if self.cancel.is_set() or writer.error is not None:
                    report.cancelled = self.cancel.is_set()
                    return
                live = backend.live_workers()
                if not live:
                    raise LdmStudioError(
                        f"{self.out}: every batch worker was lost; the manifest lists every finished image: "
                        f"run the same command again to resume"
                    )
                for w in live:
                    while len(in_flight[w]) < backend.depth:
                        task = next((t for t in todo if w not in tried.get(t, ())), None)
                        if task is None:
                            break
                        todo.remove(task)
                        in_flight[w].append(task)
                        backend.submit(w, task, _group_request(groups[task]))
                    if in_flight[w]:
                        states[w] = f"{backend.worker_label(w)}: row {groups[in_flight[w][0]][0].row}"
                for task in [t for t in todo if all(w in tried.get(t, ()) for w in live)]:
                    todo.remove(task)  # every worker still alive has failed it (the others died meanwhile)
                    finished.add(task)
                    report.failed.append(f"{_rows(groups[task])}: {messages[task]}")
                try:
                    event = backend.next_event(0.2)
                except Cancelled:
                    report.cancelled = True
                    return
                if event is None:
                    continue
                if event.worker in in_flight and not isinstance(event, Lost):
                    _discard(in_flight[event.worker], event.task)
                    if not in_flight[event.worker] and event.worker in backend.live_workers():
                        states[event.worker] = f"{backend.worker_label(event.worker)}: idle"
                if isinstance(event, Lost):
                    back = in_flight.get(event.worker, [])
                    todo.extendleft(reversed([t for t in back if t not in finished]))
                    in_flight[event.worker] = []
                    states[event.worker] = f"{backend.worker_label(event.worker)}: lost ({event.reason})"
                elif isinstance(event, Done):
                    if event.task in finished:
                        continue
                    finished.add(event.task)
                    _discard_all(todo, in_flight, event.task)
                    group = groups[event.task]
                    for job, image in zip(group, event.images, strict=True):
                        name = self.names[job.index]
                        writer.put(image, self._entry(job, name, digest, event.device))
                elif isinstance(event, Failed):
                    if event.task in finished:
                        continue
                    tried.setdefault(event.task, set()).add(event.worker)
                    messages[event.task] = event.message
                    if all(w in tried[event.task] for w in backend.live_workers()):
                        finished.add(event.task)
                        _discard_all(todo, in_flight, event.task)
                        report.failed.append(f"{_rows(groups[event.task])}: {event.message}")
                    elif event.task not in todo and not any(event.task in t for t in in_flight.values()):
                        todo.appendleft(event.task)
        finally:
            backend.close()

    def _entry(self, job: ImageJob, name: str, digest: str, device: str) -> dict[str, Any]:
        """The manifest line of a job (written once its PNG is in place)."""
        return {
            "index": job.index,
            "row": job.row,
            "file": name,
            "recipe": build_recipe(job.request, self.info, job.image_index, model_hash=digest, device=device),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


def _groups(jobs: list[ImageJob]) -> list[list[ImageJob]]:
    """Pending jobs grouped into engine batches: a row whose images are all pending runs as one batch."""
    groups: list[list[ImageJob]] = []
    for job in jobs:
        last = groups[-1] if groups else None
        if (
            last is not None
            and last[0].row == job.row
            and last[-1].image_index + 1 == job.image_index
            and last[0].image_index == 0
        ):
            last.append(job)
        else:
            groups.append([job])
    # a row only partly pending runs image by image (seed + i reproduces each exactly)
    out: list[list[ImageJob]] = []
    for group in groups:
        complete = len(group) == group[0].request.settings.batch_size
        out.extend([group] if complete else [[job] for job in group])
    return out


def _rows(group: list[ImageJob]) -> str:
    return f"row {', '.join(map(str, sorted({job.row for job in group})))}"


def _discard(items: list[int], task: int) -> None:
    if task in items:
        items.remove(task)


def _discard_all(todo: deque[int], in_flight: dict[int, list[int]], task: int) -> None:
    """A finished group leaves the queue and every worker's list (another worker may still be on it)."""
    if task in todo:
        todo.remove(task)
    for items in in_flight.values():
        _discard(items, task)


def _group_request(group: list[ImageJob]) -> GenerationRequest:
    return group[0].request if len(group) > 1 else group[0].single_request()


class _Writer(threading.Thread):
    """Writes PNGs and manifest lines in the background, so the engine samples the next image meanwhile."""

    def __init__(self, manifest: Path) -> None:
        super().__init__(name="batch-writer", daemon=True)
        self.manifest = manifest
        self.items: queue.Queue = queue.Queue(maxsize=8)
        self.error: str | None = None
        self.on_written: Callable[[Path], None] | None = None

    def put(self, image: np.ndarray, entry: dict[str, Any]) -> None:
        """Queue an image and its manifest entry (which names the file and holds the recipe).

        Waits in short slices, so a writer that died (its error set) never blocks the batch on a full
        queue, and Ctrl+C reaches the main thread at once.
        """
        while self.error is None:
            if not self.is_alive():
                self.error = "the image writer stopped unexpectedly"
                return
            try:
                self.items.put((image, entry), timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Tell the writer to stop after what is queued, and wait for it (never for a dead one)."""
        while self.is_alive():
            try:
                self.items.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self.join()

    def append_entry(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.manifest.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def run(self) -> None:
        while (item := self.items.get()) is not None:
            if self.error is not None:
                continue  # drain: the batch is stopping
            image, entry = item
            target = self.manifest.parent / entry["file"]
            try:
                write_png_atomic(target, image, recipe_chunks(entry["recipe"]))
                self.append_entry(entry)
                if self.on_written is not None:
                    self.on_written(target)
            except OSError as exc:
                self.error = exc.strerror or str(exc)
            except BaseException as exc:  # anything else also stops the batch with a message, never a hang
                self.error = f"{type(exc).__name__}: {short_text(str(exc), 160)}"


def _write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` whole; on failure (a full disk) the old file stays and no temp file is left."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
