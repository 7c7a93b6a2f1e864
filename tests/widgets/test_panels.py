"""Panels on their own: class picker, map files, sampler defaults, recipe summary, grid layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.qt.images import grid_qimage, grid_shape
from ldm_studio.widgets.class_picker import ClassPicker, imagenet_labels
from ldm_studio.widgets.conditioning_panel import ConditioningPanel
from ldm_studio.widgets.recipes import describe_recipe
from ldm_studio.widgets.sampler_panel import SamplerPanel


def test_class_picker_filters_and_several_classes_make_a_batch(qtbot):
    panel = ConditioningPanel()
    qtbot.addWidget(panel)
    panel.set_family("class")
    picker: ClassPicker = panel.classes
    assert len(imagenet_labels()) == 1000 and picker.list.count() == 1000
    with pytest.raises(RequestError):
        panel.condition()
    picker.search.setText("goldfish")
    visible = [picker.list.item(i) for i in range(1000) if not picker.list.item(i).isHidden()]
    assert [item.text().split(maxsplit=1)[1] for item in visible] == ["goldfish"]
    picker.search.returnPressed.emit()
    picker.search.setText("tench")
    picker.search.returnPressed.emit()
    assert picker.class_ids() == [1, 0]
    assert panel.condition().class_ids == (1, 0) and panel.image_count() == 2
    assert "batch of 2" in picker.summary.text()


def test_family_shows_only_its_tab(qtbot):
    panel = ConditioningPanel()
    qtbot.addWidget(panel)
    panel.set_family("semantic")
    shown = [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]
    assert shown == ["Semantic map", "Image"]  # its map, and the image-to-image start every family takes
    panel.set_family("superres")
    assert [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)] == ["Upscale"]
    panel.set_family("semantic")
    with pytest.raises(RequestError, match="map"):
        panel.condition()


def test_label_map_files(tmp_path, qtbot):
    labels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(labels, mode="L").save(tmp_path / "map.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    panel = ConditioningPanel()
    qtbot.addWidget(panel)
    panel.set_family("semantic")
    with pytest.raises(LdmStudioError, match=r"bad\.png"):
        panel.map.load(tmp_path / "bad.png")
    panel.map.load(tmp_path / "map.png")
    assert (panel.condition().label_map == labels).all()
    assert panel.map.canvas.image.size().toTuple() == (8, 8)  # the painter shows the opened map


def test_sampler_defaults_come_from_the_model(qtbot, tiny_text_model):
    panel = SamplerPanel()
    qtbot.addWidget(panel)
    info = read_model_info(tiny_text_model)
    panel.apply_defaults(info)
    settings = panel.settings(lambda: 77)
    assert (settings.steps, settings.guidance, settings.sampler, settings.seed) == (10, 5.0, "ddim", 77)
    assert settings.width == settings.height == info.resolution
    panel.remember_seed(77)
    panel.reuse_last_seed()
    assert panel.settings(lambda: 5).seed == 77


def test_grid_and_recipe_summary():
    assert grid_shape(1) == (1, 1) and grid_shape(4) == (2, 2) and grid_shape(3) == (2, 2) and grid_shape(5) == (2, 3)
    image = grid_qimage(np.zeros((3, 8, 8, 3), np.uint8))
    assert (image.width(), image.height()) == (16, 16)
    recipe = {"condition": {"prompt": "a cat"}, "settings": {"sampler": "ddim", "steps": 5, "guidance": 3, "seed": 9}}
    text = json.dumps(recipe)
    assert describe_recipe(text) == "'a cat' · DDIM 5 steps · guidance 3 · seed 9"
    assert describe_recipe("not json") == ""
