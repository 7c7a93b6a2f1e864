"""The label palette: swatches with names, landscape labels first, searchable by name.

Left-click picks the label to paint with; right-click offers it as the eraser's background.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.maps.display_colors import display_color
from ldm_studio.core.maps.labels import LabelSet

# the labels landscape painters reach for, in the order they reach for them (real names of each set)
LANDSCAPE_FIRST: dict[str, tuple[str, ...]] = {
    "coco-stuff-182": (
        "sky-other", "clouds", "sea", "river", "water-other", "grass", "tree", "bush", "flower", "mountain",
        "hill", "rock", "stone", "sand", "snow", "dirt", "gravel", "mud", "fog", "leaves", "moss", "plant-other",
        "playingfield", "road", "pavement", "bridge", "house", "building-other", "fence", "wood",
    ),
    "ade20k-150": (
        "sky", "sea", "river", "water", "lake", "waterfall", "grass", "tree", "palm", "plant", "flower",
        "mountain", "hill", "rock", "sand", "earth", "land", "field", "path", "road", "sidewalk", "bridge",
        "house", "building", "skyscraper", "fence",
    ),
}  # fmt: skip
ROLE_INDEX = Qt.ItemDataRole.UserRole
SWATCH = QSize(64, 22)
CELL = QSize(74, 44)
PALETTE_HEIGHT = 330  # the scrolled swatch area's preferred height: the Generate button stays in view


def swatch_icon(colour: tuple[int, int, int], size: QSize = SWATCH) -> QIcon:
    pixmap = QPixmap(size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor(0, 0, 0, 70))
    p.setBrush(QColor(*colour))
    p.drawRoundedRect(0.5, 0.5, size.width() - 1, size.height() - 1, 5, 5)
    p.end()
    return QIcon(pixmap)


class SwatchGrid(QListWidget):
    """A wrapping grid of swatches that grows to show all its visible items (the panel scrolls instead)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setIconSize(SWATCH)
        self.setGridSize(CELL)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * 0.9)
        self.setFont(font)

    def visible_count(self) -> int:
        return sum(not self.item(i).isHidden() for i in range(self.count()))

    def fit_height(self) -> None:
        columns = max(1, (self.viewport().width() or self.width()) // CELL.width())
        rows = math.ceil(self.visible_count() / columns)
        self.setFixedHeight(rows * CELL.height() + 4)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.fit_height()


class SwatchScroll(QScrollArea):
    """Scrolls both swatch grids together, at a height that leaves room for the rest of the panel."""

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setMinimumHeight(160)

    def sizeHint(self) -> QSize:
        return QSize(CELL.width() * 4, PALETTE_HEIGHT)


class PaletteView(QWidget):
    """Search box plus two swatch grids: landscape labels, then all the others by name."""

    label_chosen = Signal(int)
    background_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search labels (sky, water, tree…)")
        self.search.setClearButtonEnabled(True)
        self.favourites = SwatchGrid()
        self.others = SwatchGrid()
        self.empty_note = QLabel("No label matches.")
        self.empty_note.hide()
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(_heading("Landscape"))
        inner.addWidget(self.favourites)
        inner.addWidget(_heading("All labels"))
        inner.addWidget(self.others)
        inner.addWidget(self.empty_note)
        inner.addStretch(1)
        self.scroll = SwatchScroll()
        self.scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.scroll, 1)
        self.labels: LabelSet | None = None
        self.search.textChanged.connect(self.filter)
        for grid in (self.favourites, self.others):
            grid.itemClicked.connect(self._clicked)
            grid.customContextMenuRequested.connect(lambda pos, g=grid: self._menu(g, pos))

    def set_label_set(self, labels: LabelSet) -> None:
        self.labels = labels
        first = [labels.index_of(n) for n in LANDSCAPE_FIRST.get(labels.name, ()) if _has(labels, n)]
        rest = sorted((lb.index for lb in labels.labels if lb.index not in first), key=lambda i: labels[i].name)
        for grid, indices in ((self.favourites, first), (self.others, rest)):
            grid.clear()
            for index in indices:
                label = labels[index]
                item = QListWidgetItem(swatch_icon(display_color(label)), label.name)
                item.setData(ROLE_INDEX, index)
                also = f" — also: {', '.join(label.aliases)}" if label.aliases else ""
                item.setToolTip(f"{label.name} ({index}){also}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                grid.addItem(item)
        self.filter(self.search.text())

    def filter(self, text: str) -> None:
        """Hide swatches whose name and aliases do not contain `text`."""
        needle = " ".join(text.replace("_", " ").lower().split())
        for grid in (self.favourites, self.others):
            for i in range(grid.count()):
                item = grid.item(i)
                label = self.labels[item.data(ROLE_INDEX)] if self.labels else None
                names = [label.name, *label.aliases] if label else [item.text()]
                item.setHidden(bool(needle) and not any(needle in n.replace("_", " ").lower() for n in names))
            grid.fit_height()
        self.empty_note.setVisible(self.visible_indices() == [])

    def visible_indices(self) -> list[int]:
        """Label indices shown, in display order (landscape first)."""
        return [
            grid.item(i).data(ROLE_INDEX)
            for grid in (self.favourites, self.others)
            for i in range(grid.count())
            if not grid.item(i).isHidden()
        ]

    def set_current(self, index: int) -> None:
        """Select the swatch of `index` (after the eyedropper or a shortcut picked it)."""
        for grid in (self.favourites, self.others):
            grid.clearSelection()
            for i in range(grid.count()):
                if grid.item(i).data(ROLE_INDEX) == index:
                    grid.item(i).setSelected(True)
                    rect = grid.visualItemRect(grid.item(i))
                    self.scroll.ensureVisible(0, grid.y() + rect.center().y(), 0, CELL.height())

    def _clicked(self, item: QListWidgetItem) -> None:
        self.label_chosen.emit(int(item.data(ROLE_INDEX)))

    def _menu(self, grid: SwatchGrid, pos: QPoint) -> None:
        item = grid.itemAt(pos)
        if item is None:
            return
        index = int(item.data(ROLE_INDEX))
        menu = QMenu(self)
        menu.addAction(f"Paint with {item.text()}", lambda: self.label_chosen.emit(index))
        menu.addAction(f"Erase to {item.text()} (background)", lambda: self.background_chosen.emit(index))
        menu.exec(grid.viewport().mapToGlobal(pos))


def _heading(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setStyleSheet("color: palette(mid); font-size: 10px; font-weight: 600; letter-spacing: 1px;")
    return label


def _has(labels: LabelSet, name: str) -> bool:
    return any(lb.name == name for lb in labels.labels)
