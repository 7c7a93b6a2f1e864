"""Run ▸ GPU speed and memory: torch.compile, model CPU offload and VAE tiling, kept in the settings.

Each is a checkable entry stored under its own key (`compile`, `offload`, `vae_tiling`; all off by
default). They are applied when a model loads (compiling and offloading are done then), so a change
applies from the next model loaded, which the status bar says. See `core.generation.speed`.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu

from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.speed import SpeedOptions
from ldm_studio.widgets.settings_store import SettingsStore

ENTRIES = {  # setting -> menu text
    "compile": "&Compile the U-Net (torch.compile; slow first load, faster steps on a GPU)",
    "offload": "Low &VRAM: keep parts in CPU memory (model CPU offload)",
    "vae_tiling": "VAE &tiling for large images",
}


def window_speed(settings: SettingsStore) -> SpeedOptions:
    """The options the settings hold (a hand-edited non-boolean value counts as off)."""

    def on(key: str) -> bool:
        return settings.get(key, False, bool) is True

    offload = "model" if on("offload") else "none"
    return SpeedOptions(compile=on("compile"), offload=offload, vae_tiling=on("vae_tiling"))


def install_speed_menu(window: QMainWindow, menu: QMenu, settings: SettingsStore, engine: Engine) -> dict[str, QAction]:
    """The submenu in `menu`; hands the engine the stored options now (before any model loads)."""
    sub = menu.addMenu("GPU &speed and memory")
    engine.set_speed(window_speed(settings))
    actions: dict[str, QAction] = {}
    for key, text in ENTRIES.items():
        act = QAction(text, window, checkable=True)
        act.setChecked(settings.get(key, False, bool) is True)
        act.toggled.connect(lambda checked, k=key: _toggle(window, settings, engine, k, checked))
        sub.addAction(act)
        actions[key] = act
    return actions


def _toggle(window: QMainWindow, settings: SettingsStore, engine: Engine, key: str, checked: bool) -> None:
    settings.set(key, bool(checked))
    engine.set_speed(window_speed(settings))
    window.statusBar().showMessage("Speed and memory options apply from the next model loaded", 10_000)
