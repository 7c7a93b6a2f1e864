"""Fixtures for the Qt tests: a controller and a window on the real engine with the tiny text model.

Qt warnings fail tests (pyproject: qt_log_level_fail = "WARNING"); the offscreen platform's
note that it cannot propagate size hints is the one expected warning and is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qt_helpers import LOAD_TIMEOUT_MS, OFFSCREEN_NOISE, make_window

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if any(d in str(item.fspath).replace("\\", "/") for d in ("/tests/qt/", "/tests/widgets/")):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def controller(qtbot) -> Iterator:
    """An EngineController on the CPU with no model loaded; shut down after the test."""
    from ldm_studio.qt.controller import EngineController

    ctl = EngineController(Engine(choose_device("cpu")))
    yield ctl
    assert ctl.shutdown(), "engine thread did not stop"


@pytest.fixture
def loaded_controller(qtbot, controller, tiny_text_model):
    with qtbot.waitSignal(controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
        controller.load_model(tiny_text_model)
    return controller


@pytest.fixture
def window(qtbot, tiny_text_model):
    """The main window with the tiny text model loaded (64 px, few steps for speed)."""
    win = make_window(qtbot, tiny_text_model)
    win.sampler.steps.setValue(4)
    win.sampler.width_box.setValue(64)
    win.sampler.height_box.setValue(64)
    win.conditioning.text.prompt.setPlainText("a red cat")
    yield win
    win.close()


@pytest.fixture(autouse=True)
def no_default_demo_model(monkeypatch):
    """A window opened without a model stays without one (the shipped demo model would load itself);
    tests that want the first-run behaviour patch `demo_model_path` themselves."""
    monkeypatch.setattr("ldm_studio.widgets.main_window.demo_model_path", lambda: None)
    monkeypatch.setattr("ldm_studio.widgets.welcome.demo_model_path", lambda: None)
