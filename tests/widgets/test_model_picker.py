"""The model picker groups installed models under their family's heading."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QListView
from qt_helpers import make_window

from ldm_studio.core.families.registry import family_names, get_family
from ldm_studio.core.files.store import models_dir
from ldm_studio.testing.tiny_models import write_class_model, write_text_model
from ldm_studio.testing.tiny_sd import write_sd_model, write_sdxl_model
from ldm_studio.widgets.model_picker import ModelPicker, grouped, heading

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "model_picker.png"


def _store() -> dict[str, Path]:
    root = models_dir()
    return {
        "sd-a": write_sd_model(root / "sd-a"),
        "sd-b": write_sd_model(root / "sd-b", seed=1),
        "sdxl": write_sdxl_model(root / "sdxl-tiny"),
        "text": write_text_model(root / "text-tiny"),
        "class": write_class_model(root / "class-tiny"),
    }


def test_models_are_grouped_under_family_headings(qtbot, tmp_path):
    folders = _store()
    picker = ModelPicker()
    qtbot.addWidget(picker)
    families = [family for family, _ in grouped([str(p) for p in folders.values()])]
    assert families == [f for f in family_names() if f in {"text", "class", "sd", "sdxl"}]  # the registry's order
    assert picker.headings() == [heading(f) for f in families]
    assert heading("sd") == f"sd: {get_family('sd').title}"
    combo = picker.combo
    # each model sits under its heading; headings cannot be chosen
    texts = [combo.itemText(i) for i in range(combo.count())]
    sd_heading = texts.index(heading("sd"))
    assert {texts[sd_heading + 1].strip(), texts[sd_heading + 2].strip()} == {"sd-a · sd", "sd-b · sd"}
    for i in range(combo.count()):
        item = combo.model().item(i)
        chooseable = bool(item.flags() & Qt.ItemFlag.ItemIsSelectable)
        assert chooseable == (combo.itemData(i) is not None)
    picker.refresh(select=str(folders["sdxl"]))
    assert picker.current_path() == str(folders["sdxl"])
    with qtbot.assertNotEmitted(picker.model_chosen):
        picker._on_activated(sd_heading)  # a heading activated (keyboard) chooses nothing
    # a folder the person opened joins its family's group
    other = write_sd_model(tmp_path / "opened-sd", seed=2)
    picker.add_folder(str(other))
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts.index("    opened-sd · sd") < texts.index(heading("sdxl"))


def test_screenshot_of_the_grouped_picker(qtbot):
    folders = _store()
    window = make_window(qtbot)
    window.resize(1280, 800)
    picker = window.model_picker
    picker.refresh(select=str(folders["sd-a"]))
    qtbot.wait(50)
    # the open list drawn where the popup opens (the offscreen platform cannot show real popups)
    combo = picker.combo
    view = QListView()
    view.setModel(combo.model())
    view.setFont(combo.font())
    rows = sum(view.sizeHintForRow(i) for i in range(combo.count()))
    view.resize(max(combo.width(), view.sizeHintForColumn(0) + 24), rows + 4)
    shot = window.grab()
    painter = QPainter(shot)
    painter.drawPixmap(combo.mapTo(window, combo.rect().bottomLeft()), view.grab())
    painter.end()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(SCREENSHOT))
    window.close()
