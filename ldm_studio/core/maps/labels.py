"""Label sets shipped with the app: COCO-Stuff 182 (semantic maps), ADE20K 150, ImageNet 1k (classes).

The JSON files in `resources/labels/` carry the names, palettes and sources; this
module only reads them. A label's `index` is what a model sees: the one-hot channel of a map,
or the class id of the class-conditional model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.resources_path import resource_path

# label-set name -> resource file
LABEL_SET_FILES: dict[str, str] = {
    "coco-stuff-182": "coco_stuff_182.json",
    "ade20k-150": "ade20k_150.json",
    "imagenet-1k": "imagenet_1k.json",
}


@dataclass(frozen=True)
class Label:
    """One label: its index (the model's id), display name, other names and palette colour."""

    index: int
    name: str
    aliases: tuple[str, ...] = ()
    color: tuple[int, int, int] | None = None


@dataclass(frozen=True, eq=False)
class LabelSet:
    """A named list of labels, indexable by position, searchable by name and by palette colour."""

    name: str
    labels: tuple[Label, ...]
    description: str = ""
    _by_name: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        lookup: dict[str, int] = {}
        for label in self.labels:  # the main names win over aliases of other labels
            lookup.setdefault(_key(label.name), label.index)
        for label in self.labels:
            for alias in label.aliases:
                lookup.setdefault(_key(alias), label.index)
        self._by_name.update(lookup)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Label:
        return self.labels[index]

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def has_palette(self) -> bool:
        return all(label.color is not None for label in self.labels)

    def palette(self) -> np.ndarray:
        """(N, 3) uint8 colours, row i = label i (for painting and for reading colour maps)."""
        if not self.has_palette:
            raise ValueError(f"label set {self.name!r} has no palette")
        return np.array([label.color for label in self.labels], dtype=np.uint8)

    def index_of(self, name: str) -> int:
        """The index of a label by its name or an alias (case and spacing ignored); RequestError if unknown."""
        found = self._by_name.get(_key(name))
        if found is None:
            close = [n for n in self.names if _key(name) in _key(n)][:5]
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            raise RequestError("label", f"{name!r} is not a label of {self.name}{hint}")
        return found

    def search(self, text: str, limit: int = 20) -> list[Label]:
        """Labels whose name or alias contains `text` (for pickers)."""
        needle = _key(text)
        hits = [lb for lb in self.labels if needle in _key(lb.name) or any(needle in _key(a) for a in lb.aliases)]
        return hits[:limit]


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


@cache
def load_label_set(name: str) -> LabelSet:
    """The shipped label set called `name` ("coco-stuff-182", "ade20k-150", "imagenet-1k")."""
    file = LABEL_SET_FILES.get(name)
    if file is None:
        raise RequestError("label_set", f"unknown label set {name!r}; known: {', '.join(LABEL_SET_FILES)}")
    data = json.loads(resource_path("labels", file).read_text(encoding="utf-8"))
    labels = []
    for i, entry in enumerate(data["labels"]):
        if entry["index"] != i:
            raise ValueError(f"{file}: label {i} has index {entry['index']}")
        aliases = [*entry.get("names", []), *entry.get("lemmas", [])]
        if entry.get("torchvision_name"):
            aliases.append(entry["torchvision_name"])
        if entry.get("wnid"):
            aliases.append(entry["wnid"])
        color = tuple(entry["color"]) if "color" in entry else None
        labels.append(Label(i, entry["name"], tuple(a for a in aliases if a != entry["name"]), color))
    return LabelSet(data.get("name", name), tuple(labels), data.get("description", ""))


def label_set_names() -> list[str]:
    return list(LABEL_SET_FILES)
