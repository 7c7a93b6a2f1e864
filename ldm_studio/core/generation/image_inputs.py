"""Pictures as inputs: the one image/mask reader, the image-to-image start, and the image conditions.

- `read_image` / `read_mask`: the one limited reader (PIL, refusing decompression bombs and
  huge images before decoding them); every problem is one line naming the file.
- `InitImage`: the image-to-image start of any family (image, `strength` 0–1, optional mask
  and its `feather` radius), carried by the request beside its condition.
- `feathered`: the painted (hard) mask blurred by the feather radius, the soft mask masked
  image-to-image blends with (see `img2img`).
- `SuperResCondition` (`superres` family) and `InpaintCondition` (`inpaint` family): for those
  models the same named inputs `image`/`mask` are the condition itself.

A mask is white (≥ 0.5) where the picture is repainted, as CompVis `scripts/inpaint.py` reads it.
Recipes embed pictures as PNG (a copy of at most 512 px on its longest side, with the original's
size and the sha256 of its RGB pixels). This module imports no torch (the CLI lists its inputs).
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import INPUTS, A1111Text, ClassNames, ConditionType, InputSpec

if TYPE_CHECKING:
    from ldm_studio.core.models.model_folder import ModelInfo

MAX_PIXELS = 64 * 1024 * 1024  # 8192 × 8192: far above any LDM input, far below a bomb
EMBED_SIDE = 512  # recipes embed a copy no larger than this on its longest side
SIZE_MULTIPLE = 8  # a super-resolution input is cut down to this multiple (the U-Net's downsamplings)

IMAGE_INPUT = InputSpec(
    "image",
    "input picture (PNG/JPEG…): the image-to-image start on any model; the condition of superres/inpaint models",
    {"type": Path},
    path=True,
)
MASK_INPUT = InputSpec("mask", "mask picture: white (>= 0.5) where the image is repainted", {"type": Path}, path=True)
STRENGTH_INPUT = InputSpec(
    "strength", "image-to-image strength 0..1 (0 = the input back, 1 = plain generation; default 0.75)", {"type": float}
)
FEATHER_INPUT = InputSpec(
    "feather", "soft mask edge: the mask is blurred by this many pixels (default 0, a hard edge)", {"type": int}
)
INIT_INPUTS = ("image", "mask", "strength", "feather")
DEFAULT_STRENGTH = 0.75
MAX_FEATHER = 128  # px: beyond any useful soft edge (A1111 stops at 64), small enough to blur at once


# --- reading -------------------------------------------------------------------------------------


def _open(path: str | Path, mode: str) -> np.ndarray:
    """The picture as an array in PIL `mode`, through the core's one bounded image opener."""
    from PIL import Image

    from ldm_studio.core.files.untrusted import open_image_bounded

    file = Path(path).expanduser()
    with open_image_bounded(file, file, MAX_PIXELS, "picture") as image:
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(background, rgba).convert(mode)).copy()
        return np.asarray(image.convert(mode)).copy()


def read_image(path: str | Path) -> np.ndarray:
    """An RGB picture (H, W, 3) uint8; transparency is put on white."""
    return _open(path, "RGB")


def read_mask(path: str | Path) -> np.ndarray:
    """A mask (H, W) bool: True (repaint) where the grey level is ≥ 0.5, as CompVis inpaint.py reads it."""
    return binary_mask(_open(path, "L"))


def binary_mask(values: np.ndarray) -> np.ndarray:
    """(H, W) grey levels (uint8 0–255, or floats 0–1, or bool) → bool, True at ≥ 0.5."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr.copy()
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / 255.0 >= 0.5
    return arr.astype(np.float32) >= 0.5


def feathered(mask: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool → (H, W) float32 in [0, 1]: the mask blurred by a Gaussian reaching `radius` pixels.

    The kernel is truncated at `radius` (sigma = radius / 2, taps -radius..radius, separable, the
    edge repeated), so pixels farther than `radius` from every masked pixel stay exactly 0 (the
    input's own pixels come back there) and the blur never reaches past the soft edge a person
    sees. `radius` 0 is the hard mask as 0/1.
    """
    soft = np.asarray(mask, dtype=np.float32)
    r = int(radius)
    if r <= 0 or soft.size == 0:
        return soft.copy()
    taps = np.arange(-r, r + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / (r / 2)) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(soft, [(r, r) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        length = soft.shape[axis]
        out = np.zeros_like(soft)
        for i, weight in enumerate(kernel):
            out += weight * (padded[i : i + length] if axis == 0 else padded[:, i : i + length])
        soft = out
    return np.clip(soft, 0.0, 1.0)


def pixels_sha256(image: np.ndarray) -> str:
    """sha256 of the RGB pixels (row-major uint8): names a picture independent of its file format."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


# --- recipe embedding ----------------------------------------------------------------------------


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _check_image(name: str, image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0 or arr.dtype != np.uint8:
        raise RequestError(name, f"must be an RGB picture (H, W, 3) uint8, got shape {arr.shape} {arr.dtype}")
    return _frozen(arr)


def _check_mask(name: str, mask: Any) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise RequestError(name, f"must be a 2-D mask, got shape {arr.shape}")
    return _frozen(binary_mask(arr))


def _png(arr: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unpng(text: str, mode: str) -> np.ndarray:
    from ldm_studio.core.files.untrusted import open_image_bounded

    with open_image_bounded(base64.b64decode(text, validate=True), "recipe picture", MAX_PIXELS, "picture") as image:
        return np.asarray(image.convert(mode)).copy()


def image_to_json(image: np.ndarray) -> dict[str, Any]:
    """A picture for a recipe: a PNG copy ≤ 512 px on its longest side, its original size and sha256."""
    from PIL import Image

    height, width = image.shape[:2]
    copy = image
    if max(width, height) > EMBED_SIDE:
        scale = EMBED_SIDE / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        copy = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return {"png": _png(copy), "width": width, "height": height, "sha256": pixels_sha256(image)}


def image_from_json(data: Mapping[str, Any]) -> np.ndarray:
    """The embedded picture (the downscaled copy when the original was larger than 512 px)."""
    return _unpng(str(data["png"]), "RGB")


def mask_to_json(mask: np.ndarray) -> dict[str, Any]:
    """A mask for a recipe: a 1-bit PNG at its own size (masks compress to almost nothing)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool)).save(buffer, format="PNG")
    return {"png": base64.b64encode(buffer.getvalue()).decode("ascii"), "width": mask.shape[1], "height": mask.shape[0]}


def mask_from_json(data: Mapping[str, Any]) -> np.ndarray:
    return binary_mask(_unpng(str(data["png"]), "L"))


def _arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


# --- image-to-image start -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InitImage:
    """The picture an image-to-image run starts from, on any family.

    `strength` picks the starting step as diffusers' img2img pipelines do (1 = plain
    generation, 0 = the input's reconstruction). With a `mask`, only its white part is
    repainted; the written image keeps the other pixels exactly. `feather` (pixels) softens the
    mask's edge: the mask is kept as painted (hard, as recipes embed it) and blurred by
    `feathered` where the loop and the composite use it.
    """

    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8
    strength: float = DEFAULT_STRENGTH
    mask: np.ndarray | None = field(default=None, repr=False)  # (H, W) bool, True = repaint
    original_size: tuple[int, int] | None = None  # (width, height) when `image` is a recipe's downscaled copy
    sha256: str | None = None  # of the original's pixels (kept from a recipe)
    feather: int = 0  # soft-edge radius of the mask in pixels of `image` (0: a hard edge)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", _check_image("image", self.image))
        if self.mask is not None:
            object.__setattr__(self, "mask", _check_mask("mask", self.mask))
        feather = self.feather
        if isinstance(feather, bool) or not isinstance(feather, (int, np.integer)):
            raise RequestError("feather", f"must be a whole number of pixels, got {feather!r}")
        if not 0 <= feather <= MAX_FEATHER:
            raise RequestError("feather", f"must be between 0 and {MAX_FEATHER} pixels, got {feather}")
        object.__setattr__(self, "feather", int(feather))
        value = self.strength
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise RequestError("strength", f"must be a number, got {value!r}")
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise RequestError("strength", f"must be between 0 and 1, got {value}")
        object.__setattr__(self, "strength", float(value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InitImage):
            return NotImplemented
        return (
            self.strength == other.strength
            and self.feather == other.feather
            and _arrays_equal(self.image, other.image)
            and _arrays_equal(self.mask, other.mask)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the picture as given."""
        return self.image.shape[1], self.image.shape[0]

    @classmethod
    def from_inputs(cls, values: Mapping[str, Any], prefix: str = "") -> InitImage | None:
        """From the named inputs `image`, `mask`, `strength`, `feather`; None without an image."""
        image, mask, strength, feather = (values.get(name) for name in INIT_INPUTS)
        if image is None:
            for name, value in (("mask", mask), ("strength", strength), ("feather", feather)):
                if value is not None:
                    raise RequestError(prefix + name, f"applies only with an {prefix}image")
            return None
        if feather is not None and mask is None:
            raise RequestError(prefix + "feather", f"applies only with a {prefix}mask")
        if isinstance(feather, str):
            try:
                feather = int(feather.strip())
            except ValueError:
                raise RequestError(prefix + "feather", f"{feather!r} is not a whole number of pixels") from None
        if strength is None:
            strength = DEFAULT_STRENGTH
        elif isinstance(strength, str):
            try:
                strength = float(strength.strip())
            except ValueError:
                raise RequestError(prefix + "strength", f"{strength!r} is not a number") from None
        try:
            return cls(
                read_image(image) if isinstance(image, (str, Path)) else image,
                strength,
                None if mask is None else read_mask(mask) if isinstance(mask, (str, Path)) else mask,
                feather=0 if feather is None else feather,
            )
        except RequestError as exc:
            raise RequestError(prefix + exc.field, exc.problem) from None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"strength": self.strength, "image": image_to_json(self.image)}
        if self.original_size is not None:  # already a recipe's copy: keep the original's facts
            data["image"].update(width=self.original_size[0], height=self.original_size[1], sha256=self.sha256)
        if self.mask is not None:
            data["mask"] = mask_to_json(self.mask)
            if self.feather:
                data["feather"] = self.feather
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InitImage:
        image_data = data["image"]
        image = image_from_json(image_data)
        size = (int(image_data["width"]), int(image_data["height"]))
        downscaled = size != (image.shape[1], image.shape[0])
        return cls(
            image,
            float(data["strength"]),
            mask_from_json(data["mask"]) if data.get("mask") else None,
            size if downscaled else None,
            str(image_data.get("sha256")) if downscaled else None,
            int(data.get("feather", 0)),
        )


def default_size(info: ModelInfo, condition: ConditionType, init: InitImage | None) -> tuple[int, int] | None:
    """The output (width, height) a picture input implies, when the person gave none.

    A condition may fix it (super-resolution: latent factor × its input); an image-to-image
    start keeps its picture's size, cut down to the model's latent factor.
    """
    fixed = condition.output_size(info)
    if fixed is not None:
        return fixed
    if init is None:
        return None
    f = info.latent_factor
    width, height = init.size
    return max(f, width // f * f), max(f, height // f * f)


def resize_notes(request: Any, info: ModelInfo) -> list[str]:
    """A line for each picture input that will be resized to the output (the warning a person sees)."""
    s = request.settings
    pictures = [("image", request.init.image), ("mask", request.init.mask)] if request.init is not None else []
    condition = request.condition
    if isinstance(condition, InpaintCondition):
        pictures += [("image", condition.image), ("mask", condition.mask)]
    notes = []
    for name, arr in pictures:
        if arr is not None and arr.shape[:2] != (s.height, s.width):
            notes.append(f"the {name} ({arr.shape[1]}x{arr.shape[0]}) is resized to {s.width}x{s.height}")
    if isinstance(condition, SuperResCondition):
        f = info.latent_factor
        height, width = condition.image.shape[:2]
        if (width, height) != (s.width // f, s.height // f):
            notes.append(f"the image ({width}x{height}) is resized to {s.width // f}x{s.height // f} (output / {f})")
    return notes


# --- the image conditions --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SuperResCondition(ConditionType):
    """A low-resolution picture to upscale (`superres` family): the output is latent-factor × its size."""

    kind: ClassVar[str] = "superres"
    inputs: ClassVar[tuple[InputSpec, ...]] = (IMAGE_INPUT,)

    image: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", _check_image("image", self.image))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SuperResCondition):
            return NotImplemented
        return _arrays_equal(self.image, other.image)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def required_message(cls) -> str:
        return "needs an image to upscale"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> SuperResCondition | None:
        image = values.get("image")
        if image is None:
            return None
        return cls(read_image(image) if isinstance(image, (str, Path)) else image)

    def output_size(self, info: ModelInfo) -> tuple[int, int]:
        height, width = self.image.shape[:2]
        cut = [max(SIZE_MULTIPLE, side // SIZE_MULTIPLE * SIZE_MULTIPLE) for side in (width, height)]
        return cut[0] * info.latent_factor, cut[1] * info.latent_factor

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind, "image": image_to_json(self.image)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuperResCondition:
        return cls(image_from_json(data["image"]))

    @classmethod
    def a1111(cls, data: Mapping[str, Any]) -> A1111Text:
        image = data.get("image", {})
        return A1111Text("", "", {"Upscale input": f"{image.get('width')}x{image.get('height')}"})

    def file_label(self) -> str:
        return "upscale"


@dataclass(frozen=True, eq=False)
class InpaintCondition(ConditionType):
    """A picture and the mask of what to repaint (`inpaint` family, CompVis inpainting_big)."""

    kind: ClassVar[str] = "inpaint"
    inputs: ClassVar[tuple[InputSpec, ...]] = (IMAGE_INPUT, MASK_INPUT)

    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)  # (H, W) bool, True = repaint

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", _check_image("image", self.image))
        object.__setattr__(self, "mask", _check_mask("mask", self.mask))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InpaintCondition):
            return NotImplemented
        return _arrays_equal(self.image, other.image) and _arrays_equal(self.mask, other.mask)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def required_message(cls) -> str:
        return "needs an image and a mask"

    @classmethod
    def from_inputs(cls, info: ModelInfo, values: Mapping[str, Any], prefix: str = "") -> InpaintCondition | None:
        image, mask = values.get("image"), values.get("mask")
        if image is None and mask is None:
            return None
        if image is None or mask is None:
            missing = "image" if image is None else "mask"
            raise RequestError(prefix + missing, "an inpaint model needs both an image and a mask")
        return cls(
            read_image(image) if isinstance(image, (str, Path)) else image,
            read_mask(mask) if isinstance(mask, (str, Path)) else mask,
        )

    def output_size(self, info: ModelInfo) -> tuple[int, int]:
        f = info.latent_factor
        height, width = self.image.shape[:2]
        return max(f, width // f * f), max(f, height // f * f)

    def to_json(self, class_names: ClassNames = None) -> dict[str, Any]:
        return {"kind": self.kind, "image": image_to_json(self.image), "mask": mask_to_json(self.mask)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InpaintCondition:
        return cls(image_from_json(data["image"]), mask_from_json(data["mask"]))

    def file_label(self) -> str:
        return "inpaint"


INPUTS.setdefault(STRENGTH_INPUT.name, STRENGTH_INPUT)
INPUTS.setdefault(FEATHER_INPUT.name, FEATHER_INPUT)
