"""Render the app icon's SVG source to the PNG sizes, a Windows .ico and a macOS .icns.

Run `python packaging/make_icons.py`; it writes into resources/icons/. Uses
Qt's SVG renderer (already a dependency) and Pillow's ICO/ICNS writers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, target: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(target)):
        raise SystemExit(f"could not write {target}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs one
    svg = ICONS / "ldm-studio.svg"
    pngs = []
    for size in SIZES:
        target = ICONS / f"ldm-studio-{size}.png"
        render(svg, size, target)
        pngs.append(target)
    largest = Image.open(ICONS / "ldm-studio-512.png")
    largest.save(ICONS / "ldm-studio.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    largest.save(ICONS / "ldm-studio.icns")
    print("\n".join(str(p) for p in [*pngs, ICONS / "ldm-studio.ico", ICONS / "ldm-studio.icns"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
