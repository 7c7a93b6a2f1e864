"""Starting the sampling loop mid-schedule: a step index, the latents there and the sampler's state.

A `ResumePoint` is what the loop needs to continue after step k exactly as the unbroken run
did: the latents after step k, the scheduler's mutable state (the multistep history of
DPM-Solver/UniPC/PLMS, Heun's half step, the step counter of the sigma schedulers) and the
per-image generators' state (the later draws of an ancestral sampler). With all three the
continued run is the original bit for bit; without scheduler state a multistep sampler
restarts its history (first order at the resumed step), and without generator state an
ancestral sampler draws fresh noise from the request's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ldm_studio.core.errors import RequestError

# Every attribute a diffusers scheduler (0.2x-0.4x) changes while stepping; the rest is fixed
# by `set_timesteps`. A sampler added to `samplers.SAMPLERS` is covered by the branch test of
# every sampler, which fails if its state lives elsewhere.
MUTABLE_SCHEDULER_STATE = (
    "_step_index",
    "_begin_index",
    "model_outputs",
    "lower_order_nums",
    "timestep_list",
    "last_sample",
    "this_order",
    "ets",
    "counter",
    "cur_sample",
    "cur_model_output",
    "prev_timestep",
    "prev_derivative",
    "dt",
    "sample",
    "is_scale_input_called",
)


def _to_cpu(value: Any) -> Any:
    """Tensors (also inside lists) as CPU tensors; on the CPU this is the same tensor, no copy."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]  # a new list: the scheduler mutates it in place
    if isinstance(value, tuple):
        return tuple(_to_device(v, device) for v in value)
    return value


def scheduler_state(scheduler: Any) -> dict[str, Any]:
    """The scheduler's mutable state now, on the CPU (lists copied: schedulers shift them in place)."""
    found = vars(scheduler)
    return {name: _to_cpu(found[name]) for name in MUTABLE_SCHEDULER_STATE if name in found}


def restore_scheduler_state(scheduler: Any, state: dict[str, Any], device: torch.device) -> None:
    """Put a `scheduler_state` back into a scheduler of the same kind after its `set_timesteps`."""
    for name, value in state.items():
        setattr(scheduler, name, _to_device(value, device))


def slice_state(state: dict[str, Any], batch_shape: torch.Size, index: int) -> dict[str, Any]:
    """Image `index` of a batch's scheduler state: tensors shaped like the batch's latents are cut."""

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.shape == batch_shape:
            return value[index : index + 1]
        if isinstance(value, (list, tuple)):
            return type(value)(cut(v) for v in value)
        return value

    return {name: cut(value) for name, value in state.items()}


def state_nbytes(value: Any) -> int:
    """Bytes held by the tensors in a (nested) state value."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, dict):
        return sum(state_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(state_nbytes(v) for v in value)
    return 0


@dataclass(frozen=True, eq=False)
class ResumePoint:
    """Continue the loop at step `index` (0-based; steps before it are not run) of a `total`-step schedule.

    `latents` are the latents after step `index - 1` (B, C, h, w). `scheduler` and
    `generators` are the state at that point; None restarts the history / draws fresh noise.
    """

    index: int
    total: int
    latents: torch.Tensor
    scheduler: dict[str, Any] | None = None
    generators: tuple[torch.Tensor, ...] | None = None
    # the parent run's sampler and loop timesteps: a branch with another sampler continues these
    # timesteps with it (`sampler_switch`); None when unknown (then the sampler must stay)
    sampler: str | None = None
    timesteps: torch.Tensor | None = None

    def switches_to(self, sampler: str) -> bool:
        """Whether continuing with `sampler` is a sampler switch (the parent ran another one)."""
        if self.sampler is None or self.sampler == sampler:
            return False
        if self.timesteps is None:
            raise RequestError("sampler", f"this branch point does not record its timesteps; keep {self.sampler!r}")
        return True

    def apply(
        self,
        scheduler: Any,
        generators: list[torch.Generator],
        total: int,
        device: torch.device,
        dtype: torch.dtype,
        restore_scheduler: bool = True,
    ) -> torch.Tensor:
        """Restore the state into a fresh loop's scheduler and generators; returns the latents to start from.

        `restore_scheduler=False` (a switched sampler) starts the scheduler's history afresh."""
        if total != self.total:
            raise RequestError(
                "steps", f"a branch continues the parent's {self.total}-step schedule; this request has {total} steps"
            )
        if not 0 < self.index < total:
            raise RequestError("branch step", f"must be between 1 and {total - 1}, got {self.index}")
        if self.latents.shape[0] != len(generators):
            raise RequestError(
                "batch_size", f"the kept latents hold {self.latents.shape[0]} image(s), the request {len(generators)}"
            )
        if self.scheduler is not None and restore_scheduler:
            restore_scheduler_state(scheduler, self.scheduler, device)
        if self.generators is not None:
            for generator, state in zip(generators, self.generators, strict=True):
                generator.set_state(state)
        return self.latents.to(device=device, dtype=dtype)
