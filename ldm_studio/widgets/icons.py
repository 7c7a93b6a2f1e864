"""The app icon from the packaged resources (PNG sizes, so every platform gets a crisp one), and showing dialogs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QWidget

from ldm_studio.resources_path import resource_path

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icons_dir() -> Path:
    return resource_path("icons")


@cache
def app_icon() -> QIcon:
    """All PNG sizes (and the SVG, where the SVG plugin exists); an empty icon if none is installed."""
    icon = QIcon()
    folder = icons_dir()
    for size in PNG_SIZES:
        png = folder / f"ldm-studio-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon


def show_dialog(dialog: QWidget) -> None:
    """Show a modeless dialog on top (raising is not supported, and warns, on the offscreen platform)."""
    dialog.show()
    if QGuiApplication.platformName() != "offscreen":
        dialog.raise_()
        dialog.activateWindow()
