"""Pictures as inputs in the window: Use as input, a mask painted with real mouse events, the
strength slider, recipes restoring picture and mask, Upscale and Inpaint tabs, screenshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from qt_helpers import JOB_TIMEOUT_MS, LOAD_TIMEOUT_MS, make_window

from ldm_studio.core.files.recipe import read_png_recipe

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "image_to_image.png"


def visible_tabs(window) -> list[str]:
    panel = window.conditioning
    return [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]


def at(view, x: float, y: float) -> QPoint:
    """The widget point over picture pixel (x, y)."""
    rect = view.picture_rect()
    height, width = view.image.shape[:2]
    px = rect.x() + (x + 0.5) * rect.width() / width
    py = rect.y() + (y + 0.5) * rect.height() / height
    return QPoint(round(px), round(py))


def paint(qtbot, view, points, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mousePress(view, button, modifier, pos=at(view, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(view, at(view, *point))
    qtbot.mouseRelease(view, button, modifier, pos=at(view, *points[-1]))


def generate(qtbot, window) -> list[str]:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    return blocker.args[1]


def test_vary_a_history_image_with_a_painted_mask_and_restore_it(qtbot, tiny_text_model):
    window = make_window(qtbot, tiny_text_model)
    assert "Image" in visible_tabs(window)
    window.conditioning.text.prompt.setPlainText("a red cat")
    window.sampler.steps.setValue(4)
    (first,) = generate(qtbot, window)

    assert window.use_as_input(first)
    tab = window.conditioning.image
    assert window.conditioning.currentWidget() is tab
    original = np.asarray(Image.open(first).convert("RGB"))
    assert np.array_equal(tab.view.image, original)
    tab.resize(400, 400)
    tab.view.resize(360, 300)
    tab.brush.setValue(12)
    paint(qtbot, tab.view, [(40, 10), (40, 30), (40, 50)])
    assert tab.view.mask[30, 40] and not tab.view.mask[30, 5]
    paint(qtbot, tab.view, [(40, 30)], Qt.MouseButton.RightButton)  # the eraser
    assert not tab.view.mask[30, 40] and tab.view.mask[10, 40]
    tab.view.undo()
    assert tab.view.mask[30, 40]
    tab.strength.setValue(60)
    mask = tab.view.mask.copy()

    (made,) = generate(qtbot, window)
    written = np.asarray(Image.open(made).convert("RGB"))
    assert np.array_equal(written[~mask], original[~mask])
    assert not np.array_equal(written[mask], original[mask])
    recipe = read_png_recipe(made)
    assert recipe.init is not None and recipe.init.strength == 0.6

    tab.reset()
    tab.strength.setValue(10)
    assert window.open_image(made)
    assert np.array_equal(tab.view.image, original) and np.array_equal(tab.view.mask, mask)
    assert tab.strength.value() == 60 and "input picture and mask" in window.last_restore
    (again,) = generate(qtbot, window)  # the restored recipe makes the same picture
    assert np.array_equal(np.asarray(Image.open(again).convert("RGB")), written)

    tab.invert_button.click()
    assert np.array_equal(tab.view.mask, ~mask)
    tab.clear_mask_button.click()
    assert not tab.view.has_mask()
    paint(qtbot, tab.view, [(10, 20), (30, 25), (50, 40)], modifier=Qt.KeyboardModifier.ShiftModifier)
    expected = np.zeros_like(mask)
    expected[20:41, 10:51] = True
    assert np.array_equal(tab.view.mask, expected)  # Shift-drag: a filled rectangle between the corners
    tab.view.undo()
    assert not tab.view.has_mask()
    window.close()


@pytest.fixture(scope="module")
def picture_models(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_inpaint_model, write_superres_model

    root = tmp_path_factory.mktemp("picture-models")
    return {"superres": write_superres_model(root / "sr"), "inpaint": write_inpaint_model(root / "inpaint")}


def test_upscale_tab_makes_a_four_times_larger_image(qtbot, picture_models, tmp_path):
    window = make_window(qtbot, picture_models["superres"])
    assert visible_tabs(window) == ["Upscale"]
    small = tmp_path / "small.png"
    Image.fromarray(np.full((16, 24, 3), 120, dtype=np.uint8)).save(small)
    assert window.use_as_input(str(small))
    window.sampler.steps.setValue(2)
    (made,) = generate(qtbot, window)
    assert Image.open(made).size == (96, 64)
    window.close()


def test_inpaint_tab_needs_a_mask_and_writes_the_composite(qtbot, picture_models, tmp_path):
    window = make_window(qtbot, picture_models["inpaint"])
    assert visible_tabs(window) == ["Inpaint"]
    photo = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    assert window.use_as_input(str(photo))
    assert window.generate() is None and "paint the region" in window.last_error
    tab = window.conditioning.picture_tab()
    tab.resize(300, 300)
    tab.view.resize(256, 256)
    paint(qtbot, tab.view, [(16, 16)])
    mask = tab.view.mask.copy()
    window.sampler.steps.setValue(2)
    (made,) = generate(qtbot, window)
    written = np.asarray(Image.open(made).convert("RGB"))
    assert np.array_equal(written[~mask], pixels[~mask])
    window.close()


def test_screenshot_image_to_image(qtbot, tiny_text_model):
    """The window as a person sees it: a picture with a painted, feathered mask, repainted on the demo model."""
    from ldm_studio.core.models.demo_model import demo_model_path

    demo = demo_model_path()
    window = make_window(qtbot, demo or tiny_text_model)
    window.resize(1280, 800)
    window.conditioning.text.prompt.setPlainText("snowy mountains above a lake" if demo else "a red cat")
    window.sampler.steps.setValue(30 if demo else 6)
    window.sampler.random_seed.setChecked(False)
    window.sampler.seed.setValue(3)
    (first,) = generate(qtbot, window)
    window.use_as_input(first)
    window.conditioning.setCurrentWidget(window.conditioning.image)
    tab = window.conditioning.image
    qtbot.wait(50)
    height, width = tab.view.image.shape[:2]
    tab.brush.setValue(max(4, width // 5))
    paint(qtbot, tab.view, [(width * 0.2, height * 0.3), (width * 0.5, height * 0.35), (width * 0.8, height * 0.3)])
    tab.feather.setValue(max(2, width // 16))  # the soft edge the engine blends with, shown as it is sent
    tab.strength.setValue(70)
    window.sampler.seed.setValue(11)
    window.sampler.batch.setValue(4)
    generate(qtbot, window)
    qtbot.wait(LOAD_TIMEOUT_MS // 600)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
    window.close()


def test_vary_runs_only_the_remaining_steps_and_reports_them(qtbot, tiny_text_model):
    window = make_window(qtbot, tiny_text_model)
    window.conditioning.text.prompt.setPlainText("a red cat")
    window.sampler.steps.setValue(8)
    (first,) = generate(qtbot, window)
    window.conditioning.image.strength.setValue(50)
    totals = []
    window.controller.progress.connect(lambda p: totals.append((p.done, p.total)))
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.vary(first) is not None, window.last_error
    assert totals and all(total == 4 for _, total in totals) and totals[-1][0] == 4  # the ETA counts 4 of 8
    recipe = read_png_recipe(blocker.args[1][0])
    assert recipe.init is not None and recipe.init.strength == 0.5 and recipe.settings.seed != 0
    window.close()


def test_upscale_from_the_history_loads_a_superres_model_and_runs(qtbot, tiny_text_model, picture_models):
    window = make_window(qtbot, tiny_text_model)
    window.conditioning.text.prompt.setPlainText("a red cat")
    window.sampler.steps.setValue(2)
    (first,) = generate(qtbot, window)
    assert not window.upscale(first)  # none installed: the catalogue's is offered (tests/widgets/test_image_actions.py)
    assert window.superres_offer is not None
    window.superres_offer.reject()
    window.model_picker.opened.append(str(picture_models["superres"]))
    window.model_picker.refresh()
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.upscale(first)
    (made,) = blocker.args[1]
    assert Image.open(made).size == (256, 256)  # 64 px × 4
    assert window.controller.model_info.family == "superres"
    window.close()
