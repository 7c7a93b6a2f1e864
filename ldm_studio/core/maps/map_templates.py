"""Starting maps for the painter: a few landscapes as bands of labels with natural edges.

Templates name labels by their COCO-Stuff names; for another label set each name goes
through the label translation table, so the same templates serve ADE20K models. The ADE20K
layouts (a landscape, a street, a room: bands plus boxes) name ADE20K's own labels; the painter
offers them when it paints in ADE20K (the segmentation ControlNets' label set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.maps.label_translation import translate_name
from ldm_studio.core.maps.labels import LabelSet


@dataclass(frozen=True)
class Band:
    """A horizontal band from the previous band's lower edge down to `bottom` (a fraction of the height).

    `wave` bends the lower edge: its amplitude as a fraction of the height; `ridges` how many bumps.
    """

    label: str
    bottom: float
    wave: float = 0.0
    ridges: float = 2.0
    phase: float = 0.0
    fallback: str = ""  # used where the label set has no counterpart (ADE20K has no snow)


TEMPLATES: dict[str, tuple[Band, ...]] = {
    "Sky over sea over sand": (
        Band("sky-other", 0.45),
        Band("sea", 0.72, wave=0.015, ridges=3),
        Band("sand", 1.0),
    ),
    "Sky over mountains over grass": (
        Band("sky-other", 0.42, wave=0.12, ridges=2.5, phase=0.6),
        Band("mountain", 0.68, wave=0.03, ridges=4),
        Band("grass", 1.0),
    ),
    "Clouds, snowy peaks, forest": (
        Band("clouds", 0.18, wave=0.05, ridges=3),
        Band("sky-other", 0.38, wave=0.14, ridges=3.5, phase=1.1),
        Band("snow", 0.5, wave=0.06, ridges=5, fallback="rock"),
        Band("mountain", 0.66, wave=0.03, ridges=6),
        Band("tree", 1.0),
    ),
    "River through a meadow": (
        Band("sky-other", 0.35, wave=0.06, ridges=2),
        Band("tree", 0.5, wave=0.02, ridges=9),
        Band("grass", 1.0),
    ),
    "Lake with hills": (
        Band("sky-other", 0.4, wave=0.08, ridges=1.5, phase=2.0),
        Band("hill", 0.55, wave=0.01, ridges=3),
        Band("water-other", 0.82, wave=0.01, ridges=5),
        Band("grass", 1.0),
    ),
    "Desert under a clear sky": (
        Band("sky-other", 0.55, wave=0.05, ridges=1.5),
        Band("sand", 1.0),
    ),
}
# a diagonal river drawn over the meadow template
RIVER_TEMPLATES = {"River through a meadow": "river"}




@dataclass(frozen=True)
class Box:
    """A rectangle painted over the bands: edges as fractions of the height (top, bottom) and width."""

    label: str
    top: float
    left: float
    bottom: float
    right: float


# Layouts in ADE20K's own labels (the segmentation ControlNets' label set): a landscape, a street
# and a room, each bands first, then boxes in order (later boxes paint over earlier ones).
ADE_TEMPLATES: dict[str, tuple[tuple[Band, ...], tuple[Box, ...]]] = {
    "ADE20K landscape: lake, mountains, forest": (
        (
            Band("sky", 0.36, wave=0.1, ridges=2.2, phase=0.4),
            Band("mountain", 0.55, wave=0.03, ridges=5),
            Band("tree", 0.66, wave=0.015, ridges=11),
            Band("water", 0.84, wave=0.01, ridges=3),
            Band("grass", 1.0),
        ),
        (Box("rock", 0.8, 0.05, 0.9, 0.22),),
    ),
    "ADE20K street: buildings, road, cars": (
        (
            Band("sky", 0.42, wave=0.02, ridges=3),
            Band("building", 0.62),
            Band("sidewalk", 0.7),
            Band("road", 1.0),
        ),
        (
            Box("building", 0.12, 0.0, 0.7, 0.3),
            Box("building", 0.2, 0.72, 0.7, 1.0),
            Box("windowpane", 0.25, 0.06, 0.4, 0.14),
            Box("windowpane", 0.32, 0.8, 0.46, 0.9),
            Box("tree", 0.36, 0.34, 0.66, 0.44),
            Box("streetlight", 0.3, 0.62, 0.7, 0.635),
            Box("car", 0.72, 0.12, 0.86, 0.4),
            Box("car", 0.76, 0.58, 0.94, 0.9),
        ),
    ),
    "ADE20K room: bed, window, lamp": (
        (
            Band("ceiling", 0.12),
            Band("wall", 0.66),
            Band("floor", 1.0),
        ),
        (
            Box("windowpane", 0.22, 0.6, 0.5, 0.88),
            Box("curtain", 0.2, 0.54, 0.56, 0.6),
            Box("curtain", 0.2, 0.88, 0.56, 0.94),
            Box("painting", 0.25, 0.12, 0.42, 0.34),
            Box("bed", 0.56, 0.05, 0.86, 0.5),
            Box("pillow", 0.56, 0.08, 0.62, 0.22),
            Box("table", 0.6, 0.52, 0.72, 0.62),
            Box("lamp", 0.48, 0.54, 0.6, 0.6),
            Box("rug", 0.84, 0.4, 0.97, 0.86),
        ),
    ),
}
ADE = "ade20k-150"


def template_names(labels: LabelSet | None = None) -> list[str]:
    """The templates; with `labels` in ADE20K also the ADE20K layouts (named in its labels)."""
    if labels is not None and labels.name == ADE:
        return [*TEMPLATES, *ADE_TEMPLATES]
    return list(TEMPLATES)


def make_template(name: str, labels: LabelSet, height: int, width: int) -> np.ndarray:
    """The (height, width) label map of template `name` in `labels`; KeyError for an unknown template."""
    if name in ADE_TEMPLATES:
        return _ade_template(name, labels, height, width)
    bands = TEMPLATES[name]
    x = np.arange(width, dtype=np.float64) / max(width - 1, 1)
    rows = np.arange(height, dtype=np.float64)[:, None] / max(height - 1, 1)
    out = np.full((height, width), -1, dtype=np.int64)
    for band in bands:
        index = _index(band.label, labels, band.fallback)
        edge = band.bottom + band.wave * _ridge(x, band.ridges, band.phase)
        out[(out < 0) & (rows <= edge[None, :])] = index
    out[out < 0] = _index(bands[-1].label, labels)
    river = RIVER_TEMPLATES.get(name)
    if river is not None:
        centre = 0.5 + 0.25 * (rows - 0.5) + 0.06 * np.sin(rows * 9.0)  # widens toward the viewer
        half = 0.01 + 0.09 * np.clip((rows - 0.5) / 0.5, 0, 1)
        mask = (rows > 0.5) & (np.abs(x[None, :] - centre) < half)
        out[mask] = _index(river, labels)
    return out


def _ridge(x: np.ndarray, ridges: float, phase: float) -> np.ndarray:
    """A deterministic, mountain-like edge in [-1, 1]: two sines plus a sharper harmonic."""
    t = 2 * np.pi * ridges * x + phase
    return 0.6 * np.sin(t) + 0.3 * np.sin(2.3 * t + 1.7) + 0.1 * np.abs(np.sin(5.1 * t))


def _index(name: str, labels: LabelSet, fallback: str = "") -> int:
    try:
        return labels.index_of(translate_name(name, "coco-stuff-182", labels))
    except RequestError:
        if not fallback:
            raise
        return labels.index_of(translate_name(fallback, "coco-stuff-182", labels))


def _ade_template(name: str, labels: LabelSet, height: int, width: int) -> np.ndarray:
    """An ADE20K layout: its bands, then its boxes, each label translated when `labels` is another set."""
    bands, boxes = ADE_TEMPLATES[name]

    def index(label: str) -> int:
        return labels.index_of(translate_name(label, ADE, labels))

    x = np.arange(width, dtype=np.float64) / max(width - 1, 1)
    rows = np.arange(height, dtype=np.float64)[:, None] / max(height - 1, 1)
    out = np.full((height, width), index(bands[-1].label), dtype=np.int64)
    painted = np.zeros((height, width), dtype=bool)
    for band in bands:
        edge = band.bottom + band.wave * _ridge(x, band.ridges, band.phase)
        inside = ~painted & (rows <= edge[None, :])
        out[inside] = index(band.label)
        painted |= inside
    for box in boxes:
        top, bottom = round(box.top * height), round(box.bottom * height)
        left, right = round(box.left * width), round(box.right * width)
        out[top : max(bottom, top + 1), left : max(right, left + 1)] = index(box.label)
    return out
