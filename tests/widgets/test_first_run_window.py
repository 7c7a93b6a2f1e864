"""What a new user hit in the window on the demo model (issue 19), through mouse and keyboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from qt_helpers import make_window

from ldm_studio.core.models.demo_model import demo_model_path

DEMO = demo_model_path()
needs_demo = pytest.mark.skipif(DEMO is None, reason="this tree has no demo model")


@pytest.fixture
def demo_window(qtbot):
    window = make_window(qtbot, DEMO)
    yield window
    window.close()


def visible_names(picker) -> list[str]:
    return [picker.list.item(i).text().split(maxsplit=1)[1] for i in range(picker.list.count())
            if not picker.list.item(i).isHidden()]


@needs_demo
def test_class_tab_lists_the_demo_models_own_classes(qtbot, demo_window):
    panel = demo_window.conditioning
    qtbot.mouseClick(panel.tabBar(), Qt.MouseButton.LeftButton, pos=panel.tabBar().tabRect(1).center())
    picker = panel.classes
    assert picker.isVisible()
    info = demo_window.controller.model_info
    assert picker.names() == list(info.class_names) and picker.list.count() == 8
    assert "8 classes" in picker.search.placeholderText()

    qtbot.mouseClick(picker.search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(picker.search, "snow")
    assert visible_names(picker) == ["snowfield"]
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)  # ticks the first match
    assert picker.class_ids() == [info.class_names.index("snowfield")]
    assert "snowfield" in picker.summary.text()


@needs_demo
def test_a_class_the_model_lacks_is_reported_on_the_class_tab(qtbot, demo_window):
    """A stale ImageNet list (as before the fix) lets 436 "beach wagon" be ticked: Generate says why, there."""
    panel = demo_window.conditioning
    picker = panel.classes
    picker.set_labels(None)
    qtbot.keyClicks(picker.search, "beach wagon")
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert picker.class_ids() == [436]
    panel.setCurrentIndex(0)  # the person looks at another tab when pressing Generate
    qtbot.mouseClick(demo_window.generate_button, Qt.MouseButton.LeftButton)
    assert demo_window.controller.current_job is None
    assert panel.currentWidget() is picker and picker.summary.isVisible()
    assert "index 436 is outside 0..7" in picker.summary.text() and "c62828" in picker.summary.styleSheet()
    qtbot.keyClick(picker.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    picker.clear()
    assert "c62828" not in picker.summary.styleSheet()


def drop_png(window, path) -> None:
    """A PNG dropped on the window, as from a file manager."""
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)


def text_only_png(folder, info, prompt: str):
    import numpy as np

    from ldm_studio.core.files.outputs import save_images
    from ldm_studio.core.generation.requests import CombinedCondition, GenerationRequest, SamplerSettings, TextCondition

    request = GenerationRequest(
        CombinedCondition(TextCondition(prompt), None, None), SamplerSettings(steps=5, seed=7, width=64, height=64)
    )
    image = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    return save_images(image, request, info, folder, device="cpu")[0]


@needs_demo
def test_opening_a_text_recipe_clears_a_stale_map_and_class_and_says_so(qtbot, demo_window, tmp_path):
    from ldm_studio.core.generation.requests import CombinedCondition

    panel = demo_window.conditioning
    qtbot.mouseClick(panel.tabBar(), Qt.MouseButton.LeftButton, pos=panel.tabBar().tabRect(2).center())
    qtbot.mouseClick(panel.map.template_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.tabBar(), Qt.MouseButton.LeftButton, pos=panel.tabBar().tabRect(1).center())
    qtbot.keyClicks(panel.classes.search, "beach")
    qtbot.keyClick(panel.classes.search, Qt.Key.Key_Return)
    before = panel.condition()
    assert before.label is not None and before.semantic is not None

    png = text_only_png(tmp_path, demo_window.controller.model_info, "a dense forest of green trees")
    drop_png(demo_window, png)
    condition = panel.condition()
    assert isinstance(condition, CombinedCondition)
    assert condition.text.prompt == "a dense forest of green trees"
    assert condition.label is None and condition.semantic is None
    assert "cleared class, semantic map (not in the recipe)" in demo_window.last_restore
    assert demo_window.error_label.text() == demo_window.last_restore
    panel.map.editor.undo_action.trigger()  # the painter's Undo brings the map back
    assert panel.map.label_map is not None


def fully_visible(widget) -> bool:
    """The whole widget is on screen: not scrolled away, not clipped by its parents."""
    return widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size()


@needs_demo
@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_generate_stays_in_view_after_the_class_and_map_tabs(qtbot, demo_window, size):
    window = demo_window
    window.resize(*size)
    bar = window.conditioning.tabBar()
    for tab in (1, 2, 0, 2):
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tab).center())
        qtbot.wait(20)
        assert fully_visible(window.generate_button), (size, tab)
        assert not window.controls_scroll.horizontalScrollBar().isVisible()
    window.show_error("class: index 436 is outside 0..7; " + "a long explanation that wraps, " * 4)
    qtbot.wait(20)
    label = window.error_label
    assert fully_visible(label) and label.height() >= label.heightForWidth(label.width())
    assert fully_visible(window.generate_button)


@needs_demo
def test_at_the_minimum_width_nothing_in_the_sampler_panel_is_clipped(qtbot, demo_window):
    window = demo_window
    window.resize(window.minimumSizeHint().width(), 900)
    qtbot.wait(20)
    sampler = window.sampler
    for widget in (sampler.steps, sampler.guidance, sampler.eta, sampler.reuse_seed, sampler.height_box, sampler.batch):
        assert fully_visible(widget), type(widget).__name__


@needs_demo
def test_long_status_messages_are_elided_with_the_whole_text_in_a_tooltip(qtbot, demo_window):
    window = demo_window
    window.resize(1280, 800)
    text = "Saved " + ", ".join(f"20261201-150435-{n}.png" for n in range(30))
    window.show_message(text)
    qtbot.wait(20)
    shown = window.status_text
    assert window.status_message() == text and shown.toolTip() == text
    assert shown.text().endswith("…") and shown.fontMetrics().horizontalAdvance(shown.text()) <= shown.width()


@needs_demo
def test_with_the_demo_model_the_placeholders_speak_of_it(demo_window):
    from ldm_studio.demo.scenes import vocabulary

    info = demo_window.controller.model_info
    assert "Open a model" not in demo_window.canvas.placeholder and info.name in demo_window.canvas.placeholder
    example = demo_window.conditioning.text.prompt.placeholderText().removeprefix("e.g. ")
    assert set(example.split()) <= set(vocabulary()), example


@needs_demo
def test_double_clicking_a_history_image_shows_its_recipe(qtbot, demo_window, tmp_path, capfd):
    png = text_only_png(tmp_path, demo_window.controller.model_info, "a green forest")
    gallery = demo_window.gallery
    gallery.add_files([str(png)])
    item = next(gallery.item(i) for i in range(gallery.count()) if str(png) in str(gallery.item(i).data(0x0100)))
    rect = gallery.visualItemRect(item)
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: png.name in demo_window.status_message(), timeout=5000)
    message = demo_window.status_message()
    assert "'a green forest'" in message and "seed 7" in message and "DDIM 5 steps" in message
    assert demo_window.canvas.image is not None
    assert "libpng error" not in capfd.readouterr().err


@needs_demo
def test_thirty_ddim_steps_say_why_thirty_one_run(qtbot, demo_window):
    window = demo_window
    window.sampler.steps.setValue(30)
    window.sampler.sampler.setCurrentIndex(window.sampler.sampler.findData("ddim"))
    seen: list[str] = []
    tips: list[str] = []
    window.controller.progress.connect(lambda *args: seen.append(window.progress.label.text()))
    window.controller.progress.connect(lambda *args: tips.append(window.progress.label.toolTip()))
    with qtbot.waitSignal(window.controller.finished, timeout=120_000):
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    assert any(text.startswith("Step 15/31 (30 asked)") for text in seen), seen[:3]
    assert "one of every 33 of the 1000 training steps" in tips[-1]


def test_batch_dialog_defaults_to_a_history_folder_and_its_results_reach_history(qtbot, window, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from ldm_studio.core.files.store import history_dir

    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    dialog = window.batch_dialog
    assert dialog is not None and dialog.isVisible()
    out = dialog.out_edit.text()
    assert out.startswith(str(history_dir() / "batches"))
    qtbot.mouseClick(dialog.source_tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=dialog.source_tabs.tabBar().tabRect(1).center())
    qtbot.mouseClick(dialog.prompts_edit.viewport(), Qt.MouseButton.LeftButton)
    qtbot.keyClicks(dialog.prompts_edit, "a red cat")
    dialog.seeds_edit.setText("3, 4")
    dialog.steps_box.setValue(2)
    statuses: list[str] = []
    window.controller.batch_progress.connect(lambda *a: statuses.append(dialog.status.text()))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=120_000)
    written = [str(p) for p in dialog.report.written]
    assert len(written) == 2
    shown = {window.gallery.item(i).data(Qt.ItemDataRole.UserRole) for i in range(window.gallery.count())}
    assert set(written) <= {str(p) for p in shown}
    assert not any("it/s" in s for s in statuses)
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [out]
    assert dialog.report.contact_sheet is not None and dialog.sheet_button.isEnabled()  # a sweep has one
    qtbot.mouseClick(dialog.sheet_button, Qt.MouseButton.LeftButton)
    assert opened == [out, str(dialog.report.contact_sheet)]
    dialog.close()
