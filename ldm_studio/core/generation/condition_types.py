"""Condition types: what a person conditions on, each owning its behaviour.

A condition type is a frozen, self-validating value that also knows

- its **named inputs** (`prompt`, `class`, `map`, …: the `generate` options, batch-row fields
  and window editors all use these names) and how to build itself from them;
- its **JSON codec** for recipes (`kind`, `to_json`, `from_json`);
- its **A1111 `parameters`** text (prompt, negative prompt, extra fields);
- its **per-image split** for batches (`for_image`);
- its **checks against a model** (`check_for`): the class-index check lives here, once.

Types register themselves by `kind` when their class is defined, so a new condition type is
one class in its family's module. This module imports no torch: the CLI builds its options
from the registered inputs without loading the engine.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.schedules import parse_prompt, prompt_a1111

if TYPE_CHECKING:
    from ldm_studio.core.models.model_folder import ModelInfo

ClassNames = Sequence[str] | None
MAX_PROMPT_CHARS = 10_000  # far beyond any text encoder; keeps hostile recipes and batch rows bounded


@dataclass(frozen=True)
class InputSpec:
    """A named input: its name in batch rows and recipes, `--name` on the CLI (argparse settings)."""

    name: str
    help: str
    cli: Mapping[str, Any] = field(default_factory=dict)  # extra argparse keywords (dest, action, type, default)
    path: bool = False  # a file path: batch rows resolve it against the spec file's folder


@dataclass(frozen=True)
class A1111Text:
    """A condition's share of an AUTOMATIC1111 `parameters` text."""

    prompt: str = ""
    negative: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


CONDITION_KINDS: dict[str, type[ConditionType]] = {}
INPUTS: dict[str, InputSpec] = {}


class ConditionType:
    """Base of every condition type (see the module docstring)."""

    kind: ClassVar[str] = ""
    inputs: ClassVar[tuple[InputSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            CONDITION_KINDS[cls.kind] = cls
            for spec in cls.inputs:
                INPUTS.setdefault(spec.name, spec)

    # --- named inputs ----------------------------------------------------------------------------

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ConditionType | None:
        """This condition from named inputs, or None when none of its inputs is given."""
        raise NotImplementedError

    @classmethod
    def required_message(cls) -> str:
        """What to say when a family needs this input and none was given."""
        names = " or ".join(spec.name for spec in cls.inputs)
        return f"needs a {names}"

    # --- behaviour ---------------------------------------------------------------------------------

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConditionType:
        raise NotImplementedError

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        """The A1111 text of this condition's JSON (class names are in the JSON, not the value)."""
        return A1111Text()

    def for_image(self, index: int) -> ConditionType:
        """The condition of image `index` of a batch alone (most conditions are the same for all)."""
        return self

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        """RequestError if this condition does not fit the model (beyond its family's type)."""

    def parts(self) -> tuple[ConditionType, ...]:
        """The single conditions this one consists of (itself, unless combined)."""
        return (self,)

    # --- schedules (a prompt that changes during sampling, see `schedules`) -------------------------

    def switch_steps(self, steps: int) -> list[int]:
        """Loop indices (0 < i < steps) where this condition changes during a `steps`-step run."""
        return []

    def at_step(self, index: int, steps: int) -> ConditionType:
        """The plain condition in force at loop index `index` (itself when nothing is scheduled)."""
        return self

    def schedule_hints(self, steps: int) -> list[str]:
        """One line per scheduled input, for people (`prompt: steps 1-12: a forest · 13-30: …`)."""
        return [hint for part in self.parts() if part is not self for hint in part.schedule_hints(steps)]

    def output_size(self, info: ModelInfo) -> tuple[int, int] | None:
        """The (width, height) this condition fixes for the output (an image to upscale), else None."""
        return None

    def file_label(self) -> str:
        """A few words for file names."""
        return type(self).__name__.removesuffix("Condition").lower()


def is_present(value: Any) -> bool:
    """A named input's value is there (not None, not an empty list)."""
    if value is None:
        return False
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    return True


# --- text ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextCondition(ConditionType):
    """A prompt; the negative prompt replaces the empty-prompt unconditional input of guidance."""

    kind: ClassVar[str] = "text"
    inputs: ClassVar[tuple[InputSpec, ...]] = (
        InputSpec("prompt", "text prompt (text models)"),
        InputSpec("negative", "negative prompt: what guidance steers away from", {"default": ""}),
    )

    prompt: str
    negative: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise RequestError("prompt", f"must be text, got {type(self.prompt).__name__}")
        if not isinstance(self.negative, str):
            raise RequestError("negative", f"must be text, got {type(self.negative).__name__}")
        for name in ("prompt", "negative"):
            length = len(getattr(self, name))
            if length > MAX_PROMPT_CHARS:
                raise RequestError(name, f"is {length} characters long; the limit is {MAX_PROMPT_CHARS}")
            parse_prompt(getattr(self, name), name)  # a schedule it cannot run fails here, naming the field

    def switch_steps(self, steps: int) -> list[int]:
        points = set(parse_prompt(self.prompt, "prompt").switch_steps(steps))
        return sorted(points | set(parse_prompt(self.negative, "negative").switch_steps(steps)))

    def schedule_hints(self, steps: int) -> list[str]:
        hints = [(name, parse_prompt(getattr(self, name), name).hint(steps)) for name in ("prompt", "negative")]
        return [f"{name}: {hint}" for name, hint in hints if hint]

    def at_step(self, index: int, steps: int) -> TextCondition:
        prompt, negative = parse_prompt(self.prompt, "prompt"), parse_prompt(self.negative, "negative")
        if not (prompt.is_scheduled or negative.is_scheduled):
            return self
        return TextCondition(prompt.at(index, steps), negative.at(index, steps))

    @classmethod
    def required_message(cls) -> str:
        return "needs a prompt"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> TextCondition | None:
        if values.get("prompt") is None:
            return None
        return cls(str(values["prompt"]), str(values.get("negative") or ""))

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind, "prompt": self.prompt, "negative": self.negative}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TextCondition:
        return cls(str(data["prompt"]), str(data.get("negative", "")))

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        """Prompt switches (`a [0.4] b`) are written as A1111's prompt editing (`[a:b:0.4]`)."""
        return A1111Text(prompt_a1111(str(data["prompt"])), prompt_a1111(str(data.get("negative", ""))))

    def file_label(self) -> str:
        return self.prompt


# --- class labels ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassCondition(ConditionType):
    """Class labels: one for the whole batch, or one per image (image i gets `class_ids[i]`)."""

    kind: ClassVar[str] = "class"
    inputs: ClassVar[tuple[InputSpec, ...]] = (
        InputSpec(
            "class",
            "class index or name (class models); repeat or comma-separate to give one per image",
            {"dest": "classes", "action": "append", "metavar": "N"},
        ),
    )

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

    @classmethod
    def required_message(cls) -> str:
        return "needs a class (an index or a name)"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ClassCondition | None:
        raw: Any = values.get("class")
        if not is_present(raw):
            return None
        classes: Sequence[str | int] = [raw] if isinstance(raw, (str, int)) else raw
        return cls(parse_classes(classes, class_names_of(info)))

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind, "class_ids": list(self.class_ids), "class_names": _names(self, class_names)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClassCondition:
        return cls(tuple(int(c) for c in data["class_ids"]))

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        names = data.get("class_names") or [str(c) for c in data["class_ids"]]
        return A1111Text(", ".join(names), "", {"Class": "|".join(str(c) for c in data["class_ids"])})

    def for_image(self, index: int) -> ClassCondition:
        if len(self.class_ids) > 1:
            return ClassCondition((self.class_ids[index],))
        return self

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        n = len(self.class_ids)
        if n not in (1, batch_size):
            raise RequestError("class", f"{n} classes for a batch of {batch_size}: give one or one per image")
        if info.num_classes is not None:
            bad = [c for c in self.class_ids if c >= info.num_classes]
            if bad:
                raise RequestError("class", f"index {bad[0]} is outside 0..{info.num_classes - 1}")

    def file_label(self) -> str:
        return f"class-{self.class_ids[0]}"


def _names(condition: ClassCondition, names: ClassNames) -> list[str]:
    if names is None:
        from ldm_studio.core.maps.labels import load_label_set

        names = load_label_set("imagenet-1k").names
    return [names[c] if c < len(names) else f"class {c}" for c in condition.class_ids]


def class_names_of(info: ModelInfo) -> Sequence[str] | str:
    """Where a model's class names come from: its own list, else ImageNet-1k."""
    return info.class_names if info.class_names is not None else "imagenet-1k"


def parse_classes(values: Sequence[str | int], names: Sequence[str] | str = "imagenet-1k") -> tuple[int, ...]:
    """Class indices from numbers or names (comma-separated lists allowed).

    Names are looked up in `names`: a model's own class list, or a shipped label set's name.
    """
    from ldm_studio.core.maps.labels import Label, LabelSet, load_label_set

    ids: list[int] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            ids.append(value)
            continue
        for token in str(value).split(","):
            token = token.strip()
            if not token:
                continue
            if token.lstrip("-").isdigit():
                ids.append(int(token))
                continue
            if isinstance(names, str):
                labels = load_label_set(names)
            else:
                labels = LabelSet("model classes", tuple(Label(i, n) for i, n in enumerate(names)))
            ids.append(_class_index(labels, token, own=not isinstance(names, str)))
    if not ids:
        raise RequestError("class", "no class given")
    return tuple(ids)


def _class_index(labels: Any, token: str, own: bool) -> int:
    """A class index by name; an unknown name is a "class" error listing a model's own (short) class list."""
    try:
        return int(labels.index_of(token))
    except RequestError as exc:
        if own and len(labels) <= 50:
            valid = ", ".join(labels.names)
            raise RequestError("class", f"{token!r} is not one of this model's classes: {valid}") from None
        raise RequestError("class", exc.problem) from None


# --- semantic maps ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SemanticMapCondition(ConditionType):
    """A map of label indices (H x W integers) in a named label set, e.g. "coco-stuff-182"."""

    kind: ClassVar[str] = "semantic"
    inputs: ClassVar[tuple[InputSpec, ...]] = (
        InputSpec("map", "semantic map: PNG of label indices, or RGB in the label palette", {"type": Path}, path=True),
    )

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemanticMapCondition):
            return NotImplemented
        return self.label_set == other.label_set and np.array_equal(self.label_map, other.label_map)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def required_message(cls) -> str:
        return "needs a map file"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> SemanticMapCondition | None:
        path = values.get("map")
        if path is None:
            return None
        from ldm_studio.core.maps.semantic_maps import read_map_file

        label_set = info.label_set or "coco-stuff-182"
        return cls(read_map_file(path, label_set), label_set)

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label_set": self.label_set,
            "map_png": base64.b64encode(map_png_bytes(self)).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SemanticMapCondition:
        from ldm_studio.core.files.untrusted import MAX_MAP_PIXELS, open_image_bounded

        raw = base64.b64decode(data["map_png"], validate=True)
        with open_image_bounded(raw, "map_png", MAX_MAP_PIXELS, "semantic map") as image:
            indices = np.asarray(image, dtype=np.int64)
        return cls(indices, str(data.get("label_set", "coco-stuff-182")))

    def file_label(self) -> str:
        return "map"

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        if info.label_set is not None and self.label_set != info.label_set:
            raise RequestError("map", f"is in label set {self.label_set!r}; this model uses {info.label_set!r}")


def map_png_bytes(condition: SemanticMapCondition) -> bytes:
    """The map as an indexed PNG (palette embedded when the label set has one)."""
    from ldm_studio.core.maps.semantic_maps import write_map_file

    buffer = io.BytesIO()
    write_map_file(buffer, condition.label_map, condition.label_set)
    return buffer.getvalue()


# --- none ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnconditionalCondition(ConditionType):
    """No conditioning input (unconditional models)."""

    kind: ClassVar[str] = "uncond"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> UnconditionalCondition:
        return cls()

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnconditionalCondition:
        return cls()


# --- several at once -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CombinedCondition(ConditionType):
    """Several inputs at once, for models trained on text, class and map together (the demo model).

    A part left as None is dropped the way the model was trained to drop it (its null input).
    """

    kind: ClassVar[str] = "combined"

    text: TextCondition | None = None
    label: ClassCondition | None = None
    semantic: SemanticMapCondition | None = None

    SLOTS: ClassVar[dict[type[ConditionType], str]] = {
        TextCondition: "text",
        ClassCondition: "label",
        SemanticMapCondition: "semantic",
    }

    @classmethod
    def of(cls, parts: Sequence[ConditionType]) -> CombinedCondition:
        """Parts in any order → the combined condition (one part per slot)."""
        slots: dict[str, Any] = {}
        for part in parts:
            slot = cls.SLOTS.get(type(part))
            if slot is None:
                raise RequestError("condition", f"a {type(part).__name__} cannot be combined")
            slots[slot] = part
        return cls(**slots)

    def parts(self) -> tuple[ConditionType, ...]:
        return tuple(p for p in (self.text, self.label, self.semantic) if p is not None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CombinedCondition):
            return NotImplemented
        return self.text == other.text and self.label == other.label and self.semantic == other.semantic

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ConditionType:
        parts = [p for t in cls.SLOTS if (p := t.from_inputs(info, values, prefix)) is not None]
        return cls.of(parts) if parts else UnconditionalCondition()

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind, "parts": [part.to_json(class_names) for part in self.parts()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CombinedCondition:
        return cls.of([condition_from_json(part) for part in data["parts"]])

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        """The text part's prompt, else the class names; no per-kind fields (the JSON has them)."""
        texts = {part["kind"]: CONDITION_KINDS[part["kind"]].a1111(part) for part in data.get("parts", [])}
        best = texts.get("text") or texts.get("class") or A1111Text()
        return A1111Text(best.prompt, best.negative)

    def for_image(self, index: int) -> CombinedCondition:
        return CombinedCondition.of([part.for_image(index) for part in self.parts()])

    def switch_steps(self, steps: int) -> list[int]:
        return sorted({i for part in self.parts() for i in part.switch_steps(steps)})

    def at_step(self, index: int, steps: int) -> CombinedCondition:
        if not self.switch_steps(steps):
            return self
        return CombinedCondition.of([part.at_step(index, steps) for part in self.parts()])

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        for part in self.parts():
            part.check_for(info, batch_size)

    def file_label(self) -> str:
        """What the image shows: the prompt, the class, "map" (each part given)."""
        return " ".join(part.file_label() for part in self.parts())


# --- codec entry points ----------------------------------------------------------------------------


def condition_to_json(condition: ConditionType, class_names: ClassNames = None) -> dict[str, Any]:
    """JSON of a condition; class names come from `class_names` (a model's own list) or ImageNet-1k."""
    return condition.to_json(class_names)


def condition_from_json(data: Any) -> ConditionType:
    """Inverse of `condition_to_json`; ValueError/KeyError/TypeError on malformed input."""
    if not isinstance(data, Mapping):
        raise TypeError("a condition must be a JSON object")
    kind = data["kind"]
    cls = CONDITION_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown condition kind {kind!r}")
    return cls.from_json(data)


def condition_a1111(data: Mapping[str, Any]) -> A1111Text:
    """The A1111 prompt, negative prompt and fields of a condition's JSON."""
    cls = CONDITION_KINDS.get(data.get("kind", ""))
    return cls.a1111(data) if cls is not None else A1111Text()



# The picture inputs (image-to-image start, super-resolution and inpainting conditions) register
# their named inputs and kinds too; imported last, as they build on the classes above.
from ldm_studio.core.generation import control_inputs as _control_inputs  # noqa: E402, F401
from ldm_studio.core.generation import image_inputs as _image_inputs  # noqa: E402, F401
from ldm_studio.core.generation import region_types as _region_types  # noqa: E402, F401  (a prompt per painted region)
