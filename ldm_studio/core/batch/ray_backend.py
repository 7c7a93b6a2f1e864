"""A batch on a Ray cluster: one actor per GPU (`num_gpus=1`), or CPU actors when it has none.

Each actor loads its own Engine once and answers one group of images per call; the images come
back to the driver through Ray's object store, and the driver alone writes PNGs and the manifest
(see workers.py). Ray is optional (`pip install 'ldm-studio[cluster]'`) and imported only here,
only when a batch asks for it.

Every node loads the model from the path the driver was given (a model name is resolved in each
node's own model store), so the model must be at the same place on every node, or on a shared path.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ldm_studio.core.batch.workers import Done, Event, Failed, Lost, load_worker_engine
from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.generation.requests import GenerationRequest

if TYPE_CHECKING:
    from ldm_studio.core.models.model_folder import ModelInfo

INSTALL_HINT = "--ray needs Ray, which is not installed: pip install 'ldm-studio[cluster]' (or pip install ray)"


def import_ray() -> Any:
    """Ray, or LdmStudioError with the one line that says how to install it."""
    try:
        import ray
    except ImportError:
        raise LdmStudioError(INSTALL_HINT) from None
    return ray


class EngineActor:
    """The body of a Ray actor: one loaded Engine. Failures come back as values, so only a death raises."""

    def __init__(self, model: str, device: str, dtype: str | None, threads: int) -> None:
        from ldm_studio.core.models.model_folder import read_model_info

        self.engine = load_worker_engine(str(read_model_info(model).path), device, dtype, threads)

    def ready(self) -> tuple[str, str]:
        import socket

        return self.engine.choice.label, socket.gethostname()

    def generate(self, request: GenerationRequest) -> tuple[bool, Any]:
        from ldm_studio.core.errors import LdmStudioError

        try:
            return True, self.engine.generate(request).images
        except (LdmStudioError, RuntimeError, ValueError, MemoryError) as exc:
            return False, str(exc) or type(exc).__name__


class RayBackend:
    """Engines on Ray actors; `address` is "auto" (the running cluster, else a local one) or a cluster address."""

    depth = 2

    def __init__(
        self,
        model: str,
        info: ModelInfo,
        address: str,
        *,
        workers: int | None = None,
        dtype: str | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        self.ray = import_ray()
        self.model = str(model)
        self.info = info
        self.address = address
        self.dtype = dtype
        self.start_timeout = start_timeout
        self._owns_ray = False
        if not self.ray.is_initialized():
            try:
                self.ray.init(
                    address=None if address == "auto" else address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise LdmStudioError(f"--ray {address}: cannot reach the Ray cluster ({exc})") from None
            self._owns_ray = True
        resources = self.ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        if self.gpus:
            self.count = workers or self.gpus
            self.device = "cuda"
            self.threads = 1
        else:
            nodes = sum(1 for node in self.ray.nodes() if node.get("Alive") and node["Resources"].get("CPU", 0) >= 1)
            self.count = workers or max(1, nodes)
            self.device = "cpu"
            self.threads = max(1, cpus // self.count)
        self.device_label = f"{self.device} ({dtype or ('fp16' if self.gpus else 'fp32')})"
        self.actors: list[Any] = []
        self.labels: dict[int, str] = {}  # for progress lines: host, device, actor
        self.devices: dict[int, str] = {}  # for the manifest: "cuda (fp16)"
        self._live: set[int] = set()
        self._calls: dict[Any, tuple[int, int]] = {}  # object ref -> (worker, task)

    def start(self) -> None:
        ray = self.ray
        # a CPU actor reserves one CPU so two fit on a 2-CPU node; its torch threads are `self.threads`
        options = {"num_gpus": 1, "num_cpus": 1} if self.gpus else {"num_cpus": 1}
        actor_class = ray.remote(**options)(EngineActor)
        self.actors = [actor_class.remote(self.model, self.device, self.dtype, self.threads) for _ in range(self.count)]
        pending = {actor.ready.remote(): index for index, actor in enumerate(self.actors)}
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=self.start_timeout)
        problems: list[str] = []
        for ref in ready:
            index = pending[ref]
            try:
                label, host = ray.get(ref)
            except Exception as exc:  # an actor that failed to load: reported as one line, the others run
                problems.append(f"actor {index}: {_cause(exc)}")
                continue
            self._live.add(index)
            self.devices[index] = label
            self.labels[index] = f"{host} {label.split()[0]} #{index}"
        if len(ready) < len(pending):
            problems.append(
                f"{len(pending) - len(ready)} actor(s) did not start within {self.start_timeout:.0f} s "
                f"(does the cluster have the resources?)"
            )
        if not self._live:
            self.close()
            raise LdmStudioError(f"--ray {self.address}: no batch actor started ({'; '.join(problems)})")

    def live_workers(self) -> list[int]:
        return sorted(self._live)

    def submit(self, worker: int, task: int, request: GenerationRequest) -> None:
        self._calls[self.actors[worker].generate.remote(request)] = (worker, task)

    def next_event(self, timeout: float) -> Event | None:
        if not self._calls:
            return None
        ready, _ = self.ray.wait(list(self._calls), num_returns=1, timeout=timeout)
        if not ready:
            return None
        worker, task = self._calls.pop(ready[0])
        try:
            ok, value = self.ray.get(ready[0])
        except self.ray.exceptions.RayActorError as exc:
            if worker not in self._live:
                return None  # already reported lost
            self._live.discard(worker)
            for ref, (w, _t) in list(self._calls.items()):
                if w == worker:
                    del self._calls[ref]
            return Lost(worker, _cause(exc).splitlines()[0][:200])
        except self.ray.exceptions.RayError as exc:
            return Failed(worker, task, _cause(exc))
        if ok:
            return Done(worker, task, value, self.devices.get(worker, self.device_label))
        return Failed(worker, task, value)

    def worker_label(self, worker: int) -> str:
        return self.labels.get(worker, f"actor #{worker}")

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):  # an actor that is already dead
                self.ray.kill(actor)
        self.actors = []
        self._live.clear()
        self._calls.clear()
        if self._owns_ray:
            self.ray.shutdown()


def _cause(exc: BaseException) -> str:
    """The first line of what went wrong inside Ray (its own errors carry long tracebacks)."""
    text = str(getattr(exc, "cause", None) or exc).strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__
