"""View ▸ Live preview: choose linear projection / approximate decoder / full decode, kept in the settings."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMainWindow, QMenu

from ldm_studio.core.generation.approx_decoder import PREVIEW_MODES

SETTING = "preview_mode"


def install_preview_menu(window: QMainWindow, menu: QMenu) -> dict[str, QAction]:
    """Add the Live preview submenu to `menu`; the window needs `.controller` and `.settings`.

    The choice applies from the next generation; it is restored from (and saved to) the settings.
    """
    sub = menu.addMenu("Live &preview")
    group = QActionGroup(window)
    group.setExclusive(True)
    chosen = window.settings.get(SETTING, "approx", str)
    if chosen not in PREVIEW_MODES:
        chosen = "approx"
    actions: dict[str, QAction] = {}
    for mode, title in PREVIEW_MODES.items():
        act = QAction(title, window, checkable=True)
        act.setChecked(mode == chosen)
        act.triggered.connect(lambda _checked=False, m=mode: _choose(window, m))
        group.addAction(act)
        sub.addAction(act)
        actions[mode] = act
    window.controller.set_preview_mode(chosen)
    return actions


def _choose(window: QMainWindow, mode: str) -> None:
    window.controller.set_preview_mode(mode)
    window.settings.set(SETTING, mode)
