"""A prompt per painted region: the `regions` condition type (no torch).

A `RegionalCondition` wraps a family's own condition (the global prompt: a `TextCondition`, or the
demo model's `CombinedCondition`) with a label map and one text per label present in it
(label name → text; a label without a text of its own gets its name). The text of a region
steers only the pixels of its label (`core/generation/regions.py` masks its tokens' cross-attention
there). The named input `regions` is a JSON object (`generate --regions '{"sea": "a stormy sea"}'`,
a batch row's `"regions": {...}`); the map comes from the `map` input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import (
    MAX_PROMPT_CHARS,
    A1111Text,
    ClassNames,
    ConditionType,
    InputSpec,
    SemanticMapCondition,
    condition_a1111,
    condition_from_json,
)

if TYPE_CHECKING:
    from ldm_studio.core.models.model_folder import ModelInfo

MAX_REGIONS = 32  # each region adds a text's tokens to every cross-attention; a painted map rarely has more labels

REGIONS_INPUT = InputSpec(
    "regions",
    'a text per painted label, a JSON object: \'{"sea": "a stormy sea with white foam"}\' (with --map; '
    "labels not named keep their label name)",
)


def present_labels(label_map: np.ndarray, label_set: str) -> list[tuple[int, str]]:
    """The (index, name) of every label painted in `label_map`, in index order."""
    from ldm_studio.core.maps.labels import load_label_set

    names = load_label_set(label_set).names
    return [(int(i), names[i] if i < len(names) else f"label {i}") for i in np.unique(label_map)]


def parse_regions(value: Any, field: str = "regions") -> dict[str, str]:
    """Label name → text, from a JSON object (text on the CLI, an object in a batch row or recipe)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RequestError(field, f"is not a JSON object: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, Mapping):
        raise RequestError(field, f'must be an object of label name → text, like {{"sea": "a stormy sea"}}: {value!r}')
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise RequestError(field, f"{name!r}: label names and texts must be text")
        out[name] = text
    return out


@dataclass(frozen=True, eq=False)
class RegionalCondition(ConditionType):
    """The global condition `base`, plus one text per label of `semantic` (`regions`, in label order)."""

    kind: ClassVar[str] = "regions"
    inputs: ClassVar[tuple[InputSpec, ...]] = (REGIONS_INPUT,)

    base: ConditionType
    semantic: SemanticMapCondition
    regions: tuple[tuple[str, str], ...]  # (label name, text) of every label present in the map

    def __post_init__(self) -> None:
        if isinstance(self.base, RegionalCondition):
            raise RequestError("regions", "region prompts cannot be nested")
        present = [name for _, name in present_labels(self.semantic.label_map, self.semantic.label_set)]
        regions = tuple((str(n), str(t)) for n, t in self.regions)
        names = [n for n, _ in regions]
        if names != present:
            missing = [n for n in present if n not in names]
            extra = [n for n in names if n not in present]
            what = f"{extra[0]!r} is not painted in the map" if extra else f"no text for the painted {missing[0]!r}"
            raise RequestError("regions", what)
        if len(regions) > MAX_REGIONS:
            raise RequestError("regions", f"the map has {len(regions)} labels; at most {MAX_REGIONS} take a text")
        for name, text in regions:
            if len(text) > MAX_PROMPT_CHARS:
                limit = MAX_PROMPT_CHARS
                raise RequestError("regions", f"the text of {name!r} is {len(text)} characters; the limit is {limit}")
        object.__setattr__(self, "regions", regions)

    @classmethod
    def build(cls, base: ConditionType, semantic: SemanticMapCondition, texts: Mapping[str, str]) -> RegionalCondition:
        """Every label present in the map gets its text from `texts`, else its name; a text for a
        label that is not painted is refused (a typo would silently do nothing)."""
        from ldm_studio.core.maps.labels import load_label_set

        labels = load_label_set(semantic.label_set)
        present = dict(present_labels(semantic.label_map, semantic.label_set))
        given: dict[int, str] = {}
        for name, text in texts.items():
            try:
                index = labels.index_of(name)  # a name or an alias, case and spacing ignored
            except RequestError:
                index = -1
            if index not in present:
                raise RequestError(
                    "regions", f"{name!r} is not painted in the map (painted: {', '.join(present.values())})"
                )
            given[index] = text
        return cls(base, semantic, tuple((name, given.get(index, name)) for index, name in present.items()))

    # --- facts -------------------------------------------------------------------------------------

    @property
    def texts(self) -> dict[str, str]:
        return dict(self.regions)

    def region_indices(self) -> list[int]:
        """The label index of each region, in the order of `regions`."""
        return [index for index, _ in present_labels(self.semantic.label_map, self.semantic.label_set)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegionalCondition):
            return NotImplemented
        return self.base == other.base and self.semantic == other.semantic and self.regions == other.regions

    __hash__ = None  # type: ignore[assignment]

    # --- named inputs: the family registry builds these (`FamilySpec.condition_from_inputs`) -------

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> RegionalCondition | None:
        raise RequestError(prefix + "regions", "region prompts are built with the family's own condition")

    # --- codec -------------------------------------------------------------------------------------

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base": self.base.to_json(class_names),
            "map": self.semantic.to_json(class_names),
            "regions": dict(self.regions),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionalCondition:
        semantic = condition_from_json(data["map"])
        if not isinstance(semantic, SemanticMapCondition):
            raise ValueError("a regions condition's map must be a semantic map")
        return cls.build(condition_from_json(data["base"]), semantic, parse_regions(data["regions"]))

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        """The base's prompt and fields, plus `Regions: {"sea": "..."}` (the texts as JSON)."""
        base = condition_a1111(data["base"])
        fields = dict(base.fields)
        fields["Regions"] = json.dumps(data.get("regions", {}), ensure_ascii=False)
        return A1111Text(base.prompt, base.negative, fields)

    # --- the rest ----------------------------------------------------------------------------------

    def parts(self) -> tuple[ConditionType, ...]:
        return self.base.parts()

    def for_image(self, index: int) -> RegionalCondition:
        return RegionalCondition(self.base.for_image(index), self.semantic, self.regions)

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        self.base.check_for(info, batch_size)

    def file_label(self) -> str:
        return self.base.file_label()


def regional_from_inputs(
    spec: Any, info: ModelInfo, values: Mapping[str, Any], prefix: str = ""
) -> RegionalCondition | None:
    """A `RegionalCondition` from named inputs, or None when they ask for none.

    `spec` is a `FamilySpec` that takes regions. Regions are asked for by a `regions` input, or, on a
    family whose own condition takes no map (Stable Diffusion, the text LDM), by a `map` alone: then
    every painted label gets its name as its text.
    """
    from ldm_studio.core.generation.condition_types import is_present

    own_map = any(s.name == "map" for kind in spec.input_types for s in kind.inputs)
    raw = values.get("regions")
    wanted = is_present(raw)
    map_given = values.get("map") is not None
    if not wanted and (own_map or not map_given):
        return None
    if not map_given:
        raise RequestError(prefix + "regions", "needs a map (--map): the regions are its painted labels")
    texts = parse_regions(raw, prefix + "regions") if wanted else {}
    base_values = {k: v for k, v in values.items() if k != "regions" and (own_map or k != "map")}
    base = spec.builder.from_inputs(info, base_values, prefix)
    if base is None:
        first = spec.builder.inputs[0].name if spec.builder.inputs else "input"
        raise RequestError(prefix + first, f"a {spec.name} model {spec.builder.required_message()}")
    semantic = SemanticMapCondition.from_inputs(info, values, prefix)
    assert semantic is not None  # the map is given
    return RegionalCondition.build(base, semantic, texts)
