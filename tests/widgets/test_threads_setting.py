"""The window's CPU-threads setting reaches its engine, and a change applies from the next job."""

from __future__ import annotations

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.threads import plan_threads
from ldm_studio.widgets.settings_store import SettingsStore
from ldm_studio.widgets.threads_setting import set_window_threads, window_threads


def test_window_engine_uses_the_setting(qtbot, tmp_path):
    from ldm_studio.widgets.main_window import MainWindow

    store = SettingsStore(tmp_path / "settings.json")
    store.set("threads", 3)
    store.save()
    window = MainWindow(settings=store)
    qtbot.addWidget(window)
    try:
        assert window.controller.engine.threads.count == 3
        assert window.threads_action.text() == "CPU &threads…"
    finally:
        window.close()


def test_automatic_and_changed_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    store = SettingsStore(tmp_path / "settings.json")
    assert window_threads(store) == plan_threads(gui=True)
    store.set("threads", "many")  # a hand-edited file: automatic
    assert window_threads(store) == plan_threads(gui=True)
    engine = Engine(choose_device("cpu"))
    plan = set_window_threads(store, engine, 5)
    assert store.values["threads"] == 5 and engine.threads == plan and plan.count == 5
    assert set_window_threads(store, engine, 0) == plan_threads(gui=True)
