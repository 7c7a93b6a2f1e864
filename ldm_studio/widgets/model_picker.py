"""Choosing a model: folders in the store's models folder plus any folder the person opened,
grouped under their family's heading (the registry's title says what its models take)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.families.registry import family_names, get_family
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


OTHER = "other"  # the group of folders whose family is unknown or unreadable


def family_of(path: Path) -> str:
    """The folder's family when this version knows it, else OTHER."""
    try:
        family = read_model_info(path).family
    except LdmStudioError:
        return OTHER
    return family if get_family(family) is not None else OTHER


def grouped(folders: list[str]) -> list[tuple[str, list[str]]]:
    """Folders under their family, families in the registry's order (the unknown last); empty groups left out."""
    groups: dict[str, list[str]] = {name: [] for name in (*family_names(), OTHER)}
    for folder in folders:
        groups[family_of(Path(folder))].append(folder)
    return [(family, members) for family, members in groups.items() if members]


def heading(family: str) -> str:
    """A group's heading: the family's name and what its models take (the registry's title)."""
    spec = get_family(family)
    return f"{family}: {spec.title}" if spec is not None else "other folders"


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
        for family, members in grouped(folders):
            self._add_heading(heading(family))
            for folder in members:
                self.combo.addItem(f"    {describe(Path(folder))}", folder)
                self.combo.setItemData(self.combo.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def _add_heading(self, text: str) -> None:
        """A family heading: bold, neither selectable nor enabled, no folder behind it."""
        self.combo.addItem(text)
        model = self.combo.model()
        assert isinstance(model, QStandardItemModel)  # QComboBox's own model
        item = model.item(self.combo.count() - 1)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = item.font()
        font.setBold(True)
        item.setFont(font)

    def headings(self) -> list[str]:
        """The group headings shown, in order (for tests and accessibility)."""
        return [self.combo.itemText(i) for i in range(self.combo.count()) if self.combo.itemData(i) is None]

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
