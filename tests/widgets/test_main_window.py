"""The main window on the real engine: generate, history, cancel, close, failures, settings."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from qt_helpers import JOB_TIMEOUT_MS, LOAD_TIMEOUT_MS, make_window

from ldm_studio.core.files.recipe import RECIPE_KEY
from ldm_studio.core.files.store import history_dir
from ldm_studio.widgets.settings_store import settings_path

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "main_window.png"


def generate_and_wait(qtbot, window) -> list[str]:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    return blocker.args[1]


def test_generate_from_window_streams_previews_saves_and_lists_in_gallery(qtbot, window):
    previews = []
    window.controller.preview.connect(lambda frame: previews.append(frame.step))
    on_disk_at_finish = []
    window.controller.finished.connect(lambda job, files: on_disk_at_finish.extend(Path(f).exists() for f in files))

    files = generate_and_wait(qtbot, window)

    assert len(files) == 1 and on_disk_at_finish == [True]
    assert Path(files[0]).parent == history_dir()
    assert previews == sorted(previews) and previews[-1] == 4 and len(previews) >= 2
    assert window.gallery.paths()[0] == files[0]
    assert window.canvas.image is not None and window.canvas.image.width() == 64
    assert window.result_files == files
    assert not window.controller.busy and window.progress.label.text() == "Idle"


def test_history_survives_a_restart(qtbot, window, tiny_text_model):
    first = generate_and_wait(qtbot, window)
    second = generate_and_wait(qtbot, window)
    window.close()

    again = make_window(qtbot, tiny_text_model)
    qtbot.waitUntil(lambda: not again.gallery.loading)
    assert again.gallery.paths()[:2] == [second[0], first[0]]  # newest first
    again.show_file(second[0])
    assert again.canvas.image is not None and again.result_files == second
    again.close()


def test_cancel_mid_job_from_window(qtbot, window):
    window.sampler.steps.setValue(400)
    progressed = []
    window.controller.progress.connect(lambda *args: progressed.append(args))
    job = window.generate()
    qtbot.waitUntil(lambda: len(progressed) >= 2, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(window.controller.cancelled, timeout=5000) as blocker:
        window.cancel_action.trigger()
    assert blocker.args == [job]
    qtbot.waitUntil(lambda: window.progress.label.text() == "Idle")
    assert not list(history_dir().glob("*.png"))


def test_fifty_rapid_generate_cancel_cycles(qtbot, window):
    outcomes = []
    for name in ("finished", "failed", "cancelled"):
        getattr(window.controller, name).connect(lambda job, *rest, n=name: outcomes.append(n))
    jobs = []
    for i in range(50):
        jobs.append(window.generate())
        if i % 3 == 0:
            qtbot.wait(2)
        window.cancel()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)
    assert None not in jobs and len(outcomes) == 50 and "failed" not in outcomes
    generate_and_wait(qtbot, window)


def test_close_during_a_job_exits_within_two_seconds(qtbot, window):
    window.sampler.steps.setValue(500)
    progressed = []
    window.controller.progress.connect(lambda *args: progressed.append(args))
    window.generate()
    qtbot.waitUntil(lambda: bool(progressed), timeout=JOB_TIMEOUT_MS)
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 2.0
    assert not window.controller.is_running


def test_failing_job_shows_its_message_and_the_next_job_runs(qtbot, window, monkeypatch):
    engine = window.controller.engine
    real = engine.generate
    calls = {"n": 0}

    def fails_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected engine failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "generate", fails_once)
    with qtbot.waitSignal(window.controller.failed, timeout=JOB_TIMEOUT_MS):
        window.generate()
    assert "injected engine failure" in window.error_label.text()
    assert window.error_label.isVisibleTo(window)
    generate_and_wait(qtbot, window)
    assert not window.error_label.isVisibleTo(window)


def test_a_request_the_model_rejects_is_explained_without_a_job(qtbot, window):
    window.sampler.width_box.setValue(60)
    assert window.generate() is None
    assert "width" in window.error_label.text() and "multiple" in window.error_label.text()
    assert not window.controller.busy


def test_shortcuts_are_bound(window):
    def keys(action):
        return {k.toString() for k in action.shortcuts()}

    assert {"Ctrl+Return", "Ctrl+Enter"} <= keys(window.generate_action)
    assert "Esc" in keys(window.cancel_action)
    assert QKeySequence(QKeySequence.StandardKey.Save).toString() in keys(window.save_action)
    assert QKeySequence(QKeySequence.StandardKey.Open).toString() in keys(window.open_action)


def test_ctrl_enter_generates(qtbot, window):
    window.activateWindow()
    window.conditioning.text.negative.setFocus()
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        qtbot.keyClick(window.conditioning.text.negative, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_save_as_keeps_the_recipe(qtbot, window, tmp_path):
    generate_and_wait(qtbot, window)
    written = window.save_result_to(str(tmp_path / "mine.png"))
    from PIL import Image

    with Image.open(written[0]) as image:
        recipe = json.loads(image.text[RECIPE_KEY])
    assert recipe["condition"]["prompt"] == "a red cat"


def test_gallery_delete_removes_the_file(qtbot, window):
    files = generate_and_wait(qtbot, window)
    assert window.gallery.delete_files(files) == 1
    assert not Path(files[0]).exists() and files[0] not in window.gallery.paths()


def test_settings_and_layout_persist(qtbot, window, tiny_text_model):
    window.conditioning.text.prompt.setPlainText("a blue lake at night")
    window.sampler.random_seed.setChecked(False)
    window.sampler.seed.setValue(1234)
    window.resize(790, 560)  # inside the offscreen screen (800x600): restoreGeometry clamps to it
    window.close()
    assert json.loads(settings_path().read_text())["model"] == str(tiny_text_model)

    again = make_window(qtbot, tiny_text_model)  # the model comes back from the settings too
    assert again.conditioning.text.prompt.toPlainText() == "a blue lake at night"
    assert not again.sampler.random_seed.isChecked() and again.sampler.seed.value() == 1234
    assert (again.width(), again.height()) == (790, 560)
    again.close()


def test_corrupt_settings_fall_back_to_defaults_with_a_message(qtbot):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ not json", encoding="utf-8")
    window = make_window(qtbot)
    assert "damaged" in window.status_message()
    assert list(path.parent.glob("settings.json.damaged-*"))
    assert window.controller.model_info is None
    assert window.generate() is None and "Open a model" in window.last_error
    window.close()
    assert json.loads(path.read_text(encoding="utf-8"))  # a good file again


def test_screenshot_after_a_generation(qtbot, window):
    """The window as a person sees it: on the shipped demo model when this tree has it."""
    from ldm_studio.core.models.demo_model import demo_model_path

    demo = demo_model_path()
    if demo is not None:
        with qtbot.waitSignal(window.controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
            window.open_model(str(demo))
        window.conditioning.text.prompt.setPlainText("snowy mountains above a lake")
        window.sampler.steps.setValue(30)
        window.sampler.width_box.setValue(64)
        window.sampler.height_box.setValue(64)
        window.sampler.random_seed.setChecked(False)
        window.sampler.seed.setValue(3)
    else:
        window.conditioning.text.prompt.setPlainText("a painting of a red fox in the snow, at sunset")
        window.conditioning.text.negative.setText("blurry, low quality")
        window.sampler.steps.setValue(10)
        window.sampler.width_box.setValue(128)
        window.sampler.height_box.setValue(128)
    window.resize(1280, 800)
    window.sampler.batch.setValue(4)
    generate_and_wait(qtbot, window)
    generate_and_wait(qtbot, window)
    qtbot.wait(50)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
