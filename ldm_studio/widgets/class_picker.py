"""A searchable, multi-choice picker over the 1000 ImageNet class names.

Ticking several classes makes a batch with one image per class.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.condition_types import ClassCondition, ConditionType
from ldm_studio.core.errors import RequestError
from ldm_studio.core.labels import load_label_set
from ldm_studio.core.model_folder import ModelInfo


@cache
def imagenet_labels() -> tuple[tuple[int, str, str], ...]:
    """(index, name, all names joined) for each class of the shipped ImageNet label set."""
    labels = load_label_set("imagenet-1k")
    return tuple((lb.index, lb.name, ", ".join((lb.name, *lb.aliases))) for lb in labels.labels)


class ClassPicker(QWidget):
    """Filter box + checkable list; `class_ids()` are the ticked classes in the order ticked."""

    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search 1000 ImageNet classes…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self._order: list[int] = []
        self._items: dict[int, QListWidgetItem] = {}
        for index, name, lemmas in imagenet_labels():
            item = QListWidgetItem(f"{index:3d}  {name}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setData(Qt.ItemDataRole.UserRole + 1, f"{index} {lemmas}".lower())
            item.setToolTip(lemmas)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
            self._items[index] = item

        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)

        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._tick_first_visible)
        self.list.itemChanged.connect(self._on_item_changed)
        self.clear_button.clicked.connect(self.clear)
        self._update_summary()

    def class_ids(self) -> list[int]:
        return list(self._order)

    def set_class_ids(self, ids: list[int]) -> None:
        self.list.blockSignals(True)
        for item in self._items.values():
            item.setCheckState(Qt.CheckState.Unchecked)
        self._order = [i for i in ids if i in self._items]
        for i in self._order:
            self._items[i].setCheckState(Qt.CheckState.Checked)
        self.list.blockSignals(False)
        self._update_summary()
        self.selection_changed.emit()

    def clear(self) -> None:
        self.set_class_ids([])

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for i in range(self.list.count()):
            item = self.list.item(i)
            haystack = item.data(Qt.ItemDataRole.UserRole + 1)
            item.setHidden(not all(w in haystack for w in words))

    def _tick_first_visible(self) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if not item.isHidden():
                item.setCheckState(Qt.CheckState.Checked)
                return

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        checked = item.checkState() == Qt.CheckState.Checked
        if checked and index not in self._order:
            self._order.append(index)
        elif not checked and index in self._order:
            self._order.remove(index)
        self._update_summary()
        self.selection_changed.emit()

    def _update_summary(self) -> None:
        names = {index: name for index, name, _ in imagenet_labels()}
        if not self._order:
            self.summary.setText("No class chosen: tick one, or several for a batch.")
            return
        shown = ", ".join(names[i] for i in self._order[:4])
        more = f" and {len(self._order) - 4} more" if len(self._order) > 4 else ""
        batch = f" — a batch of {len(self._order)}" if len(self._order) > 1 else ""
        self.summary.setText(f"{shown}{more}{batch}")

    # --- the conditioning panel's editor protocol (widgets.condition_editors) -------------------

    title = "Class"
    restored_name = "class"

    def condition(self, required: bool) -> ClassCondition | None:
        ids = self.class_ids()
        if not ids:
            if required:
                raise RequestError("class", "tick at least one class")
            return None
        return ClassCondition(tuple(ids))

    def restore(self, condition: ConditionType) -> str | None:
        assert isinstance(condition, ClassCondition)
        self.set_class_ids(list(condition.class_ids))
        if self.class_ids() != list(condition.class_ids):
            return f"class {list(condition.class_ids)} (not in this model's class list)"
        return None

    def reset(self) -> None:
        self.clear()

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        pass

    def image_count(self) -> int | None:
        return len(self._order) if len(self._order) > 1 else None
