"""What a person asks for, as frozen values that check themselves.

Every field is validated on construction, so a bad value is reported by name before any
model work starts; `GenerationRequest.check_for(model)` adds the checks that need the model
(size multiple of its latent factor, a condition the family accepts).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.samplers import SAMPLER_NAMES

if TYPE_CHECKING:
    from ldm_studio.core.model_folder import ModelInfo

MAX_SEED = 2**63 - 1 - 4096  # room for seed + batch index in a 64-bit generator seed


def random_seed() -> int:
    """A fresh seed for a request that did not fix one (kept in the recipe)."""
    return secrets.randbelow(2**32)


@dataclass(frozen=True)
class TextCondition:
    """A prompt; the negative prompt replaces the empty-prompt unconditional input of guidance."""

    prompt: str
    negative: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise RequestError("prompt", f"must be text, got {type(self.prompt).__name__}")
        if not isinstance(self.negative, str):
            raise RequestError("negative", f"must be text, got {type(self.negative).__name__}")


@dataclass(frozen=True)
class ClassCondition:
    """Class labels: one for the whole batch, or one per image (image i gets `class_ids[i]`)."""

    class_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        ids = tuple(self.class_ids)
        if not ids:
            raise RequestError("class", "at least one class index is needed")
        for value in ids:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise RequestError("class", f"{value!r} is not a class index (an integer >= 0)")
        object.__setattr__(self, "class_ids", tuple(int(v) for v in ids))

    def for_batch(self, batch_size: int) -> tuple[int, ...]:
        """The class of each image of a batch."""
        if len(self.class_ids) == 1:
            return self.class_ids * batch_size
        return self.class_ids


@dataclass(frozen=True, eq=False)
class SemanticMapCondition:
    """A map of label indices (H x W integers) in a named label set, e.g. "coco-stuff-182"."""

    label_map: np.ndarray = field(repr=False)
    label_set: str = "coco-stuff-182"

    def __post_init__(self) -> None:
        arr = np.asarray(self.label_map)
        if arr.ndim != 2 or arr.size == 0:
            raise RequestError("map", f"must be a 2-D array of label indices, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise RequestError("map", f"must hold integer label indices, got {arr.dtype}")
        if arr.min() < 0:
            raise RequestError("map", f"holds a negative label index ({int(arr.min())})")
        arr = arr.astype(np.int64, copy=True)
        arr.setflags(write=False)
        object.__setattr__(self, "label_map", arr)


@dataclass(frozen=True)
class UnconditionalCondition:
    """No conditioning input (unconditional models)."""


@dataclass(frozen=True, eq=False)
class CombinedCondition:
    """Several inputs at once, for models trained on text, class and map together (the demo model).

    A part left as None is dropped the way the model was trained to drop it (its null input).
    """

    text: TextCondition | None = None
    label: ClassCondition | None = None
    semantic: SemanticMapCondition | None = None

    def parts(self) -> tuple[TextCondition | ClassCondition | SemanticMapCondition, ...]:
        return tuple(p for p in (self.text, self.label, self.semantic) if p is not None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CombinedCondition):
            return NotImplemented
        maps = (self.semantic, other.semantic)
        if (maps[0] is None) != (maps[1] is None):
            return False
        if maps[0] is not None and not (
            maps[0].label_set == maps[1].label_set and np.array_equal(maps[0].label_map, maps[1].label_map)
        ):
            return False
        return self.text == other.text and self.label == other.label

    __hash__ = None  # type: ignore[assignment]


Condition = TextCondition | ClassCondition | SemanticMapCondition | UnconditionalCondition | CombinedCondition


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


@dataclass(frozen=True)
class GenerationRequest:
    """One job: a condition plus sampler settings."""

    condition: Condition
    settings: SamplerSettings

    def for_image(self, index: int) -> GenerationRequest:
        """Image `index` of this batch as a request of its own: seed + index, batch 1, its own class.

        The loop seeds every image separately, so this makes the same picture as the batch did.
        """
        settings = replace(self.settings, seed=self.settings.seed + index, batch_size=1)
        return GenerationRequest(condition_for_image(self.condition, index), settings)

    def check_for(self, model: ModelInfo) -> None:
        """Raise RequestError if this request does not fit the model (family, size, labels)."""
        expected = FAMILY_CONDITIONS.get(model.family)
        if expected is not None and not isinstance(self.condition, expected):
            names = " or ".join(t.__name__ for t in expected)
            raise RequestError(
                "condition", f"a {model.family!r} model takes a {names}, not a {type(self.condition).__name__}"
            )
        factor = model.latent_factor
        for name in ("width", "height"):
            value = getattr(self.settings, name)
            if value % factor:
                raise RequestError(name, f"{value} is not a multiple of the model's latent factor {factor}")
        label = self.condition.label if isinstance(self.condition, CombinedCondition) else self.condition
        if isinstance(label, ClassCondition):
            n = len(label.class_ids)
            if n not in (1, self.settings.batch_size):
                raise RequestError(
                    "class", f"{n} classes for a batch of {self.settings.batch_size}: give one or one per image"
                )
            if model.num_classes is not None:
                bad = [c for c in label.class_ids if c >= model.num_classes]
                if bad:
                    raise RequestError("class", f"index {bad[0]} is outside 0..{model.num_classes - 1}")


FAMILY_CONDITIONS: dict[str, tuple[type, ...]] = {
    "text": (TextCondition,),
    "class": (ClassCondition,),
    "semantic": (SemanticMapCondition,),
    "uncond": (UnconditionalCondition,),
    # trained with each input dropped at random: any one, any combination, or none
    "multi": (CombinedCondition, TextCondition, ClassCondition, SemanticMapCondition, UnconditionalCondition),
}


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


def condition_for_image(condition: Condition, index: int) -> Condition:
    """The condition of image `index` alone (a per-image class list picks its entry)."""
    if isinstance(condition, ClassCondition) and len(condition.class_ids) > 1:
        return ClassCondition((condition.class_ids[index],))
    if isinstance(condition, CombinedCondition) and condition.label is not None:
        return replace(condition, label=condition_for_image(condition.label, index))
    return condition
