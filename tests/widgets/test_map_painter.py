"""The semantic map painter: strokes through real mouse events, fill, undo/redo, files, live mode, screenshot."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from qt_helpers import JOB_TIMEOUT_MS, make_window

from ldm_studio.core.generation.requests import CombinedCondition, SemanticMapCondition
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.maps.map_document import capsule_mask
from ldm_studio.core.maps.semantic_maps import colorize, read_map_file
from ldm_studio.widgets.conditioning_panel import ConditioningPanel
from ldm_studio.widgets.map_painter import MapTab
from ldm_studio.widgets.map_painter.tools import Tool

COCO = load_label_set("coco-stuff-182")
SKY, SEA, SAND, GRASS, TREE, SNOW = (COCO.index_of(n) for n in ("sky-other", "sea", "sand", "grass", "tree", "snow"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "map_painter.png"


@pytest.fixture(scope="module")
def semantic_model(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_semantic_model

    return write_semantic_model(tmp_path_factory.mktemp("painter-models") / "tiny-semantic")


@pytest.fixture
def tab(qtbot):
    """The map tab on its own (editor inside it), shown big enough for ≥ 1 screen pixel per map pixel."""
    widget = MapTab()
    qtbot.addWidget(widget)
    widget.resize(620, 1100)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_model(SimpleNamespace(label_set="coco-stuff-182", resolution=64), optional=False)
    widget.canvas.fit()
    return widget


def at(canvas, x: int, y: int) -> QPoint:
    """The widget point at the centre of map pixel (x, y)."""
    return canvas.to_widget(x + 0.5, y + 0.5).toPoint()


def drag(qtbot, canvas, points: list[tuple[int, int]]) -> None:
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, at(canvas, *point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, *points[-1]))


def test_mouse_strokes_change_exactly_the_painted_pixels(qtbot, tab):
    canvas, doc = tab.canvas, tab.document
    assert doc.shape == (64, 64) and doc.blank and tab.label_map is None
    assert canvas.zoom >= 2
    tab.set_label(SEA)
    tab.editor.size_box.setValue(1)
    with qtbot.waitSignal(tab.changed):
        drag(qtbot, canvas, [(10, 20), (20, 20), (30, 20)])
    expected = np.full((64, 64), SKY)
    expected[20, 10:31] = SEA
    assert (doc.indices == expected).all()
    tab.editor.size_box.setValue(5)
    drag(qtbot, canvas, [(40, 40)])  # a dab: the radius-2 disc
    expected[capsule_mask((64, 64), (40, 40), (40, 40), 5)] = SEA
    assert (doc.indices == expected).all() and (doc.indices == SEA).sum() == 21 + 13
    tab.editor.set_tool(Tool.RECT)
    tab.set_label(SAND)
    drag(qtbot, canvas, [(50, 2), (55, 9), (60, 5)])  # the rectangle follows the last corner only
    expected[2:6, 50:61] = SAND
    assert (doc.indices == expected).all()
    tab.editor.set_tool(Tool.ERASER)
    tab.editor.size_box.setValue(1)
    drag(qtbot, canvas, [(50, 3), (60, 3)])
    expected[3, 50:61] = SKY
    assert (doc.indices == expected).all()
    qtbot.mouseMove(canvas, at(canvas, 12, 20))
    assert tab.cursor_label.text().startswith(f"sea ({SEA})")


def test_fill_eyedropper_undo_redo_and_shortcuts(qtbot, tab):
    canvas, doc = tab.canvas, tab.document
    tab.editor.size_box.setValue(1)
    tab.set_label(SAND)
    drag(qtbot, canvas, [(0, 32), (63, 32)])  # a horizon across the map
    tab.activateWindow()
    qtbot.waitActive(tab)
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.tool is Tool.FILL
    tab.set_label(SEA)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, 5, 50))
    assert (doc.indices[33:] == SEA).all() and (doc.indices[:32] == SKY).all() and (doc.indices[32] == SAND).all()
    qtbot.keyClick(canvas, Qt.Key.Key_I)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, 3, 32))
    assert canvas.label == SAND and canvas.tool is Tool.PICKER
    for key, tool in [("B", Tool.BRUSH), ("L", Tool.LINE), ("R", Tool.RECT), ("E", Tool.ERASER)]:
        qtbot.keyClick(canvas, key)
        assert canvas.tool is tool
    size = tab.editor.size_box.value()
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert tab.editor.size_box.value() > size
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the fill
    assert (doc.indices[33:] == SKY).all() and (doc.indices[32] == SAND).all()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the horizon
    assert (doc.indices == SKY).all() and doc.blank
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (doc.indices[33:] == SEA).all()
    tab.clear()
    assert doc.blank and tab.label_map is None
    tab.apply_template("Sky over sea over sand")
    assert doc.indices[0, 0] == SKY and doc.indices[-1, 0] == SAND and not doc.blank


def test_palette_puts_landscape_labels_first_and_searches(qtbot, tab):
    palette = tab.palette
    assert palette.visible_indices()[:6] == [
        COCO.index_of(n) for n in ("sky-other", "clouds", "sea", "river", "water-other", "grass")
    ]
    assert len(palette.visible_indices()) == 182
    palette.search.setText("sky")
    assert palette.visible_indices() == [SKY, COCO.index_of("skyscraper")]
    palette.search.setText("zzz")
    assert palette.visible_indices() == [] and not palette.empty_note.isHidden()
    palette.search.clear()
    palette.label_chosen.emit(TREE)
    assert tab.canvas.label == TREE and "tree" in tab.current_name.text()
    palette.background_chosen.emit(SAND)
    assert tab.canvas.background == SAND and "sand" in tab.background_name.text()


def test_open_snaps_off_palette_colours_and_refuses_corrupt_files(qtbot, tab, tmp_path):
    indices = np.full((64, 64), SKY)
    indices[40:] = GRASS
    rgb = colorize(indices, COCO).astype(np.int16)
    rgb[40:42] += 6  # an anti-aliased edge: two rows of off-palette pixels
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp_path / "segmentation.png")
    assert tab.open_file(tmp_path / "segmentation.png")
    assert (tab.document.indices == indices).all()
    assert "128 off-palette pixel(s)" in tab.info.text()
    tab.save(tmp_path / "painted")
    assert (read_map_file(tmp_path / "painted.png") == indices).all()  # the strict reader takes our file
    with Image.open(tmp_path / "painted.png") as saved:
        assert saved.mode == "P" and saved.getpalette()[: 3 * 182] == COCO.palette().reshape(-1).tolist()

    data = (tmp_path / "painted.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.png").write_text("just text")
    for name in ("broken.png", "notes.png"):
        assert not tab.open_file(tmp_path / name)
        assert name in tab.message_box.text() and tab.message_box.isVisible()
        tab.message_box.close()
    assert (tab.document.indices == indices).all()  # the painting is untouched
    tab.document.undo()
    assert tab.document.blank


def test_label_set_change_translates_the_map(qtbot, tab):
    ade = load_label_set("ade20k-150")
    tab.apply_template("Clouds, snowy peaks, forest")
    painted = tab.document.indices.copy()
    tab.set_model(SimpleNamespace(label_set="ade20k-150", resolution=64), optional=False)
    assert tab.label_set == "ade20k-150" and tab.document.label_set == "ade20k-150"
    assert tab.document.indices[painted == TREE].tolist() == [ade.index_of("tree")] * int((painted == TREE).sum())
    assert (tab.document.indices[painted == SKY] == ade.index_of("sky")).all()
    assert "no counterpart for snow" in tab.info.text()
    assert tab.palette.visible_indices()[0] == ade.index_of("sky")
    assert tab.map_condition(required=True).label_set == "ade20k-150"


def test_multi_models_take_the_map_as_an_optional_part(qtbot):
    panel = ConditioningPanel()
    qtbot.addWidget(panel)
    panel.set_family("multi", SimpleNamespace(label_set="coco-stuff-182", resolution=32))
    shown = [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]
    assert shown == ["Prompt", "Class", "Semantic map", "Image"]
    condition = panel.condition()
    assert isinstance(condition, CombinedCondition) and condition.semantic is None  # an unpainted map: no map
    panel.text.prompt.setPlainText("a lake")
    panel.map.apply_template("Lake with hills")
    condition = panel.condition()
    assert condition.text.prompt == "a lake" and condition.semantic.label_map.shape == (32, 32)
    panel.map.use_map_box.setChecked(False)
    assert panel.condition().semantic is None


def test_live_mode_debounces_and_cancels_the_stale_job(qtbot, semantic_model, monkeypatch):
    window = make_window(qtbot, semantic_model)
    tab, controller = window.conditioning.map, window.controller
    assert window.map_painter.area.map_model and tab.document.shape == (32, 32)
    assert window.generate() is None and "map" in window.last_error  # nothing painted yet
    window.sampler.steps.setValue(400)  # long enough to still run when the next stroke lands
    submits, cancels = [], []
    real_submit, real_cancel = controller.submit, controller.cancel
    requests = {}

    def submit(request):
        submits.append(real_submit(request))
        requests[submits[-1]] = request
        return submits[-1]

    monkeypatch.setattr(controller, "submit", submit)
    monkeypatch.setattr(controller, "cancel", lambda job=None: cancels.append(job) or real_cancel(job))
    tab.live_box.setChecked(True)
    canvas = tab.canvas
    for y in (4, 8, 12):  # three strokes inside one debounce window
        drag(qtbot, canvas, [(2, y), (20, y)])
    assert submits == []
    qtbot.waitUntil(lambda: len(submits) == 1, timeout=2000)
    qtbot.wait(400)
    assert len(submits) == 1 and cancels == []
    request = requests[submits[0]]
    assert isinstance(request.condition, SemanticMapCondition)
    assert (request.condition.label_map == tab.document.indices).all()
    drag(qtbot, canvas, [(5, 25), (25, 25)])
    qtbot.waitUntil(lambda: len(submits) == 2, timeout=2000)
    assert cancels == [submits[0]]  # the stale picture made way for the new one
    with qtbot.waitSignal(controller.idle, timeout=JOB_TIMEOUT_MS):
        controller.cancel_all()
    tab.live_box.setChecked(False)
    drag(qtbot, canvas, [(1, 1), (3, 3)])
    qtbot.wait(400)
    assert len(submits) == 2
    window.close()


def test_painter_screenshot_with_overlay(qtbot, semantic_model):
    window = make_window(qtbot, semantic_model)
    window.resize(1400, 860)
    tab, area = window.conditioning.map, window.map_painter.area
    tab.apply_template("Sky over mountains over grass")
    canvas = tab.canvas
    tab.editor.size_box.setValue(3)
    tab.set_label(TREE)
    for x in (4, 8, 25):
        drag(qtbot, canvas, [(x, 19), (x, 24)])
    tab.set_label(COCO.index_of("river"))
    drag(qtbot, canvas, [(14, 31), (15, 27), (17, 24)])
    tab.set_label(SEA)
    tab.live_box.setChecked(True)
    qtbot.mouseMove(canvas, at(canvas, 20, 20))
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        job = window.generate()
        assert job is not None, window.last_error
    assert canvas.underlay is not None and not canvas.underlay.isNull()
    area.set_mode("Overlay")
    assert canvas.overlay and not window.canvas.isVisible() and area.opacity.isEnabled()
    area.set_mode("Side by side")
    assert window.canvas.isVisible() and canvas.isVisible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    qtbot.wait(50)
    assert window.grab().save(str(SCREENSHOT))
    window.close()


def test_multi_models_show_the_painter_when_its_tab_is_picked(qtbot):
    """On a multi-input model the map is optional: the output fills the canvas until the map tab is chosen."""
    from qt_helpers import LOAD_TIMEOUT_MS, make_window

    from ldm_studio.core.models.demo_model import demo_model_path

    demo = demo_model_path()
    if demo is None:
        pytest.skip("the shipped demo model (the multi-input model) is absent")
    window = make_window(qtbot)
    with qtbot.waitSignal(window.controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_model(str(demo))
    area = window.map_painter.area
    assert window.conditioning.currentIndex() == window.conditioning.indexOf(window.conditioning.text)
    assert area.mode == "Output" and not area.editor.isVisible()
    window.conditioning.setCurrentWidget(window.conditioning.map)
    assert area.mode == "Side by side" and area.editor.isVisible()
    window.close()


def test_painter_and_canvas_read_the_batch_layout_from_the_frame_in_either_order(qtbot, semantic_model):
    """The overlay takes the first image of a batch from the frame itself, whichever slot runs first."""
    from ldm_studio.qt.reports import make_frame

    window = make_window(qtbot, semantic_model)
    images = np.zeros((3, 16, 24, 3), dtype=np.uint8)
    images[0, ..., 0] = 255  # the first image red, the others black
    frame = make_frame(7, images, (48, 32), 5, 10)
    window.map_painter._on_preview(frame)  # before the window's canvas has seen any batch
    underlay = window.map_painter.tab.canvas.underlay
    assert (underlay.width(), underlay.height()) == (24, 16)
    assert underlay.pixelColor(23, 15).red() == 255
    window._on_preview(frame)
    assert window.canvas.cells == (2, 2) and window.canvas.sceneRect().width() == 2 * 48
    window.close()
