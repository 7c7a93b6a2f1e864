"""The canvas's first-run panel: no model yet, so offer the demo model and the catalogue instead of an empty screen."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from ldm_studio.core.models.demo_model import demo_model_path


class WelcomePanel(QFrame):
    """Centred over its parent (the canvas); hidden once a model is loaded."""

    use_demo = Signal(str)  # the demo model's folder
    get_models = Signal()
    open_folder = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("welcome_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.demo = demo_model_path()
        title = QLabel("<h2>Welcome to LDM Studio</h2>")
        text = QLabel(
            "No model is loaded yet. Start with the small built-in demo model (it works offline), "
            "or download the real Latent Diffusion Models from the catalogue."
        )
        text.setWordWrap(True)
        self.demo_button = QPushButton("Use the demo model")
        self.demo_button.setEnabled(self.demo is not None)
        self.demo_button.setToolTip(str(self.demo) if self.demo else "This install has no demo model")
        self.models_button = QPushButton("Get models…")
        self.open_button = QPushButton("Open a model folder…")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(text)
        for button in (self.demo_button, self.models_button, self.open_button):
            layout.addWidget(button)
        self.demo_button.clicked.connect(self._use_demo)
        self.models_button.clicked.connect(self.get_models)
        self.open_button.clicked.connect(self.open_folder)
        self.setFixedWidth(380)
        parent.installEventFilter(self)
        self._place()

    def _use_demo(self) -> None:
        if self.demo is not None:
            self.use_demo.emit(str(self.demo))

    def _place(self) -> None:
        self.adjustSize()
        parent = self.parentWidget()
        self.move(max(0, (parent.width() - self.width()) // 2), max(0, (parent.height() - self.height()) // 2))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._place()
        return False
