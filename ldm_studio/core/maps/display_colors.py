"""Natural colours for showing landscape labels in the painter; maps keep their dataset's palette.

COCO-Stuff's palette was made to tell 182 classes apart, not to look like them: sand is bright
green, snow, rock, stone and water-other are greens too, so a sea-over-sand map looked like sea
over grass. The painter shows these natural colours instead. What is saved (map PNGs) and fed
to a model is unchanged: label indices, written in the dataset's own palette
(`LabelSet.palette()`), so other tools and the original models read them as before.
"""

from __future__ import annotations

import numpy as np

from ldm_studio.core.maps.labels import Label, LabelSet

# By label name, in both COCO-Stuff and ADE20K; every colour distinct from the others here.
NATURAL_COLORS: dict[str, tuple[int, int, int]] = {
    "sky-other": (135, 195, 240), "sky": (135, 195, 240),
    "clouds": (232, 236, 242), "fog": (200, 206, 214),
    "sea": (28, 84, 166), "water-other": (64, 132, 206), "water": (64, 132, 206), "river": (52, 112, 190),
    "lake": (40, 100, 180), "waterfall": (160, 205, 238),
    "grass": (92, 168, 62), "tree": (34, 104, 46), "bush": (66, 128, 52), "leaves": (104, 148, 44),
    "moss": (112, 138, 62), "plant-other": (80, 150, 72), "plant": (80, 150, 72), "palm": (50, 128, 62),
    "flower": (226, 118, 170), "field": (178, 188, 92), "playingfield": (118, 182, 82),
    "mountain": (122, 108, 98), "hill": (138, 150, 92), "rock": (132, 132, 134), "stone": (160, 158, 152),
    "sand": (226, 206, 152), "snow": (250, 250, 252), "dirt": (140, 100, 66), "earth": (140, 100, 66),
    "land": (150, 122, 82), "gravel": (172, 162, 150), "mud": (98, 74, 50),
    "road": (88, 88, 94), "pavement": (150, 150, 148), "path": (192, 172, 132), "sidewalk": (170, 170, 168),
    "bridge": (148, 118, 90), "house": (190, 118, 88), "building-other": (168, 148, 140),
    "building": (168, 148, 140), "skyscraper": (150, 160, 176), "fence": (160, 130, 92), "wood": (150, 104, 60),
}  # fmt: skip


def display_color(label: Label) -> tuple[int, int, int]:
    """The colour a person sees for `label`: natural for landscape labels, else the dataset's."""
    return NATURAL_COLORS.get(label.name, label.color or (0, 0, 0))


def display_palette(labels: LabelSet) -> np.ndarray:
    """(N, 3) uint8 display colours, row i = label i (only for showing; never saved or sent to a model)."""
    return np.array([display_color(label) for label in labels.labels], dtype=np.uint8)
