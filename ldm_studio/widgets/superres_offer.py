"""Upscale ×4 without a super-resolution model: offer the catalogue's, instead of a dead end.

`offer_superres(window, path)` opens a small dialog naming the catalogue's super-resolution
model (its size and licence); Download opens File ▸ Models… on that entry and starts its
download, and once it is installed the upscale of `path` starts by itself; "Show in Models…"
only selects it there. Which entries upscale is asked of the family registry (a family whose
inputs include the picture to upscale), never by a family's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.families.registry import get_family
from ldm_studio.core.generation.image_inputs import SuperResCondition
from ldm_studio.core.models.catalogue import CatalogueEntry, load_catalogue
from ldm_studio.core.models.model_folder import read_model_info

if TYPE_CHECKING:
    from ldm_studio.widgets.main_window import MainWindow

PREFERRED_REPO = "CompVis/ldm-super-resolution-4x-openimages"  # the released 4× model, diffusers layout


def family_upscales(family: str) -> bool:
    """Whether `family` takes a picture to upscale (asked of the registry)."""
    spec = get_family(family)
    return spec is not None and SuperResCondition in spec.input_types


def superres_entry(catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry | None:
    """The catalogue's super-resolution model to offer: the released 4× one from the hub (no
    conversion) first, then any hub entry, then an original checkpoint."""
    entries = [e for e in (load_catalogue() if catalogue is None else catalogue).values() if family_upscales(e.family)]
    entries.sort(key=lambda e: (e.repo_id != PREFERRED_REPO, e.source_type != "hub", e.name))
    return entries[0] if entries else None


class SuperResOffer(QDialog):
    """"Upscale ×4 needs a super-resolution model": Download / Show in Models… / Cancel."""

    def __init__(self, entry: CatalogueEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.setWindowTitle("Upscale ×4 needs a super-resolution model")
        self.setObjectName("superres_offer")
        facts = [f for f in (entry.size_label, entry.license) if f]
        self.text = text = QLabel(
            f"No super-resolution model is installed. The catalogue has <b>{entry.title}</b>"
            + (f" ({', '.join(facts)})" if facts else "")
            + f", from {entry.source_label}.<br><br>Download it now? The upscale starts when it is installed."
        )
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.buttons = QDialogButtonBox()
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.show_button = QPushButton("Show in Models…")
        self.buttons.addButton(self.download_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.show_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)


def offer_superres(window: MainWindow, path: str) -> SuperResOffer | None:
    """Show the offer for upscaling `path` (None, with the reason shown, when the catalogue has no such model)."""
    try:
        entry = superres_entry()
    except LdmStudioError as exc:
        window.show_error(f"No super-resolution model is installed, and the catalogue cannot be read: {exc}")
        return None
    if entry is None:
        window.show_error("No super-resolution model is installed: open a superres model folder to upscale.")
        return None
    dialog = SuperResOffer(entry, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def get(download: bool) -> None:
        models = window.show_models()
        if download:
            def once(folder: str) -> None:  # only the download started here upscales
                models.model_installed.disconnect(once)
                _installed(window, folder, path)

            models.model_installed.connect(once)
        models.show_entry(entry.name, download)
        dialog.accept()

    dialog.download_button.clicked.connect(lambda: get(True))
    dialog.show_button.clicked.connect(lambda: get(False))
    window.show_message(f"Upscale ×4 needs a super-resolution model: {entry.title} can be downloaded")
    dialog.open()
    return dialog


def _installed(window: MainWindow, folder: str, path: str) -> None:
    """A download finished: when it upscales and nothing else took over, load it and upscale `path`."""
    try:
        info = read_model_info(folder)
    except LdmStudioError:
        return
    if not family_upscales(info.family) or window._pending_upscale is not None or not Path(path).is_file():
        return
    window._pending_upscale = path
    window.open_model(folder)
