"""Starting maps for the painter: a few landscapes as bands of labels with natural edges.

Templates name labels by their COCO-Stuff names; for another label set each name goes
through the label translation table, so the same templates serve ADE20K models.
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


def template_names() -> list[str]:
    return list(TEMPLATES)


def make_template(name: str, labels: LabelSet, height: int, width: int) -> np.ndarray:
    """The (height, width) label map of template `name` in `labels`; KeyError for an unknown template."""
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
