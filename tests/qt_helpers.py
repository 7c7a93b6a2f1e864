"""Helpers shared by the Qt tests (a module of its own: `conftest` is not importable by name
when several test folders have one)."""

from __future__ import annotations

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition

OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"
LOAD_TIMEOUT_MS = 30_000
JOB_TIMEOUT_MS = 30_000


def text_request(
    steps: int = 4, size: int = 64, batch: int = 1, seed: int = 1, prompt: str = "a red cat"
) -> GenerationRequest:
    return GenerationRequest(
        TextCondition(prompt), SamplerSettings(steps=steps, seed=seed, width=size, height=size, batch_size=batch)
    )


def make_window(qtbot, model=None):
    """A shown MainWindow on its own CPU engine; waits for `model` to load when given."""
    from ldm_studio.qt.controller import EngineController
    from ldm_studio.widgets.main_window import MainWindow

    controller = EngineController(Engine(choose_device("cpu")))
    if model is None:
        window = MainWindow(controller=controller)
    else:
        with qtbot.waitSignal(controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
            window = MainWindow(model=str(model), controller=controller)
    controller.setParent(window)
    qtbot.addWidget(window)
    window.show()
    return window
