"""History gallery: thumbnails of the PNGs in the history folder, newest first.

The folder is the record (so the gallery survives restarts); thumbnails load a few per
event-loop turn so a long history never freezes the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QMenu, QMessageBox, QWidget

from ldm_studio.core.files.store import history_dir

THUMB = 96
PER_TURN = 16  # thumbnails decoded per event-loop turn at start-up
PATH_ROLE = Qt.ItemDataRole.UserRole


def history_files(folder: Path) -> list[Path]:
    """PNG files in `folder`, newest first (by modification time, then name)."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.png") if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def thumbnail(path: Path, size: int = THUMB) -> QPixmap:
    reader = QImageReader(str(path))
    image = reader.read()
    if image.isNull():
        return QPixmap()
    scaled = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(scaled)


class HistoryGallery(QListWidget):
    """Thumbnails; double-click or "Show" opens one on the canvas."""

    open_requested = Signal(str)
    use_as_input = Signal(str)  # "Use as input": start the next image from this one
    vary = Signal(str)  # "Vary": image-to-image from this one at the Image tab's strength, now
    upscale = Signal(str)  # "Upscale ×4": with a super-resolution model
    inpaint = Signal(str)  # "Inpaint region…": into the picture tab, ready to paint the mask
    message = Signal(str)

    def __init__(self, folder: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder or history_dir()
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.itemActivated.connect(lambda item: self.open_requested.emit(item.data(PATH_ROLE)))
        self._pending: list[Path] = []
        self._loader = QTimer(self)
        self._loader.setInterval(0)
        self._loader.timeout.connect(self._load_some)

    # --- contents ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the history folder again (at start-up, or when the folder changed)."""
        self.clear()
        self._pending = history_files(self.folder)
        self._loader.start()

    @property
    def loading(self) -> bool:
        return self._loader.isActive()

    def paths(self) -> list[str]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]

    def add_files(self, files: list[str]) -> None:
        """New results go first, in batch order."""
        for path in reversed(files):
            self.insertItem(0, self._make_item(Path(path)))
        if files:
            self.scrollToTop()

    def _load_some(self) -> None:
        batch, self._pending = self._pending[:PER_TURN], self._pending[PER_TURN:]
        for path in batch:
            self.addItem(self._make_item(path))
        if not self._pending:
            self._loader.stop()

    def _make_item(self, path: Path) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(thumbnail(path)), "")
        item.setData(PATH_ROLE, str(path))
        item.setToolTip(path.name)
        item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
        return item

    # --- actions ----------------------------------------------------------------------------

    def selected_paths(self) -> list[str]:
        return [item.data(PATH_ROLE) for item in self.selectedItems()]

    def copy_image(self, path: str) -> None:
        image = QImage(path)
        if image.isNull():
            self.message.emit(f"{path}: cannot be read")
            return
        QGuiApplication.clipboard().setImage(image)
        self.message.emit(f"Copied {Path(path).name} to the clipboard")

    def open_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))

    def delete_files(self, paths: list[str]) -> int:
        """Delete the files and their thumbnails; returns how many were deleted."""
        deleted = 0
        for path in paths:
            try:
                Path(path).unlink(missing_ok=True)
            except OSError as exc:
                self.message.emit(f"{path}: cannot be deleted ({exc.strerror or exc})")
                continue
            deleted += 1
            for i in reversed(range(self.count())):
                if self.item(i).data(PATH_ROLE) == path:
                    self.takeItem(i)
        if deleted:
            self.message.emit(f"Deleted {deleted} image(s)")
        return deleted

    def _confirm_delete(self, paths: list[str]) -> None:
        answer = QMessageBox.question(
            self, "Delete images", f"Delete {len(paths)} image file(s) from the history folder?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_files(paths)

    def _context_menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            menu = QMenu(self)
            menu.addAction("Open history folder", self.open_folder)
            menu.exec(self.viewport().mapToGlobal(pos))
            return
        if not item.isSelected():
            self.setCurrentItem(item)
        path = item.data(PATH_ROLE)
        paths = self.selected_paths() or [path]
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.open_requested.emit(path))
        menu.addAction("Use as input", lambda: self.use_as_input.emit(path))
        menu.addAction("Vary", lambda: self.vary.emit(path))
        menu.addAction("Inpaint region…", lambda: self.inpaint.emit(path))
        menu.addAction("Upscale ×4", lambda: self.upscale.emit(path))
        menu.addAction("Copy image", lambda: self.copy_image(path))
        menu.addAction("Open history folder", self.open_folder)
        menu.addSeparator()
        menu.addAction(f"Delete file{'s' if len(paths) > 1 else ''}…", lambda: self._confirm_delete(paths))
        menu.exec(self.viewport().mapToGlobal(pos))
