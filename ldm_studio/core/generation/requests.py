"""What a person asks for, as frozen values that check themselves.

Every field is validated on construction, so a bad value is reported by name before any
model work starts; `GenerationRequest.check_for(model)` adds the checks that need the model
(size multiple of its latent factor, a condition the family accepts).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import (
    MAX_PROMPT_CHARS,
    ClassCondition,
    CombinedCondition,
    ConditionType,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.image_inputs import InitImage
from ldm_studio.core.generation.sampler_names import SAMPLER_NAMES
from ldm_studio.core.generation.schedules import parse_guidance

if TYPE_CHECKING:
    from ldm_studio.core.models.model_folder import ModelInfo

MAX_SEED = 2**63 - 1 - 4096  # room for seed + batch index in a 64-bit generator seed
# The text encoders read 77 tokens; a longer prompt is a pasted document, and a multi-megabyte
# one freezes the text box that shows it. Readers of recipes and settings cut at this length.


def random_seed() -> int:
    """A fresh seed for a request that did not fix one (kept in the recipe)."""
    return secrets.randbelow(2**32)


Condition = ConditionType  # any registered condition type


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample: the scheduler, its step count and guidance, the seed and the image size."""

    sampler: str = "ddim"
    steps: int = 50
    guidance: float = 5.0
    eta: float = 0.0
    seed: int = 0
    batch_size: int = 1
    width: int = 256
    height: int = 256
    # guidance that changes during the run, `7.5 [0.5] 3` (see `schedules`); "" keeps `guidance` throughout
    guidance_schedule: str = ""

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLER_NAMES:
            raise RequestError("sampler", f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLER_NAMES)}")
        _check_int("steps", self.steps, low=1, high=10_000)
        _check_int("batch_size", self.batch_size, low=1, high=256)
        _check_int("seed", self.seed, low=0, high=MAX_SEED)
        _check_int("width", self.width, low=1, high=16_384)
        _check_int("height", self.height, low=1, high=16_384)
        _check_float("guidance", self.guidance, low=0.0)
        _check_float("eta", self.eta, low=0.0)
        if not isinstance(self.guidance_schedule, str):
            raise RequestError("guidance_schedule", f"must be text, got {type(self.guidance_schedule).__name__}")
        if self.guidance_schedule.strip():
            parse_guidance(self.guidance_schedule)

    def guidance_at(self, index: int, steps: int) -> float:
        """The guidance scale at loop index `index` of a `steps`-step run (the schedule's, else `guidance`)."""
        if not self.guidance_schedule.strip():
            return self.guidance
        return parse_guidance(self.guidance_schedule).at(index, steps)

    def guidance_values(self) -> tuple[float, ...]:
        """Every guidance scale the run may use."""
        if not self.guidance_schedule.strip():
            return (self.guidance,)
        return parse_guidance(self.guidance_schedule).values


@dataclass(frozen=True)
class GenerationRequest:
    """One job: a condition plus sampler settings, and optionally a picture to start from (image-to-image)."""

    condition: Condition
    settings: SamplerSettings
    init: InitImage | None = None

    def for_image(self, index: int) -> GenerationRequest:
        """Image `index` of this batch as a request of its own: seed + index, batch 1, its own class.

        The loop seeds every image separately, so this makes the same picture as the batch did.
        """
        settings = replace(self.settings, seed=self.settings.seed + index, batch_size=1)
        return GenerationRequest(self.condition.for_image(index), settings, self.init)

    def check_for(self, model: ModelInfo) -> None:
        """Raise RequestError if this request does not fit the model (family, size, its inputs)."""
        from ldm_studio.core.families.registry import get_family

        spec = get_family(model.family)
        if spec is not None and not spec.accepts(self.condition):
            names = " or ".join(t.__name__ for t in spec.conditions)
            raise RequestError(
                "condition", f"a {model.family!r} model takes a {names}, not a {type(self.condition).__name__}"
            )
        factor = model.latent_factor
        for name in ("width", "height"):
            value = getattr(self.settings, name)
            if value % factor:
                raise RequestError(name, f"{value} is not a multiple of the model's latent factor {factor}")
        self.condition.check_for(model, self.settings.batch_size)
        if self.init is not None and spec is not None and "image" in spec.input_names:
            raise RequestError(
                "image", f"a {model.family!r} model takes its picture as the condition, not as an image-to-image start"
            )


def _check_int(name: str, value: object, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise RequestError(name, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise RequestError(name, f"must be between {low} and {high}, got {value}")


MAX_GUIDANCE = 20.0  # the window's slider ends here; the CLI and batch specs refuse more alike


def check_guidance_cap(guidance: float, field: str = "guidance") -> None:
    """Guidance above MAX_GUIDANCE is refused the same way everywhere (it only saturates the images)."""
    if isinstance(guidance, (int, float)) and guidance > MAX_GUIDANCE:
        raise RequestError(field, f"{guidance:g} is above {MAX_GUIDANCE:g}, the most LDM Studio takes")


def _check_float(name: str, value: object, *, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise RequestError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < low:
        raise RequestError(name, f"must be a finite number >= {low}, got {value}")


__all__ = [
    "MAX_PROMPT_CHARS",
    "ClassCondition",
    "CombinedCondition",
    "Condition",
    "GenerationRequest",
    "InitImage",
    "SamplerSettings",
    "SemanticMapCondition",
    "TextCondition",
    "UnconditionalCondition",
    "random_seed",
]
