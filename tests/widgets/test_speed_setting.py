"""Run ▸ GPU speed and memory: stored in the settings, handed to the engine for the next load."""

from __future__ import annotations

from ldm_studio.core.generation.speed import SpeedOptions
from ldm_studio.widgets.settings_store import SettingsStore
from ldm_studio.widgets.speed_setting import window_speed


def test_the_menu_reaches_the_engine_and_the_settings(qtbot, tmp_path):
    from ldm_studio.widgets.main_window import MainWindow

    store = SettingsStore(tmp_path / "settings.json")
    store.set("compile", True)
    store.save()
    window = MainWindow(settings=store)
    qtbot.addWidget(window)
    try:
        engine = window.controller.engine
        assert engine.speed == SpeedOptions(compile=True)  # from the settings, before any model loads
        assert window.speed_actions["compile"].isChecked() and not window.speed_actions["offload"].isChecked()
        window.speed_actions["offload"].setChecked(True)
        window.speed_actions["compile"].setChecked(False)
        assert engine.speed == SpeedOptions(offload="model")
        assert store.values["offload"] is True and store.values["compile"] is False
    finally:
        window.close()


def test_hand_edited_values_are_off(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    store.set("compile", "yes")
    store.set("vae_tiling", True)
    assert window_speed(store) == SpeedOptions(vae_tiling=True)
