"""The Models dialog: catalogue listing, import into the picker, a cancellable download; the first-run welcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThread
from qt_helpers import LOAD_TIMEOUT_MS, make_window

from ldm_studio.core.models.manager import read_index
from ldm_studio.testing.fake_hub import FakeServer
from ldm_studio.testing.tiny_models import write_text_model

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "models_dialog.png"
HUB_REPO = "test-org/tiny-ldm-text"
TIMEOUT_MS = 30_000
UNBOUNDED_MS = 3_600_000  # waits on an event that always comes; pytest-timeout stops a hung test


def listed(qtbot, dialog) -> list[str]:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT_MS)
    return [row.name for row in dialog.rows]


@pytest.fixture
def no_demo(monkeypatch):
    monkeypatch.setattr("ldm_studio.widgets.main_window.demo_model_path", lambda: None)
    monkeypatch.setattr("ldm_studio.widgets.welcome.demo_model_path", lambda: None)


def test_lists_the_catalogue_and_an_import_appears_in_the_picker(qtbot, tmp_path, no_demo):
    window = make_window(qtbot)
    dialog = window.show_models()
    assert {"ldm-text2im-large-256", "cin256-v2", "semantic-synthesis-256"} <= set(listed(qtbot, dialog))
    assert all(row.state == "not installed" for row in dialog.rows if row.name != "demo")

    source = write_text_model(tmp_path / "my-tiny-model")
    with qtbot.waitSignal(dialog.model_installed, timeout=TIMEOUT_MS) as blocker:
        dialog.import_path(str(source))
    folder = blocker.args[0]
    name = next(m.name for m in read_index().values() if m.path == folder)
    assert Path(folder).is_dir() and Path(folder) != source
    assert window.model_picker.combo.findData(folder) >= 0
    assert name in listed(qtbot, dialog)
    assert dialog.select(name) and dialog.verify_button.isEnabled()

    dialog.verify_button.click()  # (worker signals are not waited on here: they are emitted in its thread)
    qtbot.waitUntil(lambda: "no problems" in dialog.message.text(), timeout=TIMEOUT_MS)
    listed(qtbot, dialog)
    dialog.resize(820, 420)
    qtbot.wait(20)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SCREENSHOT))

    dialog.import_path(str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: "no such" in dialog.message.text(), timeout=TIMEOUT_MS)
    assert "missing" in dialog.message.text()

    # the model loaded in the window cannot be removed from under it
    with qtbot.waitSignal(window.controller.model_loaded, timeout=TIMEOUT_MS):
        window.controller.load_model(folder)
    assert dialog.select(name)
    dialog.confirm_remove()
    assert "loaded in the window" in dialog.message.text() and Path(folder).is_dir()
    window.close()
    assert not dialog.worker_thread.is_running


def test_the_worker_thread_leaves_qobject_thread_alone(qtbot, no_demo):
    """`thread()` stays QObject's (Qt calls it); the dialog's manager worker is `worker_thread`."""
    window = make_window(qtbot)
    dialog = window.show_models()
    listed(qtbot, dialog)
    assert isinstance(dialog.thread(), QThread) and dialog.thread() == QThread.currentThread()
    assert dialog.worker_thread.is_running
    window.close()
    assert not dialog.worker_thread.is_running


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """The loopback hub serving one tiny diffusers repo slowly, and a one-entry catalogue pointing at it."""
    from huggingface_hub import constants

    repo = write_text_model(tmp_path / "repo" / "tiny-ldm-text", diffusers_only=True)
    fake = FakeServer(lifetime=300.0, chunk=4096, delay=0.02).start()
    fake.add_repo(HUB_REPO, repo)
    catalogue = tmp_path / "catalogue.json"
    source = {"type": "hub", "repo_id": HUB_REPO}
    entry = {"name": "tiny-hub-text", "family": "text", "license": "test", "source": source}
    catalogue.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("LDM_STUDIO_CATALOGUE", str(catalogue))
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    yield fake
    fake.stop()


def test_download_shows_progress_can_be_cancelled_and_then_completes(qtbot, fake_hub, no_demo):
    window = make_window(qtbot)
    dialog = window.show_models()
    listed(qtbot, dialog)
    assert dialog.select("tiny-hub-text") and dialog.download_button.isEnabled()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: bool(dialog.last_progress and dialog.last_progress.bytes_done), timeout=TIMEOUT_MS)
    shown = dialog.progress_label.text()
    assert "downloading" in shown and "B / " in shown  # bytes done / total (then speed and ETA)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: "Cancelled" in dialog.message.text(), timeout=TIMEOUT_MS)
    assert "cancelled" in dialog.progress_label.text() and "Cancelled" in dialog.message.text()
    assert "tiny-hub-text" not in read_index()

    fake_hub.delay = 0.0
    # the events the retry needs, not fixed waits: the refresh after the cancel has ended (Download is
    # enabled again), then the retry's download has ended one way or the other; the test's own timeout
    # (pytest-timeout) is the only bound, so a loaded machine makes it slower, never failed
    installed: list[str] = []
    dialog.model_installed.connect(installed.append)
    assert dialog.select("tiny-hub-text")
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=UNBOUNDED_MS)
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert dialog.busy
    ended = ("Download failed", "Download cancelled")
    qtbot.waitUntil(lambda: bool(installed) or dialog.progress_label.text() in ended, timeout=UNBOUNDED_MS)
    assert installed, dialog.message.text()
    assert window.model_picker.combo.findData(installed[0]) >= 0
    window.close()


def test_first_run_offers_the_welcome_panel_without_a_demo_model(qtbot, no_demo):
    window = make_window(qtbot)
    assert window.welcome.isVisible() and not window.welcome.demo_button.isEnabled()
    window.welcome.models_button.click()
    assert window.models_dialog is not None and window.models_dialog.isVisible()
    window.close()


def test_first_run_loads_the_demo_model_by_default(qtbot, monkeypatch, tiny_text_model):
    monkeypatch.setattr("ldm_studio.widgets.main_window.demo_model_path", lambda: tiny_text_model)
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.qt.controller import EngineController
    from ldm_studio.widgets.main_window import MainWindow

    controller = EngineController(Engine(choose_device("cpu")))
    with qtbot.waitSignal(controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window = MainWindow(controller=controller)
    controller.setParent(window)
    qtbot.addWidget(window)
    assert str(controller.model_info.path) == str(tiny_text_model)
    assert not window.welcome.isVisibleTo(window)
    window.close()
