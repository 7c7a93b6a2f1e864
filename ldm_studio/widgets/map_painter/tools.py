"""The painter's tools: names, shortcuts and icons drawn in code (no icon files to ship or theme)."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF


class Tool(str, Enum):
    BRUSH = "brush"
    LINE = "line"
    RECT = "rect"
    FILL = "fill"
    ERASER = "eraser"
    PICKER = "picker"


# tool -> (menu text, shortcut, what it does)
TOOL_INFO: dict[Tool, tuple[str, str, str]] = {
    Tool.BRUSH: ("Brush", "B", "Paint the chosen label with a round brush"),
    Tool.LINE: ("Line", "L", "Drag a straight line of the chosen label"),
    Tool.RECT: ("Rectangle", "R", "Drag a filled rectangle of the chosen label"),
    Tool.FILL: ("Fill", "F", "Fill a connected region with the chosen label"),
    Tool.ERASER: ("Eraser", "E", "Paint the background label (right-click a swatch to choose it)"),
    Tool.PICKER: ("Eyedropper", "I", "Pick the label under the cursor"),
}
STROKE_TOOLS = (Tool.BRUSH, Tool.ERASER, Tool.LINE)  # tools that show a brush outline
MIN_SIZE, MAX_SIZE = 1, 128


def tool_icon(tool: Tool, size: int = 32) -> QIcon:
    """A simple line icon for `tool`, legible on light and dark toolbars."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 32, size / 32)
    ink = QColor(70, 74, 82)
    accent = QColor(66, 133, 244)
    p.setPen(QPen(ink, 2.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
    if tool is Tool.BRUSH:
        p.drawLine(QPointF(24, 5), QPointF(13, 18))
        p.setBrush(accent)
        path = QPainterPath(QPointF(13, 17))
        path.cubicTo(QPointF(7, 17), QPointF(8, 25), QPointF(4, 27))
        path.cubicTo(QPointF(12, 28), QPointF(17, 24), QPointF(15, 19))
        p.drawPath(path)
    elif tool is Tool.LINE:
        p.setPen(QPen(accent, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(QPointF(6, 26), QPointF(26, 6))
    elif tool is Tool.RECT:
        p.setBrush(QColor(66, 133, 244, 110))
        p.drawRoundedRect(QRectF(5, 8, 22, 16), 2, 2)
    elif tool is Tool.FILL:
        p.setBrush(QColor(250, 250, 250))
        p.drawPolygon(QPolygonF([QPointF(6, 14), QPointF(15, 5), QPointF(24, 14), QPointF(15, 23)]))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(accent)
        p.drawEllipse(QRectF(22, 18, 6, 9))
    elif tool is Tool.ERASER:
        p.setBrush(QColor(240, 150, 160))
        p.drawPolygon(QPolygonF([QPointF(4, 20), QPointF(16, 8), QPointF(28, 16), QPointF(18, 26), QPointF(10, 26)]))
        p.drawLine(QPointF(10, 14), QPointF(22, 22))
    elif tool is Tool.PICKER:
        p.drawLine(QPointF(6, 26), QPointF(17, 15))
        p.setBrush(accent)
        p.translate(21, 11)
        p.rotate(45)
        p.drawRoundedRect(QRectF(-4, -8, 8, 13), 3, 3)  # the bulb
    p.end()
    return QIcon(pixmap)
