"""Where a batch's engine calls run: in this process, in N worker processes, or (ray_backend) on Ray actors.

The runner's one driver loop talks to a `Backend`: it submits a task (an engine request for one
group of images) to a chosen worker and reads `Done`, `Failed` and `Lost` events back. The
driver alone writes PNGs and the manifest, so resume and the output folder never depend on
the backend. Every backend runs the very same request for a group, so an image depends only
on its row, seed and model, never on which worker made it.

Worker processes are spawned (not forked: torch and its thread pools do not survive a fork),
each loads its own Engine, and on a CPU machine the cores are split between them.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ldm_studio.core.errors import Cancelled, LdmStudioError
from ldm_studio.core.generation.requests import GenerationRequest

if TYPE_CHECKING:  # the engine imports torch; workers import it only in the worker process
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.models.model_folder import ModelInfo


@dataclass(frozen=True)
class Done:
    """A task's images, (B, H, W, 3) uint8, made on `worker` (whose device label goes into the recipe)."""

    worker: int
    task: int
    images: np.ndarray
    device: str


@dataclass(frozen=True)
class Failed:
    """The engine raised on this task (a bad request, out of memory...): the driver may retry elsewhere."""

    worker: int
    task: int
    message: str


@dataclass(frozen=True)
class Lost:
    """The worker is gone (killed, crashed, node lost): its in-flight tasks go back to the queue."""

    worker: int
    reason: str


Event = Done | Failed | Lost


class Backend(Protocol):
    """What the batch driver needs from the place engines run."""

    info: ModelInfo
    depth: int  # tasks kept in flight per worker (2 overlaps a worker's next task with the transfer)
    device_label: str  # the manifest's device for images adopted from an earlier run

    def start(self) -> None:
        """Load every worker's engine; LdmStudioError when none could be started."""

    def live_workers(self) -> list[int]: ...

    def submit(self, worker: int, task: int, request: GenerationRequest) -> None: ...

    def next_event(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds; Cancelled when the batch was cancelled."""

    def worker_label(self, worker: int) -> str:
        """A short name for progress lines: 'cpu 0', 'cuda:1', 'node 10.0.0.2'."""

    def close(self) -> None: ...


class InProcessBackend:
    """The engine of this process, run synchronously in `next_event` (a single-process batch, as before)."""

    depth = 1

    def __init__(self, engine: Engine, cancel: threading.Event) -> None:
        if engine.model is None:
            raise RuntimeError("the engine has no model loaded")
        self.engine = engine
        self.info = engine.model.info
        self.device_label = engine.choice.label
        self.cancel = cancel
        self._todo: list[tuple[int, GenerationRequest]] = []

    def start(self) -> None:
        pass

    def live_workers(self) -> list[int]:
        return [0]

    def submit(self, worker: int, task: int, request: GenerationRequest) -> None:
        self._todo.append((task, request))

    def next_event(self, timeout: float) -> Event | None:
        if not self._todo:
            return None
        task, request = self._todo.pop(0)
        try:
            result = self.engine.generate(request, cancel=self.cancel)
        except Cancelled:
            raise
        except (LdmStudioError, RuntimeError, ValueError) as exc:
            return Failed(0, task, str(exc))
        return Done(0, task, result.images, self.engine.choice.label)

    def worker_label(self, worker: int) -> str:
        return self.engine.choice.device.type

    def close(self) -> None:
        pass


def default_worker_count(device: str | None) -> int:
    """One worker per CUDA GPU when there are several (and no single device was asked for), else one."""
    if device not in (None, "", "auto", "cuda"):
        return 1
    import torch

    return max(1, torch.cuda.device_count())


def worker_devices(count: int, device: str | None) -> list[str]:
    """The device of each worker: GPUs in turn when CUDA is used, else the asked-for device (the CPU)."""
    import torch

    if device in (None, "", "auto", "cuda") and torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        return [f"cuda:{i % gpus}" for i in range(count)]
    return [device or "cpu"] * count


def cpu_threads_per_worker(count: int) -> int:
    """The cores split between worker processes (so two workers on 2 cores use one thread each)."""
    return max(1, (os.cpu_count() or 1) // count)


class ProcessBackend:
    """N spawned worker processes on this machine, each with its own Engine and task queue."""

    depth = 2

    def __init__(
        self,
        info: ModelInfo,
        devices: list[str],
        dtype: str | None = None,
        *,
        threads: int | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        if not devices:
            raise ValueError("a process backend needs at least one worker")
        self.info = info
        self.devices = devices
        self.dtype = dtype
        self.threads = threads or cpu_threads_per_worker(len(devices))
        self.start_timeout = start_timeout
        from ldm_studio.core.generation.device import choose_device

        self.device_label = choose_device(devices[0], dtype).label
        self._ctx = mp.get_context("spawn")
        self._results: Any = self._ctx.Queue()
        self._tasks: list[Any] = []
        self.processes: list[Any] = []
        self._live: set[int] = set()
        self.labels: dict[int, str] = {}

    def start(self) -> None:
        for index, device in enumerate(self.devices):
            tasks = self._ctx.Queue()
            proc = self._ctx.Process(
                target=worker_main,
                args=(index, str(self.info.path), device, self.dtype, self.threads, tasks, self._results),
                name=f"ldm-batch-worker-{index}",
                daemon=True,
            )
            proc.start()
            self._tasks.append(tasks)
            self.processes.append(proc)
        waiting = set(range(len(self.devices)))
        problems: list[str] = []
        import time

        deadline = time.monotonic() + self.start_timeout
        while waiting and time.monotonic() < deadline:
            try:
                message = self._results.get(timeout=0.2)
            except queue.Empty:
                for index in list(waiting):
                    if not self.processes[index].is_alive():
                        waiting.discard(index)
                        problems.append(f"worker {index} exited with code {self.processes[index].exitcode}")
                continue
            kind, index, payload = message[0], message[1], message[2]
            waiting.discard(index)
            if kind == "ready":
                self._live.add(index)
                self.labels[index] = payload
            else:
                problems.append(f"worker {index} ({self.devices[index]}): {payload}")
        for index in waiting:
            problems.append(f"worker {index} did not load the model within {self.start_timeout:.0f} s")
            self._stop(index)
        if not self._live:
            self.close()
            raise LdmStudioError(f"{self.info.path}: no batch worker started ({'; '.join(problems)})")

    def live_workers(self) -> list[int]:
        return sorted(self._live)

    def submit(self, worker: int, task: int, request: GenerationRequest) -> None:
        self._tasks[worker].put((task, request))

    def next_event(self, timeout: float) -> Event | None:
        try:
            message = self._results.get(timeout=timeout)
        except queue.Empty:
            for index in sorted(self._live):
                proc = self.processes[index]
                if not proc.is_alive():
                    self._live.discard(index)
                    return Lost(index, f"exited with code {proc.exitcode}")
            return None
        kind, index = message[0], message[1]
        if kind == "done":
            return Done(index, message[2], message[3], self.labels.get(index, self.devices[index]))
        if kind == "failed":
            return Failed(index, message[2], message[3])
        return None  # a late "ready"/"error" from a worker already given up on

    def worker_label(self, worker: int) -> str:
        return f"{self.devices[worker]} #{worker}"

    def _stop(self, index: int) -> None:
        proc = self.processes[index]
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)

    def close(self) -> None:
        for tasks in self._tasks:
            with contextlib.suppress(OSError, ValueError):
                tasks.put(None)
        for index, proc in enumerate(self.processes):
            proc.join(timeout=2)
            if proc.is_alive():
                self._stop(index)
        self._live.clear()
        for q in (*self._tasks, self._results):
            q.close()
            q.cancel_join_thread()


def worker_main(
    index: int, model_path: str, device: str, dtype: str | None, threads: int, tasks: Any, results: Any
) -> None:
    """A worker process: load an engine, then run tasks from `tasks` until None, answering on `results`."""
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    try:
        engine = load_worker_engine(model_path, device, dtype, threads)
    except Exception as exc:  # any load failure goes back to the driver as one line
        results.put(("error", index, str(exc) or type(exc).__name__))
        return
    results.put(("ready", index, engine.choice.label))
    while (item := tasks.get()) is not None:
        task, request = item
        try:
            images = engine.generate(request).images
        except (LdmStudioError, RuntimeError, ValueError, MemoryError) as exc:
            results.put(("failed", index, task, str(exc) or type(exc).__name__))
            continue
        results.put(("done", index, task, images))


def _exit_with_parent() -> None:
    """End this worker when the driver dies (a kill -9 runs no cleanup), so no orphan holds a GPU."""
    parent = mp.parent_process()
    if parent is not None:
        parent.join()
        os._exit(0)


def load_worker_engine(model_path: str, device: str, dtype: str | None, threads: int) -> Engine:
    """An Engine for a worker, with its share of the CPU threads (set after the engine's own thread setup)."""
    import torch

    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    engine = Engine(choose_device(device, dtype))
    engine.prepare_thread()
    if engine.choice.device.type == "cpu":
        torch.set_num_threads(threads)
    engine.load(model_path)
    return engine
