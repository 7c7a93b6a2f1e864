"""The mask's fill and feather, the canvas as input, Inpaint region…, before/after compare, and the
superres offer (issue 14's window work), driven with real mouse and key events where a person uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from qt_helpers import JOB_TIMEOUT_MS, make_window

from ldm_studio.core.generation.image_inputs import feathered
from ldm_studio.widgets.canvas import SIDE_GAP, Compare
from ldm_studio.widgets.image_input import InitImageTab
from ldm_studio.widgets.map_painter.tools import Tool

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "before_after.png"


def at(view, x: float, y: float) -> QPoint:
    """The widget point over picture pixel (x, y)."""
    rect = view.picture_rect()
    height, width = view.image.shape[:2]
    return QPoint(
        round(rect.x() + (x + 0.5) * rect.width() / width), round(rect.y() + (y + 0.5) * rect.height() / height)
    )


def paint(qtbot, view, points, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mousePress(view, button, pos=at(view, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(view, at(view, *point))
    qtbot.mouseRelease(view, button, pos=at(view, *points[-1]))


def generate(qtbot, window) -> list[str]:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    return blocker.args[1]


@pytest.fixture
def tab(qtbot):
    tab = InitImageTab()
    qtbot.addWidget(tab)
    tab.resize(420, 460)
    tab.show()
    tab.set_picture(np.full((64, 64, 3), 128, dtype=np.uint8))
    tab.view.resize(320, 320)
    return tab


# --- mask tools -----------------------------------------------------------------------------------


def test_fill_fills_the_region_under_the_cursor_and_the_tool_keys_pick_the_painters_tools(qtbot, tab):
    view = tab.view
    tab.brush.setValue(4)
    ring = [(16, 16), (48, 16), (48, 48), (16, 48), (16, 16)]  # a closed outline, drawn with the brush
    paint(qtbot, view, ring)
    assert view.mask[16, 30] and not view.mask[32, 32]
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F)
    assert view.tool is Tool.FILL and tab.tool_buttons[Tool.FILL].isChecked()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at(view, 32, 32))
    assert view.mask[20:45, 20:45].all() and not view.mask[5, 5]  # inside the outline, not outside
    view.undo()
    assert not view.mask[32, 32] and view.mask[16, 30]  # one undoable step
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at(view, 32, 32))
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=at(view, 32, 32))  # right button clears the region
    assert not view.mask.any()  # the filled inside and the outline are one connected region
    view.undo()
    assert view.mask[32, 32] and view.mask[16, 30]

    qtbot.keyClick(view, Qt.Key.Key_E)
    assert view.tool is Tool.ERASER
    paint(qtbot, view, [(30, 16)])  # the eraser's left button erases
    assert not view.mask[16, 30] and view.mask[16, 20]
    qtbot.keyClick(view, Qt.Key.Key_R)
    paint(qtbot, view, [(2, 2), (8, 6)])  # the rectangle tool without Shift
    assert view.mask[2:7, 2:9].all() and not view.mask[7, 9]
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert tab.brush.value() == 8  # the size keys move the spin box too
    qtbot.keyClick(view, Qt.Key.Key_B)
    assert view.tool is Tool.BRUSH and tab.tool_buttons[Tool.BRUSH].isChecked()
    tab.tool_buttons[Tool.FILL].click()
    assert view.tool is Tool.FILL


def test_feather_is_sent_with_the_mask_and_shown_soft(qtbot, tab):
    view = tab.view
    tab.brush.setValue(20)
    paint(qtbot, view, [(32, 32)])
    assert tab.init().feather == 0
    tab.feather.setValue(6)
    init = tab.init()
    assert init.feather == 6 and init.mask.dtype == bool and np.array_equal(init.mask, view.mask)
    assert np.array_equal(view.soft_mask(), feathered(view.mask, 6))
    shot = view.grab().toImage()
    edge = at(view, 32 + 10 + 4, 32)  # outside the painted disc, inside the soft edge: tinted
    far = at(view, 60, 4)
    assert shot.pixelColor(edge) != shot.pixelColor(far)
    qtbot.mouseMove(view, at(view, 8, 56))  # the brush outline follows the pointer
    pointer = at(view, 8, 56)
    radius = round(tab.brush.value() / 2 * view.picture_rect().width() / 64)
    ring = view.grab().toImage().pixelColor(pointer.x(), pointer.y() - radius)
    assert ring != QColor(128, 128, 128) and ring.lightness() > 160
    tab.view.edit_mask(np.zeros_like)
    assert tab.init().mask is None and tab.init().feather == 0  # no mask, nothing to feather
    tab.restore_init(init, 0.5)
    assert tab.feather.value() == 6 and np.array_equal(view.mask, init.mask)


# --- the window ----------------------------------------------------------------------------------


def test_canvas_use_as_input_inpaint_region_and_before_after(qtbot, window):
    (first,) = generate(qtbot, window)
    original = np.asarray(Image.open(first).convert("RGB"))
    actions = window.image_actions
    tab = window.conditioning.image

    menu = actions.context_menu(QPoint(20, 20))  # the canvas' context menu
    texts = [a.text() for a in menu.actions()]
    assert {"Use as input", "Vary", "Inpaint region…", "Upscale ×4"} <= set(texts)
    next(a for a in menu.actions() if a.text() == "Use as input").trigger()
    assert np.array_equal(tab.view.image, original) and window.conditioning.currentWidget() is tab
    tab.reset()
    assert actions.use_action.shortcut().toString() == "Ctrl+Shift+U"
    actions.use_action.trigger()
    assert np.array_equal(tab.view.image, original)

    tab.strength.setValue(30)
    tab.view.set_tool(Tool.FILL)
    actions.inpaint_action.trigger()  # Inpaint region… on the canvas picture
    assert tab.strength_value() == 1.0 and tab.view.tool is Tool.BRUSH
    assert window.conditioning.currentWidget() is tab and not tab.view.has_mask()
    assert "paint over the region" in window.status_message() and "Generate" in window.status_message()
    tab.resize(400, 400)
    tab.view.resize(300, 300)
    tab.brush.setValue(16)
    paint(qtbot, tab.view, [(20, 32), (44, 32)])
    tab.feather.setValue(4)
    mask = tab.view.mask.copy()
    live = []  # the run's previews compare with its input from its first step on
    window.controller.progress.connect(lambda p: live.append(window.canvas.before is not None))
    (made,) = generate(qtbot, window)
    assert live and all(live)
    written = np.asarray(Image.open(made).convert("RGB"))
    outside = feathered(mask, 4) == 0
    assert np.array_equal(written[outside], original[outside]) and not np.array_equal(written, original)

    # the finished job had an input: compare it with the result
    canvas = window.canvas
    assert canvas.before is not None and actions.toggle.isVisible()
    assert canvas.comparing is Compare.OFF and canvas.scene().sceneRect().width() == 64
    actions.compare_actions[Compare.SIDE].trigger()
    assert canvas.comparing is Compare.SIDE and canvas.scene().sceneRect().width() == 2 * 64 + SIDE_GAP
    assert actions.compare_actions[Compare.SIDE].shortcut().toString() == "F6"
    actions.toggle.buttons[Compare.SLIDER].click()  # the small toggle on the canvas
    assert canvas.comparing is Compare.SLIDER and canvas.scene().sceneRect().width() == 64
    assert actions.compare_actions[Compare.SLIDER].isChecked()

    canvas.resize(400, 400)
    canvas.fit()
    shown = canvas._item.pixmap().toImage()
    assert shown.pixelColor(5, 32) == canvas.before.pixelColor(5, 32)  # left of the divider: the input
    y = round(canvas.mapFromScene(0, 32).y())
    start, target = QPoint(round(canvas.divider_x()), y), QPoint(round(canvas.mapFromScene(16, 32).x()), y)
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas.viewport(), target)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert abs(canvas.divider - 0.25) < 0.05  # dragged to a quarter of the width
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert abs(canvas.divider - 0.30) < 0.05
    result = QImage(made)
    shown = canvas._item.pixmap().toImage()
    assert shown.pixelColor(60, 32) == result.pixelColor(60, 32)  # right of the divider: the result

    actions.toggle_compare(Compare.SLIDER)  # its key again: the result alone
    assert canvas.comparing is Compare.OFF

    window.gallery.inpaint.emit(first)  # the history's "Inpaint region…"
    assert np.array_equal(tab.view.image, original) and tab.strength_value() == 1.0
    window.show_file(first)  # a history image made from noise: nothing to compare
    window.gallery.open_requested.emit(first)
    assert canvas.before is None and not actions.toggle.isVisible()
    window.gallery.open_requested.emit(made)  # its recipe embeds the input: compare again
    assert canvas.before is not None
    assert window.open_image(first) and canvas.before is None  # File ▸ Open image / a drop too
    assert window.open_image(made) and canvas.before is not None


def test_screenshot_before_after(qtbot, tiny_text_model):
    """Before/after on the demo model when present: a repainted sky, split by the divider."""
    from ldm_studio.core.models.demo_model import demo_model_path

    demo = demo_model_path()
    window = make_window(qtbot, demo or tiny_text_model)
    window.resize(1280, 800)
    window.conditioning.text.prompt.setPlainText("snowy mountains above a lake" if demo else "a red cat")
    window.sampler.steps.setValue(30 if demo else 6)
    window.sampler.random_seed.setChecked(False)
    window.sampler.seed.setValue(3)
    (first,) = generate(qtbot, window)
    assert window.image_actions.inpaint_region(first)
    tab = window.conditioning.image
    qtbot.wait(50)
    height, width = tab.view.image.shape[:2]
    tab.brush.setValue(max(4, width // 4))
    paint(qtbot, tab.view, [(width * 0.15, height * 0.2), (width * 0.5, height * 0.25), (width * 0.85, height * 0.2)])
    tab.feather.setValue(max(2, width // 16))
    window.conditioning.text.prompt.setPlainText("a blue sky above the mountains" if demo else "a blue cat")
    window.sampler.seed.setValue(8)
    generate(qtbot, window)
    window.image_actions.toggle_compare(Compare.SLIDER)
    window.canvas.set_divider(0.55)
    qtbot.wait(100)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
    window.close()


# --- other families, and no superres model -------------------------------------------------------------


@pytest.fixture(scope="module")
def picture_models(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_inpaint_model, write_superres_model

    root = tmp_path_factory.mktemp("picture-models")
    return {"superres": write_superres_model(root / "sr"), "inpaint": write_inpaint_model(root / "inpaint")}


def test_inpaint_region_on_an_inpaint_model_uses_its_tab_and_a_superres_model_refuses(qtbot, picture_models, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(photo)
    window = make_window(qtbot, picture_models["inpaint"])
    assert window.image_actions.inpaint_region(str(photo))
    tab = window.conditioning.picture_tab()
    assert tab.title == "Inpaint" and window.conditioning.currentWidget() is tab and tab.view.tool is Tool.BRUSH
    assert "inpaint model repaints it" in window.status_message()
    window.close()
    window = make_window(qtbot, picture_models["superres"])
    assert not window.image_actions.inpaint_region(str(photo)) and "cannot repaint" in window.last_error
    window.close()


def test_upscale_without_a_superres_model_offers_the_catalogues_and_starts_its_download(qtbot, window, monkeypatch):
    from ldm_studio.core.models import manager

    calls = []

    def fake_download(name, progress=None, cancel=None):  # no network: record the manager call
        calls.append(name)

    monkeypatch.setattr(manager, "download", fake_download)
    (first,) = generate(qtbot, window)
    assert not window.upscale(first)
    offer = window.superres_offer
    assert offer is not None and offer.isVisible()
    assert offer.entry.name == "ldm-super-resolution-4x-openimages"
    assert offer.entry.repo_id == "CompVis/ldm-super-resolution-4x-openimages"
    assert "LDM 4x super-resolution" in offer.text.text() and "Download it now" in offer.text.text()
    offer.download_button.click()
    qtbot.waitUntil(lambda: calls == ["ldm-super-resolution-4x-openimages"], timeout=JOB_TIMEOUT_MS)
    models = window.models_dialog
    assert models is not None and models.selected_row().name == "ldm-super-resolution-4x-openimages"
    qtbot.waitUntil(lambda: not models.busy, timeout=JOB_TIMEOUT_MS)


def test_an_upscale_compares_with_its_small_input(qtbot, picture_models, tmp_path):
    window = make_window(qtbot, picture_models["superres"])
    small = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(small)
    assert window.use_as_input(str(small))
    window.sampler.steps.setValue(2)
    generate(qtbot, window)
    canvas = window.canvas
    assert canvas.before is not None and (canvas.before.width(), canvas.before.height()) == (24, 16)
    window.image_actions.toggle_compare(Compare.SIDE)  # the small input stretched beside the 4× result
    assert canvas.scene().sceneRect().width() == 2 * 96 + SIDE_GAP and canvas.scene().sceneRect().height() == 64
    window.close()
