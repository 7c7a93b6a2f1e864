"""The left column's frame: scrolled inputs above, Generate (and its error line) always in view below.

The conditioning tabs can be tall (the map painter's palette) and wide (slider values, the
size boxes); in one scroll area with Generate, the button scrolled out of view at 1280×800
and a horizontal scroll bar clipped the right edge. Here only the inputs scroll, vertically,
and the column is never narrower than its widest row.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QStyle, QVBoxLayout, QWidget


class InputsScroll(QScrollArea):
    """Vertical-only scrolling whose minimum width is the content's, plus room for the scroll bar."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def minimumSizeHint(self) -> QSize:
        content = self.widget().minimumSizeHint() if self.widget() is not None else QSize(0, 0)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        return QSize(content.width() + bar + 2 * self.frameWidth(), 120)

    def sizeHint(self) -> QSize:
        return QSize(self.minimumSizeHint().width(), super().sizeHint().height())


def controls_column(inputs: QWidget, footer: list[QWidget]) -> tuple[QWidget, InputsScroll]:
    """`inputs` in a vertical scroll area, then the `footer` widgets (error, Generate, queue) pinned below."""
    scroll = InputsScroll(inputs)
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(scroll, 1)
    bottom = QVBoxLayout()
    bottom.setContentsMargins(9, 0, 9, 9)
    for widget in footer:
        bottom.addWidget(widget)
    layout.addLayout(bottom)
    return column, scroll


class ElidedLabel(QLabel):
    """A one-line label that shows what fits, with "…", and the whole text as its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text if text else "")
        self._elide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = QFontMetrics(self.font()).elidedText(self.full_text, Qt.TextElideMode.ElideRight, max(self.width(), 20))
        if shown != self.text():
            self.setText(shown)
