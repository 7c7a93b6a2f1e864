"""Load a model folder into its family and run requests on it: the CLI and the Qt worker's API.

`Engine` holds at most one loaded model (models are large). Loading does not warm the U-Net
up by default: a warm-up call only moves the first call's extra cost to load time and adds
its own, so load → first image measured slower with it (demo model 1.17×, real LDM-256 size
8.28 s against 7.59 s; `python bench/run.py open`, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.families import LatentDiffusionModel, get_family
from ldm_studio.core.families.base import ProgressFn
from ldm_studio.core.generation.device import DeviceChoice, choose_device, prepare_thread
from ldm_studio.core.generation.memory import free_device_memory, is_out_of_memory
from ldm_studio.core.generation.previews import PreviewPolicy, to_uint8
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
from ldm_studio.core.generation.resume import ResumePoint
from ldm_studio.core.generation.sampling import Denoising, StepEvent
from ldm_studio.core.generation.speed import SpeedOptions, apply_speed_options
from ldm_studio.core.generation.threads import ThreadPlan, plan_threads
from ldm_studio.core.models.model_folder import read_model_info

StepFn = Callable[[StepEvent], None]
log = logging.getLogger(__name__)


def load_model(path: str | Path, choice: DeviceChoice, progress: ProgressFn | None = None) -> LatentDiffusionModel:
    """Read a model folder and load it with its family's class."""
    info = read_model_info(path)
    spec = get_family(info.family)
    if spec is None:
        raise ModelFolderError(info.path, f"family {info.family!r} is not supported by this version")
    return spec.model_class.load(info, choice, progress)


@dataclass
class GenerationResult:
    """Finished images (B, H, W, 3) uint8 and how long the denoising and decoding took."""

    images: np.ndarray
    request: GenerationRequest
    seconds: float
    steps: int
    timings: dict[str, float] = field(default_factory=dict)


class Engine:
    """One loaded model on one device; `generate` runs a request to finished images."""

    def __init__(
        self, choice: DeviceChoice | None = None, threads: ThreadPlan | None = None, speed: SpeedOptions | None = None
    ) -> None:
        self.choice = choice or choose_device()
        self.threads = threads or plan_threads()  # headless unless the window says otherwise
        self.speed = speed or SpeedOptions()
        self.model: LatentDiffusionModel | None = None
        self.load_notes: list[str] = []  # what the speed options applied to the loaded model, one line each
        self._prepared_thread: int | None = None

    def prepare_thread(self) -> None:
        """Per-thread torch settings; call from the thread that samples (done lazily too)."""
        if self._prepared_thread != threading.get_ident():
            prepare_thread(self.choice, self.threads)
            self._prepared_thread = threading.get_ident()

    def set_threads(self, plan: ThreadPlan) -> None:
        """Use `plan` from the next load or job on (the sampling thread re-applies it then)."""
        self.threads = plan
        self._prepared_thread = None

    def load(self, path: str | Path, progress: ProgressFn | None = None, warm_up: bool = False) -> LatentDiffusionModel:
        self.prepare_thread()
        self.model = None  # free the old model before loading the next
        model = load_model(path, self.choice, progress)
        self.load_notes = apply_speed_options(model, self.speed)
        for note in self.load_notes:
            log.info("%s: %s", model.info.name, note)
        if warm_up:
            warm_up_model(model)
        self.model = model
        return model

    def set_speed(self, options: SpeedOptions) -> None:
        """Use `options` from the next load on (compiling and offloading are done when a model loads)."""
        self.speed = options

    def generate(
        self,
        request: GenerationRequest,
        *,
        cancel: threading.Event | None = None,
        preview: PreviewPolicy | None = None,
        on_step: StepFn | None = None,
        resume: ResumePoint | None = None,
    ) -> GenerationResult:
        """Sample and decode; `on_step` sees every step event. Raises Cancelled when cancelled.

        `resume` continues an earlier run from a kept step (a branch), see `core.generation.resume`."""
        if self.model is None:
            raise RuntimeError("no model loaded")
        self.prepare_thread()
        start = time.perf_counter()
        run = Denoising(self.model, request, cancel=cancel, preview=preview, resume=resume)
        for event in run:
            if on_step is not None:
                on_step(event)
        assert run.latents is not None
        sampled = time.perf_counter()
        images = to_uint8(self.model.finish(self.decode(run.latents), request))
        done = time.perf_counter()
        return GenerationResult(
            images, request, done - start, run.steps, {"denoise": sampled - start, "decode": done - sampled}
        )

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode; out of memory, retry once an image at a time and tiled (a KL decoder)."""
        assert self.model is not None
        try:
            return self.model.decode(latents)
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            free_device_memory()
            return self.model.decode(latents, low_memory=True)


@torch.no_grad()
def warm_up_model(model: LatentDiffusionModel) -> None:
    """One U-Net call at a small size, so the first real step is not the slow one."""
    f = model.info.latent_factor
    request = GenerationRequest(
        model.default_condition(), SamplerSettings(steps=1, guidance=1.0, width=8 * f, height=8 * f)
    )
    conditioning = model.encode(request.condition, 1, False, request)
    x = torch.zeros((1, *model.latent_shape(request)), device=model.device, dtype=model.dtype)
    model.predict_noise(x, torch.tensor(999, device=model.device), conditioning.cond)
