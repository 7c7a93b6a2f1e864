"""The one registry of model families.

A family is registered once, by its own module, as a frozen `FamilySpec`: the model class,
the condition types it takes (and so its named inputs), the components of its folder, its
sampler defaults, the diffusers pipelines it is recognised by and its converter hook for
original CompVis checkpoints. Every other module asks the registry; none names a family.

The built-in families live in `ldm_studio.core.families`; `get_family` imports that package
on first use, so asking the registry is enough to have them registered.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import INPUTS, ConditionType, is_present
from ldm_studio.core.models.model_folder import Defaults

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel
    from ldm_studio.core.models.model_folder import ModelInfo

BUILT_IN = "ldm_studio.core.families"


@dataclass(frozen=True)
class DiffusersLayout:
    """A diffusers pipeline class a family reads as is (a `model_index.json` repo)."""

    pipeline: str
    defaults: Defaults
    scale_factor: float | None = None  # overrides the autoencoder config's (see the family's note)
    # the repo's own settings (its scheduler config) refining `defaults`: a few-step model of the same class
    refine: Callable[[Path, Defaults], Defaults] | None = None

    def defaults_for(self, root: Path) -> Defaults:
        return self.refine(root, self.defaults) if self.refine is not None else self.defaults


@dataclass
class CondStageResult:
    """What a family's converter hook makes of the conditioning stage.

    `writers` write folder parts (folder name → function of the staging path); `info` holds the
    `ModelInfo` fields the weights determine (label set, classes, null class); `defaults`
    overrides the family's sampler defaults when the weights call for it.
    """

    writers: dict[str, Callable[[Path], Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    defaults: Defaults | None = None


@dataclass(frozen=True)
class ConverterHook:
    """How an original CompVis config of this family is recognised, checked and converted.

    `cond_stages` lists the (cond_stage_config.target, conditioning_key) pairs the family
    converts ((None, None): no conditioning stage). The U-Net must cross-attend exactly when
    `cross_attention`; it takes the latent plus `concat_channels(config, first_stage_layout)`
    channels. `check(config, unet_layout)` adds the family's own checks (ConversionError);
    `convert_cond_stage(config, weights, file, tokenizer)` converts the conditioning stage.
    A family with `needs_tokenizer` gets the tokenizer loaded before the checkpoint is read.
    """

    cond_stages: tuple[tuple[str | None, str | None], ...]
    cross_attention: bool = False
    concat_channels: Callable[[Any, Any], int] = lambda _config, _first_stage: 0
    concat_name: str = "conditioning"  # what the concatenated channels are, for messages
    check: Callable[[Any, Any], None] | None = None
    convert_cond_stage: Callable[[Any, dict[str, Any], Path, Any], CondStageResult] | None = None
    needs_tokenizer: bool = False


@dataclass(frozen=True)
class FamilySpec:
    """Everything the rest of the code knows about a family."""

    name: str
    title: str  # what it conditions on, in a few words
    model_class: type[LatentDiffusionModel]
    builder: type[ConditionType]  # builds the condition from named inputs
    conditions: tuple[type[ConditionType], ...]  # condition types a request may carry
    components: tuple[str, ...]  # folders besides the autoencoder
    defaults: Defaults = field(default_factory=Defaults)
    diffusers: tuple[DiffusersLayout, ...] = ()
    converter: ConverterHook | None = None
    uses_map: bool = False  # the window offers the map painter
    # a prompt per painted region (`region_types.RegionalCondition`): the model's `region_context`
    # embeds a region's text in its cross-attention context, and `map` + `regions` are inputs
    regions: bool = False

    @property
    def is_combined(self) -> bool:
        """Takes any subset of its inputs (each optional), rather than exactly one condition."""
        return len(self.input_types) > 1

    @property
    def input_types(self) -> tuple[type[ConditionType], ...]:
        """The single condition types a person fills in for this family (one editor each)."""
        return _input_types(self.builder)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The named inputs this family takes (`prompt`, `class`, …)."""
        names: dict[str, None] = {}
        for kind in self.input_types:
            names.update((spec.name, None) for spec in kind.inputs)
        if self.regions:
            names.update({"map": None, "regions": None})
        return tuple(names)

    def accepts(self, condition: object) -> bool:
        from ldm_studio.core.generation.region_types import RegionalCondition

        if isinstance(condition, RegionalCondition):
            return self.regions and isinstance(condition.base, self.conditions)
        return isinstance(condition, self.conditions)

    def condition_from_inputs(self, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ConditionType:
        """The condition for named inputs; RequestError naming an input that is missing or does not apply."""
        allowed = set(self.input_names)
        for name, value in values.items():
            if name not in allowed and _given(value, name):
                raise RequestError(prefix + name, f"does not apply to a {self.name!r} model")
        if self.regions:
            from ldm_studio.core.generation.region_types import regional_from_inputs

            regional = regional_from_inputs(self, info, values, prefix)
            if regional is not None:
                return regional
        condition = self.builder.from_inputs(info, values, prefix)
        if condition is None:
            first = self.builder.inputs[0].name if self.builder.inputs else "input"
            raise RequestError(prefix + first, f"a {self.name} model {self.builder.required_message()}")
        return condition


def _input_types(kind: type[ConditionType]) -> tuple[type[ConditionType], ...]:
    slots = getattr(kind, "SLOTS", None)
    return tuple(slots) if slots else (kind,)


def _given(value: Any, name: str) -> bool:
    """A value that is there and is not the input's own default (an empty negative prompt is no input)."""
    spec = INPUTS.get(name)
    default = spec.cli.get("default") if spec is not None else None
    return is_present(value) and (default is None or value != default)


_FAMILIES: dict[str, FamilySpec] = {}


def register(spec: FamilySpec) -> FamilySpec:
    """Add a family (called once by the family's module); a second spec of the same name is a bug."""
    if spec.name in _FAMILIES and _FAMILIES[spec.name] is not spec:
        raise ValueError(f"family {spec.name!r} is registered twice")
    _FAMILIES[spec.name] = spec
    return spec


def _load_built_ins() -> None:
    importlib.import_module(BUILT_IN)


def families() -> dict[str, FamilySpec]:
    """Every registered family by name."""
    _load_built_ins()
    return dict(_FAMILIES)


def family_names() -> tuple[str, ...]:
    return tuple(families())


def get_family(name: str) -> FamilySpec | None:
    """The family called `name`, or None."""
    return families().get(name)


def family_of_pipeline(pipeline: str | None) -> tuple[FamilySpec, DiffusersLayout] | None:
    """The family that reads a diffusers pipeline class as is, with that layout's settings."""
    for spec in families().values():
        for layout in spec.diffusers:
            if layout.pipeline == pipeline:
                return spec, layout
    return None


def diffusers_pipelines() -> tuple[str, ...]:
    """Every diffusers pipeline class some family reads."""
    return tuple(layout.pipeline for spec in families().values() for layout in spec.diffusers)


def family_for_original(target: str | None, conditioning_key: str | None) -> FamilySpec | None:
    """The family whose converter takes an original config's conditioning stage and key."""
    for spec in families().values():
        if spec.converter is not None and (target, conditioning_key) in spec.converter.cond_stages:
            return spec
    return None
