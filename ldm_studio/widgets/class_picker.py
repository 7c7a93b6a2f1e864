"""A searchable, multi-choice picker over the loaded model's classes (ImageNet's 1000 by default).

A model with its own class list (`ModelInfo.class_names`, e.g. the demo model's eight scenes)
gets exactly those; ticking several classes makes a batch with one image per class.
"""

from __future__ import annotations

from collections.abc import Sequence
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

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import ClassCondition, ConditionType
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.models.model_folder import ModelInfo


@cache
def imagenet_labels() -> tuple[tuple[int, str, str], ...]:
    """(index, name, all names joined) for each class of the shipped ImageNet label set."""
    labels = load_label_set("imagenet-1k")
    return tuple((lb.index, lb.name, ", ".join((lb.name, *lb.aliases))) for lb in labels.labels)


def model_labels(
    class_names: Sequence[str] | None, num_classes: int | None = None
) -> tuple[tuple[int, str, str], ...]:
    """(index, name, searchable names) of a model's classes: its own names, else ImageNet's
    (cut to `num_classes`; classes past ImageNet's list are numbered)."""
    if class_names is not None:
        return tuple((i, name, name) for i, name in enumerate(class_names))
    labels = imagenet_labels()
    if num_classes is None or num_classes == len(labels):
        return labels
    return tuple(labels[i] if i < len(labels) else (i, f"class {i}", f"class {i}") for i in range(num_classes))


class ClassPicker(QWidget):
    """Filter box + checkable list; `class_ids()` are the ticked classes in the order ticked."""

    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self._order: list[int] = []
        self._items: dict[int, QListWidgetItem] = {}
        self._labels: tuple[tuple[int, str, str], ...] = ()
        self.problem: str | None = None
        self.set_labels(None)

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

    def set_labels(self, class_names: Sequence[str] | None, num_classes: int | None = None) -> None:
        """List these classes (None: ImageNet-1k); ticked classes the new list has stay ticked."""
        labels = model_labels(class_names, num_classes)
        if labels == self._labels:
            return
        self._labels = labels
        own = class_names is not None
        self.search.setPlaceholderText(
            f"Search this model's {len(labels)} classes…" if own else f"Search {len(labels)} ImageNet classes…"
        )
        self.list.blockSignals(True)
        self.list.clear()
        self._items = {}
        width = len(str(max(len(labels) - 1, 0)))
        for index, name, lemmas in labels:
            item = QListWidgetItem(f"{index:{width}d}  {name}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setData(Qt.ItemDataRole.UserRole + 1, f"{index} {lemmas}".lower())
            item.setToolTip(lemmas)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
            self._items[index] = item
        self.list.blockSignals(False)
        self._filter(self.search.text())
        self.set_class_ids(self._order)

    def names(self) -> list[str]:
        """The listed class names, in index order."""
        return [name for _, name, _ in self._labels]

    def show_problem(self, text: str) -> None:
        """A problem with the classes, shown in red where they are picked (cleared by the next change)."""
        self.problem = text
        self.summary.setStyleSheet("color: #c62828;")
        self.summary.setText(text)

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
        self.problem = None
        self.summary.setStyleSheet("")
        names = {index: name for index, name, _ in self._labels}
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
        if info is not None:
            self.set_labels(getattr(info, "class_names", None), getattr(info, "num_classes", None))

    def image_count(self) -> int | None:
        return len(self._order) if len(self._order) > 1 else None
