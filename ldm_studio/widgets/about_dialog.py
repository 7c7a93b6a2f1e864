"""Help ▸ About: the versions and the device a bug report needs, and where the log is."""

from __future__ import annotations

from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from ldm_studio import __version__
from ldm_studio.app_log import log_path
from ldm_studio.widgets.icons import app_icon


def library_version(name: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_facts(device: str) -> dict[str, str]:
    """What the dialog shows, by label (also handy for a bug report)."""
    return {
        "LDM Studio": __version__,
        "torch": library_version("torch"),
        "diffusers": library_version("diffusers"),
        "transformers": library_version("transformers"),
        "PySide6": pyside_version,
        "Device": device,
        "Log file": str(log_path()),
    }


class AboutDialog(QDialog):
    """Versions, device and log path as selectable text."""

    def __init__(self, device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About LDM Studio")
        self.setWindowIcon(app_icon())
        self.facts = about_facts(device)
        title = QLabel(f"<b>LDM Studio {__version__}</b><br>Latent Diffusion Models (Rombach et al. 2022).")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        form = QFormLayout()
        self.labels: dict[str, QLabel] = {}
        for name, value in self.facts.items():
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.labels[name] = label
            form.addRow(name, label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def text(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value in self.facts.items())
