"""Help ▸ About, the unexpected-error dialog, and `ldm-studio gui --smoke-test`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib import metadata

import pytest
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMessageBox
from qt_helpers import make_window

from ldm_studio import __version__, app_log
from ldm_studio.widgets.error_dialog import ErrorReporter


def test_about_shows_versions_device_and_log_path(qtbot):
    window = make_window(qtbot)
    dialog = window.show_about()
    text = dialog.text()
    # the installed distribution's version, as the box shows it: a CUDA build's torch.__version__
    # ("2.14.1+cu130") need not equal its package metadata ("2.14.1")
    assert __version__ in text and metadata.version("torch") in text and pyside_version in text
    assert "diffusers" in text and "transformers" in text
    assert window.controller.device_label in text and str(app_log.log_path()) in text
    assert not window.windowIcon().isNull()
    dialog.close()
    window.close()


class Raiser(QObject):
    poke = Signal()

    @Slot()
    def explode(self) -> None:
        raise RuntimeError("injected failure in a slot")


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_the_error_dialog_with_the_log_path(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(app_log, "_handler", logging.NullHandler())  # no file handler left on the root logger
    window = make_window(qtbot)
    reporter = ErrorReporter(window)
    app_log.install_excepthook(show=reporter.show)
    raiser = Raiser()
    raiser.poke.connect(raiser.explode)
    raiser.poke.emit()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert "injected failure in a slot" in shown[0] and str(app_log.log_path()) in shown[0]
    window.close()


def test_smoke_test_exits_zero_on_a_tiny_model(tmp_path, tiny_text_model):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LDM_STUDIO_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ldm_studio", "gui", "--smoke-test", "--model", str(tiny_text_model), "--timeout", "90"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "smoke test: ok" in done.stdout
    assert list((tmp_path / "data" / "history").glob("*.png"))


def test_smoke_test_fails_without_a_model(qtbot, monkeypatch):
    monkeypatch.setattr("ldm_studio.widgets.main_window.demo_model_path", lambda: None)
    from ldm_studio.widgets.smoke_test import SmokeTest

    window = make_window(qtbot)
    smoke = SmokeTest(window, timeout_s=10)
    qtbot.waitUntil(lambda: smoke.code is not None, timeout=5000)
    assert smoke.code == 3 and not window.isVisible()
