"""Semantic-map files: label-index PNGs (grayscale or palette-indexed) and palette-coloured RGB images.

A map is an (H, W) array of label indices. People get maps from segmenters (grayscale PNGs
of indices, as CompVis' extraction script writes them), from painting programs (palette PNGs)
or as colour pictures drawn in the label set's palette; all three are read here, and every
problem names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.untrusted import LOSSY_FORMATS, MAX_MAP_PIXELS, open_image_bounded
from ldm_studio.core.maps.labels import LabelSet, load_label_set

# lossy compression blends colours and values at every region edge: wrong labels, silently
LOSSY_MESSAGE = "is a %s: lossy compression changes pixels at region edges; save the map as PNG"

INDEX_MODES = {"L", "P", "I", "I;16", "I;16B", "I;16L", "1"}
COLOUR_MODES = {"RGB", "RGBA"}


@dataclass(frozen=True)
class MapPixels:
    """A map picture's pixels: label indices (grayscale/palette modes) or colours (RGB modes)."""

    indices: np.ndarray | None
    rgb: np.ndarray | None
    palette: list[int] | None = None  # the embedded palette of a 'P' image
    format: str | None = None  # PIL's name of the file format ("PNG", "JPEG", ...)


def read_map_pixels(path: str | Path) -> MapPixels:
    """Load a map picture's pixels; FileFormatError naming the file for anything that is not one.

    The declared size is checked before any pixel is decoded (`open_image_bounded`).
    """
    file = Path(path).expanduser()
    with open_image_bounded(file, file, MAX_MAP_PIXELS, "label map") as image:
        mode, kind = image.mode, image.format
        if mode in INDEX_MODES:
            if kind in LOSSY_FORMATS:
                raise FileFormatError(file, f"{LOSSY_MESSAGE % kind} (label indices would change)")
            palette = image.getpalette() if mode == "P" else None
            return MapPixels(np.asarray(image, dtype=np.int64), None, palette, kind)
        if mode in COLOUR_MODES or mode in {"LA", "PA"}:
            return MapPixels(None, np.asarray(image.convert("RGB"), dtype=np.uint8), None, kind)
        raise FileFormatError(file, f"image mode {mode!r} cannot hold a label map (use grayscale, P or RGB)")


def check_shape(file: object, indices: np.ndarray) -> None:
    if indices.ndim != 2 or indices.size == 0:
        raise FileFormatError(file, f"is not a 2-D map (shape {indices.shape})")


def colour_codes(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) colours → one int per colour (0xRRGGBB), for exact palette look-ups."""
    pixels = rgb.astype(np.int64)
    return (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]


def read_map_file(path: str | Path, label_set: str | LabelSet = "coco-stuff-182") -> np.ndarray:
    """The (H, W) int64 label indices in `path`; FileFormatError naming the file for anything unusable.

    Strict: a colour map must use exact palette colours (the painter's `open_map_image` snaps instead).
    """
    file = Path(path).expanduser()
    labels = load_label_set(label_set) if isinstance(label_set, str) else label_set
    pixels = read_map_pixels(file)
    if pixels.format in LOSSY_FORMATS:  # strict: even exact-looking colours may have moved
        raise FileFormatError(file, LOSSY_MESSAGE % pixels.format)
    if pixels.rgb is not None:
        indices = _from_colours(file, pixels.rgb, labels)
    else:
        assert pixels.indices is not None  # read_map_pixels sets exactly one of indices and rgb
        indices = pixels.indices
    check_shape(file, indices)
    check_indices(file, indices, labels)
    return indices


def check_indices(file: object, indices: np.ndarray, labels: LabelSet) -> None:
    """Raise FileFormatError if any value is not a label index of `labels`."""
    bad = (indices < 0) | (indices >= len(labels))
    if bad.any():
        values = np.unique(indices[bad])
        shown = ", ".join(str(int(v)) for v in values[:8]) + (" ..." if len(values) > 8 else "")
        raise FileFormatError(
            file,
            f"{int(bad.sum())} pixel(s) hold values outside the {len(labels)} labels of {labels.name} "
            f"(0..{len(labels) - 1}): {shown}",
        )


def _from_colours(file: Path, rgb: np.ndarray, labels: LabelSet) -> np.ndarray:
    """Map each pixel to the label whose palette colour it is exactly (first label for shared colours)."""
    if not labels.has_palette:
        raise FileFormatError(file, f"is a colour image, but label set {labels.name} has no palette")
    codes = colour_codes(labels.palette())
    lookup: dict[int, int] = {}
    for index, code in enumerate(codes.tolist()):
        lookup.setdefault(code, index)
    pixel_codes = colour_codes(rgb)
    unique, inverse = np.unique(pixel_codes, return_inverse=True)
    mapped = np.array([lookup.get(int(c), -1) for c in unique], dtype=np.int64)
    indices = mapped[inverse].reshape(pixel_codes.shape)
    unknown = indices < 0
    if unknown.any():
        colours = [f"#{int(c):06x}" for c in unique[mapped < 0][:5]]
        raise FileFormatError(
            file,
            f"{int(unknown.sum())} of {unknown.size} pixel(s) have colours that are not in the {labels.name} "
            f"palette (e.g. {', '.join(colours)}); paint with exact palette colours (no anti-aliasing) "
            f"or save label indices as an 8-bit grayscale PNG",
        )
    return indices


def write_map_file(
    path: str | Path | BinaryIO, indices: np.ndarray, label_set: str | LabelSet = "coco-stuff-182"
) -> Path | BinaryIO:
    """Save a map as a palette PNG: pixel values are the indices, colours the label set's palette."""
    labels = load_label_set(label_set) if isinstance(label_set, str) else label_set
    arr = np.asarray(indices)
    check_indices(path, arr, labels)
    if len(labels) > 256:
        raise FileFormatError(path, f"label set {labels.name} has more than 256 labels; a PNG map cannot hold it")
    data = np.ascontiguousarray(arr.astype(np.uint8))
    image = Image.frombytes("P", (data.shape[1], data.shape[0]), data.tobytes())
    if labels.has_palette:
        image.putpalette(labels.palette().reshape(-1).tolist())
    target = Path(path) if isinstance(path, (str, Path)) else path  # a binary file object works too
    image.save(target, format="PNG")
    return target


def colorize(indices: np.ndarray, label_set: str | LabelSet = "coco-stuff-182") -> np.ndarray:
    """(H, W, 3) uint8 picture of a map in the label set's palette (for display)."""
    labels = load_label_set(label_set) if isinstance(label_set, str) else label_set
    return labels.palette()[np.clip(np.asarray(indices), 0, len(labels) - 1)]


def snap_to_palette(rgb: np.ndarray, label_set: str | LabelSet = "coco-stuff-182") -> tuple[np.ndarray, int]:
    """(H, W) label indices of the nearest palette colour for each pixel, and how many pixels were off-palette.

    For segmentation pictures that were resized or saved as JPEG: their edges blend colours
    that no label has. Exact palette colours keep their label (the first one, for shared colours).
    """
    labels = load_label_set(label_set) if isinstance(label_set, str) else label_set
    if not labels.has_palette:
        raise ValueError(f"label set {labels.name} has no palette")
    codes = colour_codes(np.asarray(rgb, dtype=np.uint8)[..., :3])
    unique, inverse = np.unique(codes, return_inverse=True)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    palette = labels.palette().astype(np.int64)
    nearest = np.empty(len(unique), dtype=np.int64)
    exact = np.zeros(len(unique), dtype=bool)
    for start in range(0, len(unique), 4096):  # bounded memory for photos with many colours
        chunk = colours[start : start + 4096]
        distance = ((chunk[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
        nearest[start : start + 4096] = distance.argmin(axis=1)
        exact[start : start + 4096] = distance.min(axis=1) == 0
    inverse = inverse.reshape(codes.shape)
    off_palette = int((~exact)[inverse].sum())
    return nearest[inverse], off_palette
