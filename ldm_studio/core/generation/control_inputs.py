"""A ControlNet on a prompt: the condition that carries the control map, and the control image it renders.

`ControlNetCondition` wraps the family's own condition (a prompt) with a `ControlSpec`: which
ControlNet (the name or folder given, its resolved folder and weights hash), its conditioning
scale and the start/end fraction of the schedule it acts in, as diffusers'
`StableDiffusionControlNetPipeline` takes them (guess mode off). The control input is a
painted label map (a segmentation ControlNet's: rendered in the `ade20k-150` palette, a
COCO-Stuff map translated first, what has no counterpart reported) or, for any other
ControlNet, a picture used as it is.

It rides inside the request's condition, so branches, batch splits and recipes keep it with no
code of their own. The named inputs `controlnet`, `control-scale`, `control-start`,
`control-end` (and the `map`, shared with the semantic models) become `generate` options and
batch-row fields. This module imports no torch (the CLI lists its inputs).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ldm_studio.core.errors import FileFormatError, RequestError
from ldm_studio.core.generation.condition_types import (
    A1111Text,
    ClassNames,
    ConditionType,
    InputSpec,
    condition_from_json,
    is_present,
)

if TYPE_CHECKING:
    from ldm_studio.core.maps.label_translation import Translation
    from ldm_studio.core.models.model_folder import ModelInfo

CONTROL_LABEL_SET = "ade20k-150"  # the label set (and palette) the segmentation ControlNets were trained on
CONTROLNET_INPUT = InputSpec(
    "controlnet",
    "ControlNet steering a Stable Diffusion model: an installed ControlNet's name or a diffusers ControlNet folder",
)
CONTROL_NUMBERS = (
    InputSpec(
        "control-scale", "ControlNet conditioning scale (default 1.0)", {"type": float, "dest": "control_scale"}
    ),
    InputSpec(
        "control-start",
        "fraction of the schedule where the ControlNet starts acting, 0..1 (default 0)",
        {"type": float, "dest": "control_start"},
    ),
    InputSpec(
        "control-end",
        "fraction of the schedule where the ControlNet stops acting, 0..1 (default 1)",
        {"type": float, "dest": "control_end"},
    ),
)
CONTROL_INPUTS = ("controlnet", "control-scale", "control-start", "control-end")


@dataclass(frozen=True)
class ControlSpec:
    """Which ControlNet and how strongly, over which part of the schedule (diffusers' meaning).

    `name` is what the person gave (an installed name, or a folder); `path` the folder it
    resolved to; `sha` the weights' short hash (recipes record it, as they do the model's).
    """

    name: str
    path: str
    sha: str | None = None
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self) -> None:
        for key, low, high in (("scale", 0.0, 10.0), ("start", 0.0, 1.0), ("end", 0.0, 1.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise RequestError(f"control-{key}", f"must be a number, got {value!r}")
            if not math.isfinite(value) or not low <= value <= high:
                raise RequestError(f"control-{key}", f"must be between {low:g} and {high:g}, got {value}")
            object.__setattr__(self, key, float(value))
        if self.start >= self.end:
            raise RequestError("control-start", f"{self.start:g} must be below control-end {self.end:g}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "sha": self.sha,
            "scale": self.scale,
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ControlSpec:
        sha = data.get("sha")
        return cls(
            str(data["name"]),
            str(data.get("path") or data["name"]),
            None if sha is None else str(sha),
            float(data.get("scale", 1.0)),
            float(data.get("start", 0.0)),
            float(data.get("end", 1.0)),
        )


@dataclass(frozen=True, eq=False)
class ControlNetCondition(ConditionType):
    """The family's own condition (`base`) plus a ControlNet and its control input.

    Exactly one of `label_map` (a painted map in `label_set`: the control image is its palette
    rendering in `ade20k-150`) and `picture` (an RGB control image, for other ControlNets).
    """

    kind: ClassVar[str] = "controlnet"
    inputs: ClassVar[tuple[InputSpec, ...]] = (CONTROLNET_INPUT, *CONTROL_NUMBERS)

    base: ConditionType
    control: ControlSpec
    label_map: np.ndarray | None = field(default=None, repr=False)
    label_set: str = CONTROL_LABEL_SET
    picture: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.base, ControlNetCondition):
            raise RequestError("controlnet", "one ControlNet at a time")
        if (self.label_map is None) == (self.picture is None):
            raise RequestError("map", "a ControlNet needs exactly one control map (--map MAP.png)")
        if self.label_map is not None:
            arr = np.asarray(self.label_map)
            if arr.ndim != 2 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
                raise RequestError("map", f"must be a 2-D array of label indices, got shape {arr.shape} {arr.dtype}")
            from ldm_studio.core.maps.labels import load_label_set

            labels = load_label_set(self.label_set)
            if not labels.has_palette:
                raise RequestError("map", f"label set {self.label_set} has no palette to render a control image in")
            if int(arr.max()) >= len(labels):
                raise RequestError("map", f"holds label {int(arr.max())}, outside the {len(labels)} of {labels.name}")
            arr = arr.astype(np.int64, copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, "label_map", arr)
        else:
            pic = np.asarray(self.picture)
            if pic.ndim != 3 or pic.shape[2] != 3 or pic.dtype != np.uint8 or pic.size == 0:
                raise RequestError("map", f"a control picture must be RGB (H, W, 3) uint8, got {pic.shape} {pic.dtype}")
            pic = pic.copy()
            pic.setflags(write=False)
            object.__setattr__(self, "picture", pic)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ControlNetCondition):
            return NotImplemented
        return (
            self.base == other.base
            and self.control == other.control
            and self.label_set == other.label_set
            and _same(self.label_map, other.label_map)
            and _same(self.picture, other.picture)
        )

    __hash__ = None  # type: ignore[assignment]

    # --- the control image ------------------------------------------------------------------------

    def translation(self) -> Translation | None:
        """The map in `ade20k-150` (translated from another label set, with what had no counterpart);
        None for a picture."""
        from ldm_studio.core.maps.label_translation import Translation, translate_map

        if self.label_map is None:
            return None
        if self.label_set == CONTROL_LABEL_SET:
            return Translation(np.asarray(self.label_map))
        return translate_map(self.label_map, self.label_set, CONTROL_LABEL_SET)

    def control_image(self, width: int, height: int) -> np.ndarray:
        """The (height, width, 3) uint8 control image: the map's palette colours (nearest-neighbour
        sized, so only palette colours appear), or the picture resized as diffusers' control image
        processor resizes it (Lanczos; a picture of the right size is used as it is)."""
        from PIL import Image

        translation = self.translation()
        if translation is not None:
            return render_control_map(translation.indices, width, height)
        assert self.picture is not None
        if self.picture.shape[:2] == (height, width):
            return np.asarray(self.picture)
        resized = Image.fromarray(self.picture).resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(resized)

    # --- ConditionType ------------------------------------------------------------------------------

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ControlNetCondition | None:
        """Not a family builder: `conditions.condition_from_values` wraps the family's condition with `wrap`."""
        return None

    @classmethod
    def wrap(cls, base: ConditionType, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> ConditionType:
        """`base` with the ControlNet the named inputs give, or `base` itself when no `controlnet` is given."""
        name = values.get("controlnet")
        if not is_present(name):
            for key in (*CONTROL_INPUTS[1:], "map"):
                if is_present(values.get(key)):
                    raise RequestError(prefix + key, "needs a ControlNet (--controlnet NAME_OR_FOLDER)")
            return base
        from ldm_studio.core.models.controlnets import resolve_controlnet

        path, sha = resolve_controlnet(str(name), prefix + "controlnet")
        numbers = {key: values.get(key) for key in CONTROL_INPUTS[1:]}
        spec = ControlSpec(
            str(name),
            str(path),
            sha,
            1.0 if numbers["control-scale"] is None else numbers["control-scale"],
            0.0 if numbers["control-start"] is None else numbers["control-start"],
            1.0 if numbers["control-end"] is None else numbers["control-end"],
        )
        map_path = values.get("map")
        if map_path is None:
            raise RequestError(prefix + "map", "a ControlNet needs a control map (--map MAP.png)")
        label_map, label_set, picture = read_control_map(Path(str(map_path)))
        return cls(base, spec, label_map, label_set, picture)

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "base": self.base.to_json(class_names),
            "control": self.control.to_json(),
        }
        if self.label_map is not None:
            from ldm_studio.core.maps.semantic_maps import write_map_file

            buffer = io.BytesIO()
            write_map_file(buffer, self.label_map, self.label_set)
            data.update(label_set=self.label_set, map_png=base64.b64encode(buffer.getvalue()).decode("ascii"))
        else:
            assert self.picture is not None
            data["picture_png"] = _png(self.picture)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ControlNetCondition:
        from ldm_studio.core.files.untrusted import MAX_MAP_PIXELS, open_image_bounded

        base = condition_from_json(data["base"])
        control = ControlSpec.from_json(data["control"])
        if "map_png" in data:
            raw = base64.b64decode(data["map_png"], validate=True)
            with open_image_bounded(raw, "map_png", MAX_MAP_PIXELS, "control map") as image:
                indices = np.asarray(image, dtype=np.int64)
            return cls(base, control, indices, str(data.get("label_set", CONTROL_LABEL_SET)))
        raw = base64.b64decode(data["picture_png"], validate=True)
        with open_image_bounded(raw, "picture_png", MAX_MAP_PIXELS, "control picture") as image:
            picture = np.asarray(image.convert("RGB")).copy()
        return cls(base, control, picture=picture)

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        """The base's prompt, plus A1111's ControlNet extension fields (module, model, weight, guidance window)."""
        from ldm_studio.core.generation.condition_types import condition_a1111

        base = condition_a1111(data["base"])
        control = data["control"]
        text = (
            f"Module: none, Model: {control['name']}"
            + (f" [{control['sha']}]" if control.get("sha") else "")
            + f", Weight: {control['scale']:g}, Guidance Start: {control['start']:g}, Guidance End: {control['end']:g}"
        )
        return A1111Text(base.prompt, base.negative, {**base.fields, "ControlNet 0": f'"{text}"'})

    def for_image(self, index: int) -> ControlNetCondition:
        base = self.base.for_image(index)
        if base is self.base:
            return self
        return ControlNetCondition(base, self.control, self.label_map, self.label_set, self.picture)

    def check_for(self, info: ModelInfo, batch_size: int) -> None:
        self.base.check_for(info, batch_size)

    def parts(self) -> tuple[ConditionType, ...]:
        return self.base.parts()

    def output_size(self, info: ModelInfo) -> tuple[int, int] | None:
        return self.base.output_size(info)

    def file_label(self) -> str:
        return self.base.file_label()


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _png(arr: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(arr)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_control_map(indices: np.ndarray, width: int, height: int) -> np.ndarray:
    """An `ade20k-150` label map as the segmentation ControlNets' control image: (height, width, 3)
    uint8 holding only the palette colours of its labels (sized nearest-neighbour, never blended)."""
    from ldm_studio.core.maps.labels import load_label_set

    arr = np.asarray(indices)
    rows = (np.arange(height) * arr.shape[0]) // height
    cols = (np.arange(width) * arr.shape[1]) // width
    sized = arr[rows[:, None], cols[None, :]]
    return load_label_set(CONTROL_LABEL_SET).palette()[sized]


def read_control_map(path: Path) -> tuple[np.ndarray | None, str, np.ndarray | None]:
    """A control map file → (label map, its label set, None), or (None, …, RGB picture) when it is no label map.

    Label indices (grayscale/palette PNG) are `ade20k-150` indices; an RGB file in the ADE20K palette
    is read exactly; one in the COCO-Stuff palette is a COCO map (translated when rendered); any
    other picture is a control image for a non-segmentation ControlNet, used as it is.
    """
    from ldm_studio.core.generation.image_inputs import read_image
    from ldm_studio.core.maps.semantic_maps import read_map_file, read_map_pixels

    file = path.expanduser()
    pixels = read_map_pixels(file)
    if pixels.rgb is None:
        return read_map_file(file, CONTROL_LABEL_SET), CONTROL_LABEL_SET, None
    for label_set in (CONTROL_LABEL_SET, "coco-stuff-182"):
        try:
            return read_map_file(file, label_set), label_set, None
        except FileFormatError:
            continue
    return None, CONTROL_LABEL_SET, read_image(file)
