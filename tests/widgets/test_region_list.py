"""The region list beside the palette: one text per painted label, in requests, live painting and recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from qt_helpers import JOB_TIMEOUT_MS, make_window

from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.region_types import RegionalCondition
from ldm_studio.core.generation.requests import CombinedCondition, TextCondition
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.models.demo_model import demo_model_path
from ldm_studio.widgets.recipe_restore import apply_recipe

COCO = load_label_set("coco-stuff-182")
SEA, SAND, SKY = (COCO.index_of(n) for n in ("sea", "sand", "sky-other"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "regions.png"


def drag(qtbot, canvas, points):
    def at(x, y):
        return canvas.to_widget(x + 0.5, y + 0.5).toPoint()

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(*points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, at(*point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(*points[-1]))


@pytest.fixture
def demo_window(qtbot):
    window = make_window(qtbot, demo_model_path())
    window.resize(1280, 800)
    window.conditioning.setCurrentWidget(window.conditioning.map)
    yield window
    window.close()


def test_rows_follow_the_painting_and_texts_reach_the_request(qtbot, demo_window):
    window, tab = demo_window, demo_window.conditioning.map
    regions = tab.regions
    assert not regions.isHidden() and regions.names == []  # nothing painted yet
    tab.apply_template("Sky over sea over sand")
    assert set(regions.names) == {COCO[i].name for i in np.unique(tab.document.indices)}
    assert not regions.active  # the demo model takes the map itself: region texts are opt-in
    assert isinstance(window.conditioning.condition(), CombinedCondition)
    tab.canvas.fit()
    tab.set_label(COCO.index_of("snow"))
    tab.editor.size_box.setValue(3)
    drag(qtbot, tab.canvas, [(2, 2), (10, 2)])
    assert "snow" in regions.names  # a row for the label just painted
    regions.edits["sea"].setFocus()
    qtbot.keyClicks(regions.edits["sea"], "blue sea")
    assert regions.active  # typing a region's text turns the list on
    condition = window.conditioning.condition()
    assert isinstance(condition, RegionalCondition)
    assert condition.texts["sea"] == "blue sea" and condition.texts["sand"] == "sand"
    assert isinstance(condition.base, CombinedCondition) and condition.base.semantic is not None


def test_live_painting_uses_the_region_texts(qtbot, demo_window, monkeypatch):
    window, tab = demo_window, demo_window.conditioning.map
    controller = window.controller
    submits = []
    real_submit = controller.submit

    def submit(request):
        submits.append(request)
        return real_submit(request)

    monkeypatch.setattr(controller, "submit", submit)
    tab.apply_template("Sky over sea over sand")
    window.sampler.steps.setValue(2)
    tab.live_box.setChecked(True)
    qtbot.keyClicks(tab.regions.edits["sand"], "white snow")  # a text edit is a change live mode follows
    qtbot.waitUntil(lambda: len(submits) >= 1, timeout=3000)
    request = submits[-1]
    assert isinstance(request.condition, RegionalCondition) and request.condition.texts["sand"] == "white snow"
    with qtbot.waitSignal(controller.idle, timeout=JOB_TIMEOUT_MS):
        controller.cancel_all()
    tab.live_box.setChecked(False)


def test_recipe_restores_the_region_texts(qtbot, demo_window):
    window, tab = demo_window, demo_window.conditioning.map
    tab.apply_template("Sky over sea over sand")
    window.conditioning.text.prompt.setPlainText("a beach")
    qtbot.keyClicks(tab.regions.edits["sea"], "calm blue sea")
    window.sampler.steps.setValue(2)
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    path = blocker.args[1][0]
    recipe = read_png_recipe(path)
    assert isinstance(recipe.condition, RegionalCondition)
    tab.regions.edits["sea"].setText("")
    tab.regions.reset()
    tab.clear()
    apply_recipe(recipe, window.conditioning, window.sampler, window.controller.model_info)
    assert tab.regions.active and tab.regions.edits["sea"].text() == "calm blue sea"
    assert window.conditioning.condition() == recipe.condition


def test_stable_diffusion_paints_regions_in_the_map_tab(qtbot, tmp_path):
    from ldm_studio.testing.tiny_sd import write_sd_model

    window = make_window(qtbot, write_sd_model(tmp_path / "tiny-sd"))
    panel, tab = window.conditioning, window.conditioning.map
    assert [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)] == [
        "Prompt",
        "Semantic map",
        "Image",
        "ControlNet",  # a ControlNet may steer the model too (widgets/controlnet_panel.py)
    ]
    area = window.map_painter.area
    assert not area.map_model  # prompts alone: the window as it was
    panel.setCurrentWidget(tab)
    assert area.map_model and area.mode == "Side by side"  # the painter, once its tab is picked
    panel.text.prompt.setPlainText("a photo")
    assert isinstance(panel.condition(), TextCondition)  # no map painted: the plain prompt
    tab.apply_template("Sky over sea over sand")
    assert tab.regions.active  # the map is there only for its regions: on
    qtbot.keyClicks(tab.regions.edits["sea"], "the sea")
    condition = panel.condition()
    assert isinstance(condition, RegionalCondition) and condition.base == TextCondition("a photo")
    window.sampler.steps.setValue(2)
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error
    window.close()


def test_regions_screenshot(qtbot, demo_window):
    window, tab = demo_window, demo_window.conditioning.map
    window.map_painter.area.set_mode("Side by side")
    tab.apply_template("Sky over sea over sand")
    window.conditioning.text.prompt.setPlainText("a beach")
    for name, text in (("sea", "calm blue sea"), ("sand", "sandy beach"), ("sky-other", "clear blue sky")):
        qtbot.keyClicks(tab.regions.edits[name], text)
    window.sampler.steps.setValue(10)
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error
    tab.canvas.fit()
    qtbot.wait(50)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
