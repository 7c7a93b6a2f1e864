"""A ControlNet attached to an sd model in the window: the painter in ADE20K, generate, restore, live, screenshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from qt_helpers import JOB_TIMEOUT_MS, make_window

from ldm_studio.core.generation.control_inputs import ControlNetCondition
from ldm_studio.core.maps.labels import load_label_set

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "controlnet.png"
ADE = load_label_set("ade20k-150")
COCO = load_label_set("coco-stuff-182")


@pytest.fixture(scope="module")
def sd_and_controlnet(tmp_path_factory):
    from ldm_studio.testing.tiny_controlnet import write_controlnet
    from ldm_studio.testing.tiny_sd import write_sd_model

    root = tmp_path_factory.mktemp("cn-window")
    model = write_sd_model(root / "tiny-sd")
    return model, write_controlnet(root / "tiny-seg-controlnet", model, seed=2)


def visible_tabs(panel) -> list[str]:
    return [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]


def drag(qtbot, canvas, points: list[tuple[int, int]]) -> None:
    def at(x: int, y: int) -> QPoint:
        return canvas.to_widget(x + 0.5, y + 0.5).toPoint()

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(*points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, at(*point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(*points[-1]))


def record_requests(monkeypatch, controller) -> dict:
    """The request of each submitted job (the window keeps none)."""
    requests, real_submit = {}, controller.submit

    def submit(request):
        job = real_submit(request)
        requests[job] = request
        return job

    monkeypatch.setattr(controller, "submit", submit)
    return requests


def attach(qtbot, window, net):
    hook = window.controlnet
    panel = window.conditioning
    assert visible_tabs(panel) == ["Prompt", "Semantic map", "Image", "ControlNet"]  # the map: region prompts
    assert not window.map_painter.area.map_model and panel.map.label_set == "coco-stuff-182"
    hook.tab.select_folder(net)
    assert "Semantic map" in visible_tabs(panel) and window.map_painter.area.map_model
    assert window.conditioning.map.label_set == "ade20k-150"
    return hook


def test_attach_a_controlnet_paint_in_ade20k_generate_and_restore(qtbot, sd_and_controlnet, monkeypatch):
    model, net = sd_and_controlnet
    window = make_window(qtbot, model)
    requests = record_requests(monkeypatch, window.controller)
    map_tab = window.conditioning.map
    coco = np.full((64, 64), COCO.index_of("sky-other"), dtype=np.int64)
    coco[40:] = COCO.index_of("snow")  # no ADE20K counterpart
    map_tab.set_map(coco, "coco-stuff-182", "A COCO map")  # painted before the ControlNet: translated
    hook = attach(qtbot, window, net)
    assert "no counterpart for snow" in map_tab.info.text()
    assert "ADE20K street: buildings, road, cars" in [
        map_tab.template_box.itemText(i) for i in range(map_tab.template_box.count())
    ]
    map_tab.apply_template("ADE20K street: buildings, road, cars")
    hook.tab.scale.setValue(0.6)
    hook.tab.end.setValue(0.7)
    window.sampler.steps.setValue(3)
    window.conditioning.text.prompt.setPlainText("a street at dusk")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        job = window.generate()
        assert job is not None, window.last_error
        condition = requests[job].condition
    assert isinstance(condition, ControlNetCondition) and condition.label_set == "ade20k-150"
    assert (condition.control.scale, condition.control.start, condition.control.end) == (0.6, 0.0, 0.7)
    assert np.array_equal(condition.label_map, map_tab.document.indices)
    (path,) = blocker.args[1]

    hook.tab.detach()  # a plain prompt again: the map and the painter go away
    assert not window.map_painter.area.map_model and map_tab.label_set == "coco-stuff-182"
    assert not isinstance(window.conditioning.condition(), ControlNetCondition)
    map_tab.clear()
    assert window.open_image(path), window.last_error
    assert "ControlNet" in window.last_restore and "control map" in window.last_restore
    assert hook.tab.attached and hook.tab.scale.value() == 0.6 and hook.tab.end.value() == 0.7
    assert np.array_equal(map_tab.document.indices, condition.label_map)
    assert window.conditioning.condition() == condition
    window.close()


def test_live_painting_with_a_controlnet_debounces_and_cancels_the_stale_job(qtbot, sd_and_controlnet, monkeypatch):
    model, net = sd_and_controlnet
    window = make_window(qtbot, model)
    attach(qtbot, window, net)
    map_tab, controller = window.conditioning.map, window.controller
    window.conditioning.text.prompt.setPlainText("a field")
    window.sampler.steps.setValue(400)  # still running when the next stroke lands
    requests = record_requests(monkeypatch, controller)
    cancels: list = []
    real_cancel = controller.cancel
    monkeypatch.setattr(controller, "cancel", lambda job=None: cancels.append(job) or real_cancel(job))
    map_tab.live_box.setChecked(True)
    map_tab.set_label(ADE.index_of("tree"))
    canvas = map_tab.canvas
    canvas.fit()
    for y in (10, 20):
        drag(qtbot, canvas, [(5, y), (50, y)])
    qtbot.waitUntil(lambda: len(requests) == 1, timeout=3000)
    submits = list(requests)
    request = requests[submits[0]]
    assert isinstance(request.condition, ControlNetCondition)
    assert np.array_equal(request.condition.label_map, map_tab.document.indices)
    drag(qtbot, canvas, [(5, 40), (50, 40)])
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=3000)
    assert cancels == [submits[0]]
    with qtbot.waitSignal(controller.idle, timeout=JOB_TIMEOUT_MS):
        controller.cancel_all()
    map_tab.live_box.setChecked(False)
    window.close()


def test_controlnet_screenshot(qtbot, sd_and_controlnet):
    model, net = sd_and_controlnet
    window = make_window(qtbot, model)
    window.resize(1280, 800)
    hook = attach(qtbot, window, net)
    map_tab = window.conditioning.map
    map_tab.apply_template("ADE20K landscape: lake, mountains, forest")
    hook.tab.scale.setValue(0.8)
    window.conditioning.setCurrentWidget(hook.tab)
    window.sampler.steps.setValue(4)
    window.conditioning.text.prompt.setPlainText("a lake below snowy mountains, morning light")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error
    window.map_painter.area.set_mode("Side by side")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    qtbot.wait(50)
    assert window.grab().save(str(SCREENSHOT))
    window.close()
