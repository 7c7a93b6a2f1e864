"""Sampler names shown to people, mapped to diffusers schedulers (never hand-written).

Every sampler is built from the model's own scheduler config (its beta schedule, offset and
alpha settings), so a model converted from the original CompVis code keeps its schedule
whichever sampler is picked.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LCMScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler's display label, its diffusers class and the settings that make it that sampler."""

    label: str
    scheduler: type[SchedulerMixin]
    overrides: tuple[tuple[str, Any], ...] = ()
    uses_eta: bool = False


SAMPLERS: dict[str, SamplerSpec] = {
    "ddim": SamplerSpec("DDIM", DDIMScheduler, uses_eta=True),
    # PLMS as in the original LDM code: PNDM without its Runge-Kutta warm-up steps.
    "plms": SamplerSpec("PLMS", PNDMScheduler, (("skip_prk_steps", True),)),
    "dpmpp_2m": SamplerSpec(
        "DPM++ 2M",
        DPMSolverMultistepScheduler,
        (("algorithm_type", "dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", False)),
    ),
    "dpmpp_2m_karras": SamplerSpec(
        "DPM++ 2M Karras",
        DPMSolverMultistepScheduler,
        (("algorithm_type", "dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", True)),
    ),
    "euler": SamplerSpec("Euler", EulerDiscreteScheduler),
    "euler_a": SamplerSpec("Euler a", EulerAncestralDiscreteScheduler),
    "unipc": SamplerSpec("UniPC", UniPCMultistepScheduler),
    "heun": SamplerSpec("Heun", HeunDiscreteScheduler),
    # Few-step models: Euler with "trailing" spacing starts at the last training timestep (SD-Turbo's,
    # SDXL-Turbo's and SDXL-Lightning's setting); LCM for latent-consistency distilled models and LoRAs.
    "euler_trailing": SamplerSpec("Euler trailing", EulerDiscreteScheduler, (("timestep_spacing", "trailing"),)),
    "euler_a_trailing": SamplerSpec(
        "Euler a trailing", EulerAncestralDiscreteScheduler, (("timestep_spacing", "trailing"),)
    ),
    "lcm": SamplerSpec("LCM", LCMScheduler),
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)



def sampler_label(name: str) -> str:
    return SAMPLERS[name].label


def sampler_by_label(label: str) -> str:
    """The sampler name for a display label (as written in A1111-style parameters)."""
    for name, spec in SAMPLERS.items():
        if spec.label.lower() == label.strip().lower() or name == label.strip().lower():
            return name
    raise KeyError(label)


def make_scheduler(name: str, base_config: dict[str, Any]) -> SchedulerMixin:
    """A fresh scheduler of sampler `name` on the model's schedule (`base_config`)."""
    spec = SAMPLERS[name]
    accepted = _init_keys(spec.scheduler)
    # Keep the model's settings this scheduler understands (beta schedule, prediction type,
    # timestep spacing, rescale_betas_zero_snr …); drop the ones only another scheduler knows.
    config = {k: v for k, v in base_config.items() if not k.startswith("_") and k in accepted}
    if "clip_sample" in accepted and "clip_sample" not in config:
        # A schedule saved by another scheduler (Stable Diffusion ships a PNDM config) says nothing
        # of clipping; DDIM's own default would clamp x0 to [-1, 1]. diffusers' SD pipelines switch it
        # off for such configs and the original CompVis DDIM sampler never clips: neither do we.
        config["clip_sample"] = False
    config.update(dict(spec.overrides))
    return spec.scheduler.from_config(config)


def _init_keys(cls: type[SchedulerMixin]) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def set_timesteps(scheduler: SchedulerMixin, steps: int, device: torch.device | str | None = None) -> None:
    """Set the sampling timesteps: diffusers' spacing, except for DDIM on a CompVis schedule.

    The original CompVis DDIM sampler uses `range(0, T, T // S) + 1` (descending). diffusers'
    "leading" spacing gives the same list when S divides T, but one step fewer otherwise
    (S=30: 30 steps instead of the original 31). With a CompVis-style DDIM config (leading,
    offset 1, no alpha-to-one) the original list is used; DDIM's step still moves by T // S.
    """
    scheduler.set_timesteps(steps, device=device)
    config = scheduler.config
    if (
        isinstance(scheduler, DDIMScheduler)
        and config.timestep_spacing == "leading"
        and config.steps_offset == 1
        and not config.set_alpha_to_one
    ):
        total = config.num_train_timesteps
        original = np.arange(0, total, total // steps)[::-1] + config.steps_offset
        # where the original would index past the schedule (S=3: 999 + 1) it fails; keep what exists
        original = original[original < total]
        scheduler.timesteps = torch.from_numpy(original.copy()).to(device)


def compvis_ddim(linear_start: float, linear_end: float, num_train_timesteps: int = 1000) -> DDIMScheduler:
    """The original CompVis DDIM sampler on an LDM schedule: LDM's "linear" betas are diffusers'
    scaled_linear, timesteps are `range(0, T, T // S) + 1`, and the last step's alpha_prev is
    alphas_cumprod[0] (see `set_timesteps`)."""
    return DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=linear_start,
        beta_end=linear_end,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing="leading",
    )
