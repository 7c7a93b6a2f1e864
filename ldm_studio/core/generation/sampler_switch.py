"""Switching the sampler in a branch: the rest of the parent's schedule, run by another sampler.

The rule: the branch keeps the parent's own timesteps (the loop's list, so the step indices,
the timeline and `total` stay the parent's) and only the update rule changes. The new
scheduler is built on the model's schedule as usual and then given those timesteps:

- samplers whose diffusers `set_timesteps` takes custom `timesteps` (Euler, DPM++ 2M) get the
  parent's list (rounded to integers where the scheduler keeps integer timesteps);
- Euler a and UniPC, which take none, get the same list and the sigmas diffusers would compute
  for it (its sigma curve interpolated at those timesteps, then the scheduler's own final sigma);
- DDIM steps by a fixed stride `T // n` (diffusers computes `prev = t - T // n`): the parent's
  remaining timesteps must be evenly spaced by a stride `d` with `T // (T // d) == d`, and DDIM is
  given `n = T // d` (true of every "leading" spacing);
- the scheduler's step index begins at the branch index (`set_begin_index`); multistep history
  starts empty (the first step after the switch is first order).

Latents move between the two latent conventions at the branch timestep t: DDIM, PLMS,
DPM-Solver and UniPC keep x_t = sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·ε (`init_noise_sigma` 1, identity
`scale_model_input`); Euler, Euler a and Heun keep x_t / sqrt(ᾱ_t) = x0 + σ_t·ε (they scale the
model input by 1/sqrt(σ²+1)), so the latents are multiplied or divided by sqrt(σ_t² + 1).

Refused, with a message naming the sampler: PLMS and Heun as targets or parents (their
timelines repeat timesteps: PLMS's warm-up, Heun's two evaluations per step), DPM++ 2M Karras
(its Karras sigmas are its schedule) and LCM (a distilled model's own schedule).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.samplers import SAMPLERS, sampler_label

SIGMA_SPACE = (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler)

REFUSED = {
    "plms": "repeats its second timestep to warm up its history, so it cannot start mid-run",
    "heun": "evaluates the model twice per step, so its steps do not line up with the parent's",
    "dpmpp_2m_karras": "spaces its own Karras sigmas, so it cannot continue the parent's timesteps (pick DPM++ 2M)",
    "lcm": "follows a consistency-distilled model's own schedule",
}


def check_switch(parent: str, child: str) -> None:
    """RequestError("sampler") when a branch cannot go from sampler `parent` to `child`."""
    if child in REFUSED:
        raise RequestError("sampler", f"a branch cannot switch to {sampler_label(child)}: it {REFUSED[child]}")
    if parent in ("plms", "heun"):
        raise RequestError(
            "sampler", f"a branch of a {sampler_label(parent)} run keeps {sampler_label(parent)}: it {REFUSED[parent]}"
        )


def adopt_timesteps(scheduler: Any, sampler: str, timesteps: torch.Tensor, index: int) -> torch.Tensor:
    """Give `scheduler` (sampler `sampler`, fresh) the parent's loop `timesteps`, its step index at `index`.

    Returns the timesteps the loop runs (the scheduler's, on the host; same length as the parent's).
    """
    values = timesteps.detach().to("cpu", torch.float64).numpy()
    if len(np.unique(values)) != len(values):
        raise RequestError("sampler", "the parent's timesteps repeat (PLMS or Heun); a branch of it keeps its sampler")
    if isinstance(scheduler, DDIMScheduler):
        return _ddim(scheduler, values, index)
    if "timesteps" in inspect.signature(scheduler.set_timesteps).parameters:
        scheduler.set_timesteps(timesteps=[float(v) for v in _integral(values, scheduler)], device="cpu")
    elif hasattr(scheduler, "sigmas"):
        _interpolated_sigmas(scheduler, _integral(values, scheduler))
    else:
        raise RequestError("sampler", f"{sampler_label(sampler)} cannot be given the parent's timesteps")
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(index)
    return scheduler.timesteps


def _integral(values: np.ndarray, scheduler: Any) -> np.ndarray:
    """Timesteps as the scheduler keeps them: integers (rounded: the nearest) except for the Euler family."""
    return values if isinstance(scheduler, SIGMA_SPACE) else np.round(values)


def _ddim(scheduler: DDIMScheduler, values: np.ndarray, index: int) -> torch.Tensor:
    total = scheduler.config.num_train_timesteps
    ints = np.round(values).astype(np.int64)
    rest = ints[max(index - 1, 0) :]
    strides = set((rest[:-1] - rest[1:]).tolist()) if len(rest) > 1 else {int(ints[0] - ints[1])}
    stride = strides.pop() if len(strides) == 1 else 0
    if stride <= 0 or strides or total // (total // stride) != stride:
        raise RequestError(
            "sampler", "DDIM steps in equal strides; the parent's remaining timesteps are unevenly spaced (keep it)"
        )
    scheduler.set_timesteps(total // stride)
    scheduler.num_inference_steps = total // stride
    scheduler.timesteps = torch.from_numpy(ints.copy())
    return scheduler.timesteps


def _interpolated_sigmas(scheduler: Any, values: np.ndarray) -> None:
    """What `set_timesteps(timesteps=...)` does in the schedulers that have it: σ(t) interpolated, own final σ."""
    scheduler.set_timesteps(len(values), device="cpu")  # resets the scheduler's state and gives its final sigma
    last = scheduler.sigmas[-1:].to(torch.float32)
    alphas = scheduler.alphas_cumprod.numpy()
    curve = ((1 - alphas) / alphas) ** 0.5
    sigmas = np.interp(values, np.arange(len(curve)), curve).astype(np.float32)
    scheduler.sigmas = torch.cat([torch.from_numpy(sigmas), last])
    scheduler.timesteps = torch.from_numpy(values.copy()).to(scheduler.timesteps.dtype)
    scheduler.num_inference_steps = len(values)


def _sigma(alphas_cumprod: torch.Tensor, t: float) -> torch.Tensor:
    alphas = alphas_cumprod.numpy()
    curve = ((1 - alphas) / alphas) ** 0.5
    return torch.tensor(np.interp([t], np.arange(len(curve)), curve).astype(np.float32)[0])


def convert_latents(latents: torch.Tensor, parent: str, scheduler: Any, timestep: float, index: int) -> torch.Tensor:
    """Latents of sampler `parent` at `timestep` in the convention of `scheduler` (see the module docstring)."""
    from_sigma = issubclass(SAMPLERS[parent].scheduler, SIGMA_SPACE)
    to_sigma = isinstance(scheduler, SIGMA_SPACE)
    if from_sigma == to_sigma:
        return latents
    if to_sigma:
        sigma = scheduler.sigmas[index]
        return latents * ((sigma**2 + 1) ** 0.5).to(latents.dtype)
    sigma = _sigma(scheduler.alphas_cumprod, timestep)
    return latents / ((sigma**2 + 1) ** 0.5).to(latents.dtype)
