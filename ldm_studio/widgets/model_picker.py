"""Choosing a model: folders in the store's models folder plus any folder the person opened."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.manager import read_index
from ldm_studio.core.models.model_folder import is_model_folder, read_model_info


def store_model_folders() -> list[Path]:
    """Model folders directly inside the store's models folder, plus the installed ones the index lists
    (hub snapshots, models imported in place), by name."""
    root = models_dir()
    folders = [p for p in root.iterdir() if p.is_dir() and is_model_folder(p)] if root.is_dir() else []
    try:
        installed = [m.folder for m in read_index().values()]
    except LdmStudioError:  # a damaged index must not take the picker down
        installed = []
    for folder in installed:
        if folder not in folders and folder.is_dir() and is_model_folder(folder):
            folders.append(folder)
    return sorted(folders, key=lambda p: p.name.lower())


def describe(path: Path) -> str:
    """ "name · family" for the combo box, or the folder name when its info cannot be read."""
    try:
        info = read_model_info(path)
    except LdmStudioError:
        return f"{path.name} (unreadable)"
    return f"{info.name} · {info.family}"


class ModelPicker(QWidget):
    """Combo box of known model folders and an Open button; emits the chosen folder."""

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setPlaceholderText("No model: open a model folder…")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a model folder (Ctrl+O)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.open_button)
        self.opened: list[str] = []
        self.open_button.clicked.connect(self.ask_folder)
        self.combo.activated.connect(self._on_activated)
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """List the store's folders and the opened ones (missing folders are left out)."""
        current = select or self.current_path()
        folders = [str(p) for p in store_model_folders()]
        folders += [f for f in self.opened if f not in folders and Path(f).is_dir()]
        self.combo.blockSignals(True)
        self.combo.clear()
        for folder in folders:
            self.combo.addItem(describe(Path(folder)), folder)
            self.combo.setItemData(self.combo.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def current_path(self) -> str | None:
        return self.combo.currentData()

    def add_folder(self, folder: str) -> None:
        """Remember an opened folder (most recent first) and select it."""
        folder = str(Path(folder))
        if folder in self.opened:
            self.opened.remove(folder)
        self.opened.insert(0, folder)
        del self.opened[12:]
        self.refresh(select=folder)

    def ask_folder(self) -> None:
        start = self.current_path() or str(models_dir())
        folder = QFileDialog.getExistingDirectory(self, "Open model folder", start)
        if folder:
            self.add_folder(folder)
            self.model_chosen.emit(folder)

    def _on_activated(self, index: int) -> None:
        folder = self.combo.itemData(index)
        if folder:
            self.model_chosen.emit(folder)
