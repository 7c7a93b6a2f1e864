"""The window's "CPU threads" setting: automatic (see `core.generation.threads`) or a fixed count.

Stored in the settings file as `threads` (0 or absent = automatic). A change applies from the
next job: the engine re-prepares its thread before sampling.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMenu

from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.threads import ThreadPlan, available_cores, plan_threads
from ldm_studio.widgets.settings_store import SettingsStore

SETTING = "threads"


def window_threads(settings: SettingsStore) -> ThreadPlan:
    """The window's plan: the setting when it holds a positive count, else the automatic choice."""
    value = settings.get(SETTING, 0, int)
    return plan_threads(value if isinstance(value, int) and value > 0 else None, gui=True)


def set_window_threads(settings: SettingsStore, engine: Engine, value: int) -> ThreadPlan:
    """Store the setting (0 = automatic) and hand the engine its new plan for its next job."""
    settings.set(SETTING, max(0, value))
    plan = window_threads(settings)
    engine.set_threads(plan)
    return plan


def install_threads_action(window: QMainWindow, menu: QMenu, settings: SettingsStore, engine: Engine) -> QAction:
    """A "CPU threads…" entry in `menu` that asks for the count (0 = automatic)."""
    action = QAction("CPU &threads…", window)

    def ask() -> None:
        cores = available_cores()
        current = settings.get(SETTING, 0, int) or 0
        value, ok = QInputDialog.getInt(
            window,
            "CPU threads",
            f"Threads for sampling on the CPU (0 = automatic: {plan_threads(gui=True).count} of {cores} cores):",
            current,
            0,
            max(cores * 2, 1),
        )
        if ok:
            plan = set_window_threads(settings, engine, value)
            window.statusBar().showMessage(f"CPU threads: {plan.reason}; applies from the next job", 10_000)

    action.triggered.connect(ask)
    menu.addAction(action)
    return action
