"""The timeline in the window: real mouse drags and keys pick the shown step, play, decode, branch, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import JOB_TIMEOUT_MS

from ldm_studio.core.files.recipe import RECIPE_KEY
from ldm_studio.widgets.timeline import qimage_array


@pytest.fixture(autouse=True)
def linear_previews(request):
    """Latent-size linear previews, so a kept step's preview is told from its full decode by its width
    (the default, approximate-decoder preview is full size: tests/qt/test_preview_menu.py)."""
    if "window" in request.fixturenames:
        request.getfixturevalue("window").controller.set_preview_mode("linear")


def finish_job(qtbot, window) -> tuple[int, list[str]]:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        job = window.generate()
        assert job is not None
    return blocker.args[0], blocker.args[1]


def branch_job(qtbot, window) -> tuple[int, list[str]]:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        job = window.timeline.branch()
        assert job is not None
    assert blocker.args[0] == job
    return job, blocker.args[1]


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def drag(strip, steps: list[int]) -> None:
    """Press on the first step's tick, move over the others with the button held, release."""
    y = strip.height() / 2
    points = [QPointF(strip.x_of(s), y) for s in steps]
    kinds = [QMouseEvent.Type.MouseButtonPress] + [QMouseEvent.Type.MouseMove] * (len(points) - 1)
    left = Qt.MouseButton.LeftButton
    for kind, point in zip(kinds, points, strict=True):
        button = left if kind == QMouseEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton
        event = QMouseEvent(kind, point, strip.mapToGlobal(point), button, left, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(strip, event)
    release = QMouseEvent(
        QMouseEvent.Type.MouseButtonRelease,
        points[-1],
        strip.mapToGlobal(points[-1]),
        left,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(strip, release)


def test_scrub_with_mouse_and_keys_shows_each_kept_step(qtbot, window):
    window.sampler.steps.setValue(5)
    job, _ = finish_job(qtbot, window)
    timeline, strip = window.timeline, window.timeline.panel.strip
    assert timeline.job == job and strip.total == strip.kept == 5 and strip.current == 4
    assert "finished" in timeline.panel.step_label.text()
    assert window.canvas.image.width() == 64  # the full decode

    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=QPoint(round(strip.x_of(1)), strip.height() // 2))
    assert strip.current == 1 and not strip.following
    assert timeline.panel.step_label.text().startswith("Step 2 / 5")
    assert window.canvas.image.width() == 8  # that step's preview (latent resolution), stretched on the canvas
    expected = timeline.trajectory.thumbnail(1)[0]
    assert np.array_equal(qimage_array(window.canvas.image, (8, 8)), expected)

    seen = []
    strip.step_changed.connect(seen.append)
    drag(strip, [4, 3, 2, 0])
    assert seen == [4, 3, 2, 0] and strip.current == 0
    assert timeline.panel.step_label.text().startswith("Step 1 / 5")

    strip.setFocus()
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert strip.current == 2 and timeline.panel.step_label.text().startswith("Step 3 / 5")
    qtbot.keyClick(strip, Qt.Key.Key_End)
    assert strip.current == 4 and "finished" in timeline.panel.step_label.text()
    qtbot.keyClick(strip, Qt.Key.Key_Right)  # past the last kept step: stays
    assert strip.current == 4
    qtbot.keyClick(strip, Qt.Key.Key_Home)
    assert strip.current == 0
    assert timeline.last_show_ms < 16  # showing a kept step fits in one frame at 60 Hz


def test_play_runs_through_every_step(qtbot, window):
    finish_job(qtbot, window)
    panel = window.timeline.panel
    shown = []
    panel.strip.step_changed.connect(shown.append)
    panel.play_button.click()  # at the end: restarts from the first step
    qtbot.waitUntil(lambda: not panel.playing, timeout=5000)
    assert shown == [0, 1, 2, 3] and not panel.play_button.isChecked()


def test_ctrl_d_decodes_the_shown_kept_step(qtbot, window):
    job, _ = finish_job(qtbot, window)
    strip = window.timeline.panel.strip
    strip.set_current(1)
    assert window.canvas.image.width() == 8
    with qtbot.waitSignal(window.controller.step_decoded, timeout=JOB_TIMEOUT_MS) as blocker:
        window.decode_action.trigger()
    assert blocker.args[:2] == [job, 1]
    assert window.canvas.image.width() == 64 and "decoded" in window.timeline.panel.step_label.text()


def test_branch_with_nothing_changed_is_the_same_image_and_names_its_parent(qtbot, window):
    window.sampler.steps.setValue(5)
    parent_job, [parent_file] = finish_job(qtbot, window)
    window.timeline.panel.strip.set_current(2)
    branch, [branch_file] = branch_job(qtbot, window)
    assert np.array_equal(pixels(branch_file), pixels(parent_file))
    with Image.open(branch_file) as image:
        recipe = json.loads(image.text[RECIPE_KEY])
    entry = recipe["branch"]
    assert entry["step"] == 2 and entry["changed"] == {}
    assert entry["parent"]["settings"] == recipe["settings"]
    assert entry["parent_sha256"] == window.controller.trajectories.get(parent_job).image_sha256[0]
    # the branch's own timeline begins with the parent's steps up to the branch point
    timeline = window.timeline
    assert timeline.job == branch and timeline.panel.strip.branch_at == 2 and len(timeline.trajectory) == 5

    # another prompt from the same step: another picture, recorded as a change
    timeline.view_job(parent_job)
    timeline.panel.strip.set_current(1)
    window.conditioning.text.prompt.setPlainText("a blue dog")
    _, [changed_file] = branch_job(qtbot, window)
    assert not np.array_equal(pixels(changed_file), pixels(parent_file))
    with Image.open(changed_file) as image:
        changed = json.loads(image.text[RECIPE_KEY])["branch"]["changed"]
    assert changed["condition"][1]["prompt"] == "a blue dog"

    # A/B: the parent left of the divider, the branch right of it, at the shown step
    panel = timeline.panel
    assert panel.compare_box.isVisible() and not panel.comparing
    panel.compare_box.setChecked(True)
    assert panel.comparing and "from step 2" in panel.step_label.text()
    shown = qimage_array(window.canvas.image, (64, 64))
    assert np.array_equal(shown[:, :30], pixels(parent_file)[:, :30])
    assert np.array_equal(shown[:, 34:], pixels(changed_file)[:, 34:])
    panel.divider.setValue(100)  # all parent
    assert np.array_equal(qimage_array(window.canvas.image, (64, 64))[:, :60], pixels(parent_file)[:, :60])
    canvas = window.canvas  # the canvas draws the divider's handle: dragging it moves the A/B slider too
    assert canvas.ab == 1.0
    canvas.resize(400, 400)
    canvas.fit()
    y = round(canvas.mapFromScene(0, 32).y())
    start, target = QPoint(round(canvas.divider_x()) - 2, y), QPoint(round(canvas.mapFromScene(32, 32).x()), y)
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas.viewport(), target)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert abs(panel.divider.value() - 50) <= 3 and canvas.ab == panel.divider.value() / 100
    shown = qimage_array(canvas.image, (64, 64))
    assert np.array_equal(shown[:, :28], pixels(parent_file)[:, :28])
    assert np.array_equal(shown[:, 36:], pixels(changed_file)[:, 36:])
    panel.compare_box.setChecked(False)
    assert canvas.ab is None

    # the branch image's recipe alone re-makes it (the parent re-run to the step, no kept steps used)
    window.conditioning.text.prompt.setPlainText("something else entirely")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.timeline.remake_branch(changed_file) is not None
    assert np.array_equal(pixels(blocker.args[1][0]), pixels(changed_file))
    assert window.timeline.remake_branch(parent_file) is None and "not a branch image" in window.last_error


def test_branch_after_the_budget_dropped_the_parent_reruns_it(qtbot, window):
    window.sampler.steps.setValue(5)
    parent_job, [parent_file] = finish_job(qtbot, window)
    window.timeline.set_budget_mb(0)
    assert not window.controller.trajectories.get(parent_job).has_tensors
    assert window.settings.get("timeline_budget_mb") == 0
    window.timeline.panel.strip.set_current(3)  # thumbnails are still there to scrub
    assert window.canvas.image.width() == 8
    _, [branch_file] = branch_job(qtbot, window)
    assert np.array_equal(pixels(branch_file), pixels(parent_file))


def test_export_the_timeline(qtbot, window, tmp_path):
    _, [file] = finish_job(qtbot, window)
    path = window.timeline.export_to(str(tmp_path / "run.gif"))
    with Image.open(path) as animation:
        assert animation.n_frames == 4 and animation.size == (64, 64)
    strip = window.timeline.export_to(str(tmp_path / "run.png"))
    with Image.open(strip) as image:
        assert image.size == (4 * 64, 64)
        assert np.array_equal(np.asarray(image.convert("RGB"))[:, 3 * 64 :], pixels(file))
    assert window.timeline.export_to(str(tmp_path / "run.bmp")) is None
    assert "run.bmp" in window.last_error


def test_scrubbing_holds_back_live_previews(qtbot, window):
    """While the person scrubs a running job, its live previews do not take the canvas back."""
    window.sampler.steps.setValue(25)  # 25 divides the 1000 training steps: 25 ticks
    strip = window.timeline.panel.strip
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        window.generate()
        qtbot.waitUntil(lambda: strip.kept >= 3, timeout=JOB_TIMEOUT_MS)
        qtbot.keyClick(strip, Qt.Key.Key_Home)
        assert strip.current == 0 and not strip.following
        shown = window.canvas.image
        qtbot.wait(50)
        assert window.canvas.image is shown
    assert strip.current == 0 and strip.kept == 25


def test_timeline_screenshot_a_branch_compared_with_its_parent(qtbot):
    """docs/screenshots/timeline.png: the demo model, a branch from step 10 with another prompt, A/B at 1280x800."""
    from pathlib import Path

    from qt_helpers import make_window

    from ldm_studio.core.models.demo_model import demo_model_path

    window = make_window(qtbot, demo_model_path())
    window.resize(1280, 800)
    window.conditioning.setCurrentWidget(window.conditioning.text)
    window.conditioning.text.prompt.setPlainText("green hills under a blue sky")
    window.sampler.random_seed.setChecked(False)
    window.sampler.seed.setValue(4)
    window.sampler.steps.setValue(30)
    finish_job(qtbot, window)
    window.timeline.panel.strip.set_current(9)
    window.conditioning.text.prompt.setPlainText("snowy mountains above a lake at sunset")
    branch_job(qtbot, window)
    panel = window.timeline.panel
    panel.compare_box.setChecked(True)
    panel.divider.setValue(50)
    qtbot.wait(50)
    shot = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "timeline.png"
    assert window.grab().save(str(shot))
    window.close()
