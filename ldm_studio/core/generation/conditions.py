"""A condition from named inputs (prompt, negative, class, map, …), checked against the model's family.

The `generate` options, batch-spec rows and recipes all name their inputs the same way (the
names the condition types declare in `condition_types`); this is the one place that turns
them into a condition, through the model's `FamilySpec`, and says which input is missing
or does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import INPUTS, class_names_of, is_present, parse_classes
from ldm_studio.core.generation.control_inputs import CONTROL_INPUTS, ControlNetCondition
from ldm_studio.core.generation.image_inputs import INIT_INPUTS, InitImage
from ldm_studio.core.generation.requests import Condition
from ldm_studio.core.models.model_folder import ModelInfo

__all__ = [
    "INPUTS",
    "class_names_of",
    "condition_from_inputs",
    "condition_from_values",
    "init_from_values",
    "parse_classes",
]


def _family(info: ModelInfo):
    from ldm_studio.core.families.registry import get_family

    spec = get_family(info.family)
    if spec is None:
        raise RequestError("model", f"the {info.family!r} family takes no inputs this version knows")
    return spec


def condition_from_values(info: ModelInfo, values: Mapping[str, Any], option_prefix: str = "") -> Condition:
    """The condition for `info`'s family from named inputs (`{"prompt": ..., "class": [...], ...}`).

    `image`, `mask` and `strength` are left to `init_from_values` unless the family takes the
    picture as its condition (super-resolution, inpainting).
    """
    spec = _family(info)
    if "image" not in spec.input_names:
        values = {name: value for name, value in values.items() if name not in INIT_INPUTS}
    if ControlNetCondition not in spec.conditions:
        if is_present(values.get("controlnet")):
            raise RequestError(
                option_prefix + "controlnet",
                f"does not apply to a {spec.name!r} model: a ControlNet steers a Stable Diffusion U-Net",
            )
        return spec.condition_from_inputs(info, values, option_prefix)
    # a family a ControlNet can steer: the control inputs (and the control map) wrap its own condition
    control = {name: values.get(name) for name in (*CONTROL_INPUTS, "map")}
    own = {name: value for name, value in values.items() if name not in control}
    controlled = is_present(control["controlnet"])
    if "map" in spec.input_names and (not controlled or is_present(values.get("regions"))):
        # the family's own map (region prompts): without a ControlNet it is the family's alone; with
        # one and region texts, the same painted map is both the control map and the regions' map
        own["map"] = control["map"] if controlled else control.pop("map")
    return ControlNetCondition.wrap(spec.condition_from_inputs(info, own, option_prefix), info, control, option_prefix)


def init_from_values(info: ModelInfo, values: Mapping[str, Any], option_prefix: str = "") -> InitImage | None:
    """The image-to-image start from the named inputs `image`, `mask`, `strength`, `feather` (None without an image).

    For a family whose condition is the picture, only a stray `strength` or `feather` is refused here.
    """
    spec = _family(info)
    if "image" in spec.input_names:
        for name in ("strength", "feather"):
            if values.get(name) is not None:
                raise RequestError(option_prefix + name, f"does not apply to a {spec.name!r} model")
        return None
    return InitImage.from_inputs(values, option_prefix)


def condition_from_inputs(
    info: ModelInfo,
    *,
    prompt: str | None = None,
    negative: str = "",
    classes: Sequence[str | int] | None = None,
    map_path: str | Path | None = None,
    image_path: str | Path | None = None,
    mask_path: str | Path | None = None,
    option_prefix: str = "",
    **others: Any,
) -> Condition:
    """Keyword form of `condition_from_values` (`classes` is the `class` input, `map_path` the `map`,
    `image_path`/`mask_path` the `image`/`mask` of a super-resolution or inpainting model)."""
    values = {
        "prompt": prompt,
        "negative": negative,
        "class": classes,
        "map": map_path,
        "image": image_path,
        "mask": mask_path,
        **others,
    }
    return condition_from_values(info, values, option_prefix)
