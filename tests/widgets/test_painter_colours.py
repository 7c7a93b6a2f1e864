"""The painter shows landscape labels in natural colours; saved maps and model inputs keep the dataset's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ldm_studio.core.maps.display_colors import NATURAL_COLORS, display_palette
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.widgets.conditioning_panel import ConditioningPanel

COCO = load_label_set("coco-stuff-182")


def test_every_natural_colour_names_a_real_label_and_the_dataset_palette_differs():
    sets = [load_label_set(name) for name in ("coco-stuff-182", "ade20k-150")]
    known = {label.name for labels in sets for label in labels.labels}
    assert set(NATURAL_COLORS) <= known, sorted(set(NATURAL_COLORS) - known)
    for labels in sets:
        assert sum(label.name in NATURAL_COLORS for label in labels.labels) >= 20
    assert tuple(COCO.palette()[COCO.index_of("sand")]) != NATURAL_COLORS["sand"]  # the reason for all this


def test_coco_landscape_display_colours_differ_pairwise():
    shown = display_palette(COCO)
    landscape = [i for i, label in enumerate(COCO.labels) if label.name in NATURAL_COLORS]
    assert len({tuple(shown[i]) for i in landscape}) == len(landscape)


def test_sea_over_sand_looks_like_sea_over_sand_and_saves_in_the_dataset_palette(qtbot, tmp_path):
    panel = ConditioningPanel()
    qtbot.addWidget(panel)
    panel.set_family("semantic", SimpleNamespace(label_set="coco-stuff-182", resolution=32))
    panel.show()
    tab = panel.map
    tab.template_box.setCurrentText("Sky over sea over sand")
    qtbot.mouseClick(tab.template_button, Qt.MouseButton.LeftButton)
    indices = tab.document.indices
    sand, sea = COCO.index_of("sand"), COCO.index_of("sea")
    y_sand, x_sand = map(int, np.argwhere(indices == sand)[0])
    y_sea, x_sea = map(int, np.argwhere(indices == sea)[0])

    image = tab.canvas.image
    assert QColor(image.pixel(x_sand, y_sand)).getRgb()[:3] == NATURAL_COLORS["sand"]  # beige, not green
    assert QColor(image.pixel(x_sea, y_sea)).getRgb()[:3] == NATURAL_COLORS["sea"]
    tab.set_label(sand)
    swatch = tab.current_swatch.pixmap().toImage()
    assert QColor(swatch.pixel(5, 5)).getRgb()[:3] == NATURAL_COLORS["sand"]

    # what a model gets and what is saved: the dataset's indices and palette
    assert (tab.map_condition(required=True).label_map == indices).all()
    saved = tab.save(tmp_path / "map.png")
    with Image.open(saved) as png:
        assert png.mode == "P"
        assert (np.asarray(png) == indices).all()
        palette = np.asarray(png.getpalette()[: 3 * len(COCO)], dtype=np.uint8).reshape(-1, 3)
    assert (palette == COCO.palette()).all()
