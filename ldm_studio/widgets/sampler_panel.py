"""Sampler settings: sampler, steps, guidance, eta, seed (fixed, random, reuse last), size, batch.

Starts from the loaded model's `ldm_studio.json` defaults whenever a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider, QLargeIntSpinBox

from ldm_studio.core.generation.requests import MAX_GUIDANCE, MAX_SEED, SamplerSettings
from ldm_studio.core.generation.samplers import SAMPLERS
from ldm_studio.core.models.model_folder import ModelInfo


class SamplerPanel(QWidget):
    """Form of sampler settings; `settings()` turns it into a checked `SamplerSettings`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sampler = QComboBox()
        for name, spec in SAMPLERS.items():
            self.sampler.addItem(spec.label, name)
        self.steps = QLabeledSlider(Qt.Orientation.Horizontal)
        self.steps.setRange(1, 500)
        self.steps.setValue(50)
        self.guidance = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.guidance.setRange(1.0, MAX_GUIDANCE)
        self.guidance.setDecimals(1)
        self.guidance.setSingleStep(0.5)
        self.guidance.setValue(5.0)
        self.guidance.setToolTip("Classifier-free guidance scale; 1 turns guidance off")
        self.guidance_schedule = QLineEdit(placeholderText="e.g. 7.5 [0.5] 3 (optional)")
        self.guidance_schedule.setToolTip(
            "Guidance that changes during the run: '7.5 [0.5] 3' is 7.5 for the first half of the steps, then 3 "
            "([12]: after step 12). Empty: the Guidance slider throughout"
        )
        self.eta = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.eta.setRange(0.0, 1.0)
        self.eta.setDecimals(2)
        self.eta.setToolTip("DDIM eta: 0 is deterministic, 1 adds the most noise per step")

        self.seed = QLargeIntSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setMinimumWidth(110)
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.reuse_seed = QToolButton()
        self.reuse_seed.setText("Last")
        self.reuse_seed.setToolTip("Fix the seed of the last image made")
        self.reuse_seed.setEnabled(False)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.reuse_seed)

        self.width_box = _size_box()
        self.height_box = _size_box()
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(self.height_box)
        self.batch = QSpinBox()
        self.batch.setRange(1, 16)

        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Schedule", self.guidance_schedule)
        form.addRow("Eta", self.eta)
        form.addRow("Seed", seed_row)
        form.addRow("Size (W × H)", size_row)
        form.addRow("Batch", self.batch)

        self.last_seed: int | None = None
        self.random_seed.toggled.connect(self._sync_seed_enabled)
        self.reuse_seed.clicked.connect(self.reuse_last_seed)
        self.sampler.currentIndexChanged.connect(self._sync_eta_enabled)
        self._sync_seed_enabled()
        self._sync_eta_enabled()

    def apply_defaults(self, info: ModelInfo) -> None:
        """The model's own sampler, steps, guidance, eta and resolution."""
        d = info.defaults
        self.sampler.setCurrentIndex(max(0, self.sampler.findData(d.sampler)))
        self.steps.setValue(d.steps)
        self.guidance.setValue(d.guidance)
        self.eta.setValue(d.eta)
        for box in (self.width_box, self.height_box):
            box.setSingleStep(info.latent_factor)
            box.setMinimum(info.latent_factor)
            box.setValue(info.resolution)

    def settings(self, seed_source: Callable[[], int], batch_size: int | None = None) -> SamplerSettings:
        """The form as settings; a random seed is drawn now and kept as `last_seed` by the caller."""
        seed = seed_source() if self.random_seed.isChecked() else int(self.seed.value())
        return SamplerSettings(
            sampler=self.sampler.currentData(),
            steps=int(self.steps.value()),
            guidance=round(float(self.guidance.value()), 3),
            eta=round(float(self.eta.value()), 3),
            seed=seed,
            batch_size=batch_size or self.batch.value(),
            width=self.width_box.value(),
            height=self.height_box.value(),
            guidance_schedule=self.guidance_schedule.text().strip(),
        )

    def remember_seed(self, seed: int) -> None:
        self.last_seed = seed
        self.reuse_seed.setEnabled(True)
        if self.random_seed.isChecked():
            self.seed.setValue(seed)

    def reuse_last_seed(self) -> None:
        if self.last_seed is not None:
            self.random_seed.setChecked(False)
            self.seed.setValue(self.last_seed)

    def state(self) -> dict:
        seed = int(self.seed.value())
        return {"random_seed": self.random_seed.isChecked(), "seed": seed, "batch": self.batch.value()}

    def restore(self, state: dict) -> None:
        if isinstance(state.get("random_seed"), bool):
            self.random_seed.setChecked(state["random_seed"])
        if isinstance(state.get("seed"), int):
            self.seed.setValue(min(max(state["seed"], 0), MAX_SEED))
        if isinstance(state.get("batch"), int):  # a hand-edited file may hold any integer
            self.batch.setValue(min(max(state["batch"], self.batch.minimum()), self.batch.maximum()))

    def _sync_seed_enabled(self) -> None:
        self.seed.setEnabled(not self.random_seed.isChecked())

    def _sync_eta_enabled(self) -> None:
        spec = SAMPLERS.get(self.sampler.currentData())
        self.eta.setEnabled(bool(spec and spec.uses_eta))


def _size_box() -> QSpinBox:
    box = QSpinBox()
    box.setRange(8, 2048)
    box.setSingleStep(8)
    box.setValue(256)
    box.setSuffix(" px")
    return box
