"""THE denoising loop, shared by every model family.

Per step it yields a `StepEvent` (step index, timestep, latents, the x0 prediction and an
optional preview), checks the cancel flag, and runs classifier-free guidance as one batch
[uncond, cond]. Noise for image i is drawn from its own CPU generator seeded `seed + i`, and
so is every later random draw of an ancestral sampler, so image i does not depend on the
batch size or on the device. An image-to-image start (`request.init`) enters through
`img2img.start` and, with a mask, `Start.blend` after each step.

On a GPU the loop never waits for the device except where a result is needed: timesteps
stay on the host for the scheduler (the U-Net gets them moved once, before the loop), and
previews are copied without blocking (`previews.PreviewPolicy`). It runs in inference mode.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ldm_studio.core.errors import Cancelled
from ldm_studio.core.generation import img2img, sampler_switch
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.resume import ResumePoint
from ldm_studio.core.generation.samplers import make_scheduler, set_timesteps

if TYPE_CHECKING:
    from ldm_studio.core.families.base import ConditionTensors, LatentDiffusionModel
    from ldm_studio.core.generation.previews import PreviewPolicy


@dataclass(frozen=True, eq=False)
class StepEvent:
    """One finished denoising step. `index` counts from 0 to `total - 1`."""

    index: int
    total: int
    timestep: float
    latents: torch.Tensor
    x0: torch.Tensor
    preview: np.ndarray | None = None  # (B, h, w, 3) uint8, when the policy asked for one
    # the live scheduler and generators, for a trajectory to snapshot during the step callback
    scheduler: Any = field(default=None, repr=False)
    generators: tuple[torch.Generator, ...] = ()
    timesteps: torch.Tensor | None = field(default=None, repr=False)  # the run's whole list (host)

    @property
    def is_last(self) -> bool:
        return self.index == self.total - 1


def generators_for(seed: int, batch_size: int) -> list[torch.Generator]:
    """One CPU generator per image: image i is seeded `seed + i`."""
    return [torch.Generator("cpu").manual_seed(seed + i) for i in range(batch_size)]


def initial_noise(
    shape: tuple[int, int, int], generators: list[torch.Generator], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Standard normal latents, image i from generator i, drawn on the CPU then moved."""
    noise = [torch.randn((1, *shape), generator=g, dtype=torch.float32) for g in generators]
    return torch.cat(noise).to(device=device, dtype=dtype)


def uses_guidance(model: LatentDiffusionModel, request: GenerationRequest) -> bool:
    """Guidance costs a second batch half; it is skipped at scale 1 (every scheduled scale 1) or without
    an uncond input."""
    return any(g != 1.0 for g in request.settings.guidance_values()) and model.has_unconditional


def _scheduled_conditioning(
    model: LatentDiffusionModel, request: GenerationRequest, guided: bool, total: int
) -> list[ConditionTensors]:
    """The guidance batch of every loop index: a prompt schedule switches the text condition at its steps
    (`ConditionType.at_step`); each distinct condition is encoded once. Switch points count the requested
    steps (as A1111 does, and as the prompt box's hint shows) and apply to the loop's indices: CompVis DDIM's
    extra step (31 for 30) keeps the last prompt, an image-to-image start runs the indices from 0."""
    batch, steps = request.settings.batch_size, request.settings.steps  # fractions count the requested steps
    starts = [0, *request.condition.switch_steps(steps)]
    encoded: list[tuple[Any, ConditionTensors]] = []
    per_start: list[ConditionTensors] = []
    for start in starts:
        condition = request.condition.at_step(start, steps)
        found = next((tensors for known, tensors in encoded if known == condition), None)
        if found is None:
            found = model.encode(condition, batch, guided, request).batch(guided)
            encoded.append((condition, found))
        per_start.append(found)
    out: list[ConditionTensors] = []
    for index in range(total):
        chosen = per_start[0]
        for start, tensors in zip(starts, per_start, strict=True):
            if start <= index:
                chosen = tensors
        out.append(chosen)
    return out


class Denoising:
    """The loop for one request, iterated step by step; `latents` is the result once it has run.

    With an image-to-image start fewer steps (maybe none, at strength 0) run, so the result is
    kept here rather than only on the last event. `steps` is the number of steps of the run
    (the events' `total`).
    """

    def __init__(
        self,
        model: LatentDiffusionModel,
        request: GenerationRequest,
        *,
        cancel: threading.Event | None = None,
        preview: PreviewPolicy | None = None,
        resume: ResumePoint | None = None,
    ) -> None:
        self.model, self.request, self.cancel, self.preview, self.resume = model, request, cancel, preview, resume
        self.latents: torch.Tensor | None = None
        self.steps = 0

    @torch.inference_mode()
    def __iter__(self) -> Iterator[StepEvent]:
        model, request, cancel, preview, resume = self.model, self.request, self.cancel, self.preview, self.resume
        settings = request.settings
        request.check_for(model.info)
        scheduler = make_scheduler(settings.sampler, model.scheduler_config)
        set_timesteps(scheduler, settings.steps, "cpu")  # host timesteps: no device read per step

        guided = uses_guidance(model, request)
        generators = generators_for(settings.seed, settings.batch_size)
        shape = model.latent_shape(request)
        # a resumed run keeps its generators' state for resume.apply: the start noise (which the
        # mask blend needs) then comes from fresh generators of the same seeds, the same draw
        noise_from = generators if resume is None else generators_for(settings.seed, settings.batch_size)
        noise = initial_noise(shape, noise_from, model.device, model.dtype)
        begin = img2img.start(model, scheduler, request, noise)
        timesteps = begin.timesteps
        switched = resume is not None and resume.switches_to(settings.sampler)
        if switched:  # another sampler continues the parent's timesteps (see sampler_switch)
            assert resume is not None and resume.sampler is not None and resume.timesteps is not None
            sampler_switch.check_switch(resume.sampler, settings.sampler)
            timesteps = sampler_switch.adopt_timesteps(scheduler, settings.sampler, resume.timesteps, resume.index)
        total = len(timesteps)
        unet_timesteps = timesteps.to(model.device)  # one transfer for the whole loop
        # a scheduled prompt: one encoding per distinct condition, chosen per step (index -> tensors)
        cond_at = _scheduled_conditioning(model, request, guided, total)
        if resume is None:
            latents, first = begin.latents, 0
        else:
            latents = resume.apply(scheduler, generators, total, model.device, model.dtype, not switched)
            first = resume.index
            if switched:
                assert resume.sampler is not None
                latents = sampler_switch.convert_latents(
                    latents, resume.sampler, scheduler, float(timesteps[first]), first
                )
        self.latents, self.steps = latents, total

        step_kwargs = _step_kwargs(scheduler, settings.eta, generators)
        for index, t in enumerate(timesteps):
            if index < first:
                continue
            if cancel is not None and cancel.is_set():
                raise Cancelled(index)
            model_input = torch.cat([latents, latents]) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            cond_batch = cond_at[index].at_step(index, total)  # the step: a ControlNet's start/end reads it
            noise_pred = _predict(model, model_input, unet_timesteps[index], cond_batch, guided, settings.batch_size)
            if guided:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + settings.guidance_at(index, settings.steps) * (cond - uncond)
            x_t = latents
            out = scheduler.step(noise_pred, t, latents, **step_kwargs)
            latents = begin.blend(scheduler, out.prev_sample, timesteps[index + 1] if index + 1 < total else None)
            x0 = getattr(out, "pred_original_sample", None)
            if x0 is None:
                x0 = _x0_from_noise(scheduler, x_t, noise_pred, t)
            image = preview.render(model, x0, index, total) if preview is not None else None
            self.latents = latents
            yield StepEvent(index, total, float(t), latents, x0, image, scheduler, tuple(generators), timesteps)


def denoise(
    model: LatentDiffusionModel,
    request: GenerationRequest,
    *,
    cancel: threading.Event | None = None,
    preview: PreviewPolicy | None = None,
    resume: ResumePoint | None = None,
) -> Iterator[StepEvent]:
    """Run the sampler step by step; the last event's `latents` are the result (see `Denoising`
    for a start that runs no step).

    With `resume` the loop starts at `resume.index` from its kept latents and state (a branch
    of an earlier run); the events then count from that index. Raises `Cancelled` at the
    start of the first step after `cancel` is set.
    """
    return iter(Denoising(model, request, cancel=cancel, preview=preview, resume=resume))


def sample(
    model: LatentDiffusionModel,
    request: GenerationRequest,
    *,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """Run the whole loop and decode: images (B, 3, H, W) in [0, 1] on the CPU (masked inputs composited)."""
    run = Denoising(model, request, cancel=cancel)
    for _event in run:
        pass
    assert run.latents is not None
    return model.finish(model.decode(run.latents), request)


def _predict(
    model: LatentDiffusionModel, x: torch.Tensor, t: torch.Tensor, cond: ConditionTensors, guided: bool, batch: int
) -> torch.Tensor:
    """The U-Net on the whole batch, or image by image (with its guidance pair) where the model asks."""
    if batch == 1 or not model.batch_invariant:
        return model.predict_noise(x, t, cond)
    rows = [[i, batch + i] if guided else [i] for i in range(batch)]
    parts = [model.predict_noise(x[r], t, cond.rows(r)) for r in rows]
    if not guided:
        return torch.cat(parts)
    return torch.cat([p[:1] for p in parts] + [p[1:] for p in parts])


def _step_kwargs(scheduler, eta: float, generators: list[torch.Generator]) -> dict:
    params = inspect.signature(scheduler.step).parameters
    kwargs: dict = {}
    if "eta" in params:
        kwargs["eta"] = eta
    if "generator" in params:
        kwargs["generator"] = generators
    return kwargs


def _x0_from_noise(scheduler, x_t: torch.Tensor, model_output: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x0 for schedulers that do not report it (PLMS, DPM-Solver, UniPC: all work in ᾱ space)."""
    a = scheduler.alphas_cumprod[int(t)].to(x_t.dtype)  # a host scalar: nothing copied to the device
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "v_prediction":
        return a.sqrt() * x_t - (1 - a).sqrt() * model_output
    if kind == "sample":
        return model_output
    return (x_t - (1 - a).sqrt() * model_output) / a.sqrt()
