"""Opening maps for the painter: forgiving where `read_map_file` is strict.

The CLI refuses a colour map with off-palette pixels (a wrong map should not silently
condition a long run); the painter instead snaps each pixel to the nearest palette colour
and says how many it changed, because the person sees the result and can repaint. A map in
the other label set (found by its embedded palette or its colours) is translated by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ldm_studio.core.maps.label_translation import translate_map
from ldm_studio.core.maps.labels import LabelSet, load_label_set
from ldm_studio.core.maps.semantic_maps import (
    check_indices,
    check_shape,
    colour_codes,
    read_map_pixels,
    snap_to_palette,
)

MAP_LABEL_SETS = ("coco-stuff-182", "ade20k-150")


@dataclass
class OpenedMap:
    """A map ready for the painter, with what was done to it on the way."""

    indices: np.ndarray
    label_set: str  # the target set the indices are now in
    source_set: str  # the set the file was drawn in
    off_palette: int = 0  # pixels snapped to the nearest palette colour
    untranslated: dict[str, int] = field(default_factory=dict)  # source label -> pixels

    def summary(self) -> str:
        h, w = self.indices.shape
        parts = [f"{w}×{h}, {len(np.unique(self.indices))} labels"]
        if self.off_palette:
            parts.append(f"{self.off_palette} off-palette pixel(s) snapped to the nearest label colour")
        if self.source_set != self.label_set:
            parts.append(f"translated from {self.source_set}")
        if self.untranslated:
            names = ", ".join(f"{n} ({c} px)" for n, c in self.untranslated.items())
            parts.append(f"no counterpart for {names}")
        return "; ".join(parts)


def open_map_image(path: str | Path, label_set: str, fallback: int = 0) -> OpenedMap:
    """Read any map picture for the painter; FileFormatError naming the file for what cannot be a map."""
    file = Path(path).expanduser()
    target = load_label_set(label_set)
    pixels = read_map_pixels(file)
    indices, rgb = pixels.indices, pixels.rgb
    off_palette = 0
    if rgb is not None:
        source = _colour_set(rgb, target)
        indices, off_palette = snap_to_palette(rgb, source)
    else:
        source = _palette_set(pixels.palette, target)
    assert indices is not None  # read_map_pixels sets exactly one of indices and rgb
    check_shape(file, indices)
    check_indices(file, indices, source)
    untranslated: dict[str, int] = {}
    if source.name != target.name:
        translation = translate_map(indices, source, target, fallback)
        indices, untranslated = translation.indices, translation.untranslated
    return OpenedMap(indices, target.name, source.name, off_palette, untranslated)


def _palette_set(palette: list[int] | None, target: LabelSet) -> LabelSet:
    """The label set whose colours a palette PNG embeds (the painter's own files), else the target."""
    if palette:
        for name in (target.name, *MAP_LABEL_SETS):
            labels = load_label_set(name)
            colours = labels.palette().reshape(-1).tolist()
            if palette[: len(colours)] == colours:
                return labels
    return target


def _colour_set(rgb: np.ndarray, target: LabelSet) -> LabelSet:
    """The label set whose palette covers most pixels exactly (the target on a tie)."""
    best, best_hits = target, _exact_hits(rgb, target)
    for name in MAP_LABEL_SETS:
        labels = load_label_set(name)
        if labels.name != target.name:
            hits = _exact_hits(rgb, labels)
            if hits > best_hits:
                best, best_hits = labels, hits
    return best


def _exact_hits(rgb: np.ndarray, labels: LabelSet) -> int:
    return int(np.isin(colour_codes(rgb), colour_codes(labels.palette())).sum())
