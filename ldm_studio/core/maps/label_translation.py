"""Translate label maps between COCO-Stuff 182 and ADE20K 150 by label name.

A map painted for a CompVis semantic model (COCO-Stuff) can drive an ADE20K model and back
when their labels mean the same thing. Labels with the same name (or an ADE20K alias)
translate directly; the table below covers the common ones whose names differ. What has no
counterpart (COCO "snow", ADE20K "animal", ...) is reported, never guessed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.maps.labels import LabelSet, load_label_set

COCO, ADE = "coco-stuff-182", "ade20k-150"

# source label name -> target label name, per direction; names not here are matched by name/alias
SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    (COCO, ADE): {
        "sky-other": "sky",
        "clouds": "sky",
        "fog": "sky",
        "water-other": "water",
        "waterdrops": "water",
        "building-other": "building",
        "house": "house",
        "roof": "house",
        "wall-other": "wall",
        "wall-brick": "wall",
        "wall-concrete": "wall",
        "wall-panel": "wall",
        "wall-stone": "wall",
        "wall-tile": "wall",
        "wall-wood": "wall",
        "floor-other": "floor",
        "floor-marble": "floor",
        "floor-stone": "floor",
        "floor-tile": "floor",
        "floor-wood": "floor",
        "ceiling-other": "ceiling",
        "ceiling-tile": "ceiling",
        "dirt": "earth",
        "mud": "earth",
        "gravel": "earth",
        "ground-other": "earth",
        "stone": "rock",
        "pavement": "sidewalk",
        "playingfield": "field",
        "bush": "plant",
        "plant-other": "plant",
        "potted plant": "plant",
        "leaves": "tree",
        "branch": "tree",
        "moss": "grass",
        "straw": "grass",
        "window-other": "windowpane",
        "window": "windowpane",
        "window-blind": "blind",
        "door-stuff": "door",
        "desk-stuff": "desk",
        "mirror-stuff": "mirror",
        "dining table": "table",
        "couch": "sofa",
        "tv": "television",
        "motorcycle": "minibike",
        "clothes": "apparel",
        "food-other": "food",
        "fruit": "food",
        "vegetable": "food",
        "cat": "animal",
        "dog": "animal",
        "horse": "animal",
        "sheep": "animal",
        "cow": "animal",
        "elephant": "animal",
        "bear": "animal",
        "zebra": "animal",
        "giraffe": "animal",
        "railroad": "road",
        "street sign": "signboard",
        "stop sign": "signboard",
    },
    (ADE, COCO): {
        "sky": "sky-other",
        "water": "water-other",
        "lake": "water-other",
        "waterfall": "water-other",
        "swimming pool": "water-other",
        "building": "building-other",
        "hovel": "house",
        "tower": "building-other",
        "wall": "wall-other",
        "floor": "floor-other",
        "ceiling": "ceiling-other",
        "earth": "dirt",
        "land": "ground-other",
        "field": "grass",
        "path": "dirt",
        "dirt track": "dirt",
        "sidewalk": "pavement",
        "runway": "pavement",
        "plant": "plant-other",
        "palm": "tree",
        "windowpane": "window-other",
        "sofa": "couch",
        "television": "tv",
        "minibike": "motorcycle",
        "apparel": "clothes",
        "food": "food-other",
        "ship": "boat",
        "van": "car",
        "armchair": "chair",
        "swivel chair": "chair",
        "stool": "chair",
        "coffee table": "table",
        "stairway": "stairs",
        "step": "stairs",
        "pot": "potted plant",
        "signboard": "street sign",
        "streetlight": "light",
        "lamp": "light",
        "pier": "platform",
    },
}


def translate_name(name: str, source: str | LabelSet, target: str | LabelSet) -> str:
    """The target-set name for a source label `name` (itself when the sets are the same); RequestError if none."""
    src, dst = _set(source), _set(target)
    if src.name == dst.name:
        return name
    index = _target_index(name, src.name, dst)
    if index is None:
        raise RequestError("label", f"{name!r} of {src.name} has no counterpart in {dst.name}")
    return dst[index].name


def translation_table(source: str | LabelSet, target: str | LabelSet) -> dict[int, int | None]:
    """Source index -> target index (None where the label has no counterpart)."""
    src, dst = _set(source), _set(target)
    if src.name == dst.name:
        return {label.index: label.index for label in src.labels}
    return {label.index: _target_index(label.name, src.name, dst) for label in src.labels}


@dataclass
class Translation:
    """A translated map and what could not be translated: source label name -> pixel count."""

    indices: np.ndarray
    untranslated: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.untranslated

    def report(self) -> str:
        if self.complete:
            return ""
        parts = [f"{name} ({count} px)" for name, count in self.untranslated.items()]
        return "no counterpart for " + ", ".join(parts)


def translate_map(
    indices: np.ndarray, source: str | LabelSet, target: str | LabelSet, fallback: int = 0
) -> Translation:
    """Re-index a map from `source` to `target`; pixels of labels without a counterpart get `fallback`."""
    src, dst = _set(source), _set(target)
    arr = np.asarray(indices, dtype=np.int64)
    table = translation_table(src, dst)
    lookup = np.array([fallback if table[i] is None else table[i] for i in range(len(src))], dtype=np.int64)
    out = lookup[np.clip(arr, 0, len(src) - 1)]
    values, counts = np.unique(arr, return_counts=True)
    missing = {src[int(v)].name: int(c) for v, c in zip(values, counts, strict=True) if table[int(v)] is None}
    return Translation(out, dict(sorted(missing.items(), key=lambda item: -item[1])))


def _target_index(name: str, source: str, target: LabelSet) -> int | None:
    mapped = SYNONYMS.get((source, target.name), {}).get(name, name)
    try:
        return target.index_of(mapped)
    except RequestError:
        return None


def _set(labels: str | LabelSet) -> LabelSet:
    return load_label_set(labels) if isinstance(labels, str) else labels
