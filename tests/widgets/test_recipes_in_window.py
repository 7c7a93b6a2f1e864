"""Opening or dropping a PNG restores its recipe into the panels; other PNGs get a clear message."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from qt_helpers import JOB_TIMEOUT_MS

from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.requests import GenerationRequest


def panels_request(window) -> GenerationRequest:
    settings = window.sampler.settings(lambda: 0, window.conditioning.image_count())
    return GenerationRequest(window.conditioning.condition(), settings)


def write_png(path: Path, **chunks: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (16, 16), (200, 40, 40)).save(path, pnginfo=info)
    return path


def drop(window, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)


def test_open_and_drop_an_app_png_restore_every_field(qtbot, window):
    window.conditioning.text.negative.setText("blurry")
    window.sampler.sampler.setCurrentIndex(window.sampler.sampler.findData("euler_a"))
    window.sampler.guidance.setValue(7.5)
    window.sampler.random_seed.setChecked(False)
    window.sampler.seed.setValue(4242)
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        window.generate()
    made = blocker.args[1][0]
    original = read_png_recipe(made).request()

    for how in (window.open_image, lambda path: drop(window, Path(path))):
        window.conditioning.text.prompt.setPlainText("something else")
        window.conditioning.text.negative.clear()
        window.sampler.steps.setValue(33)
        window.sampler.guidance.setValue(2.0)
        window.sampler.random_seed.setChecked(True)
        how(made)
        assert panels_request(window) == original
        assert "not restored" not in window.last_restore and "differs" not in window.last_restore
        assert window.canvas.image is not None and window.result_files == [made]


def test_an_a1111_png_restores_what_maps_and_lists_the_rest(qtbot, window, tmp_path):
    text = (
        "a castle on a hill\nNegative prompt: fog\n"
        "Steps: 7, Sampler: Euler a, CFG scale: 6, Seed: 99, Size: 64x64, "
        "Model hash: abcdef12, Model: sd15, Clip skip: 2"
    )
    path = write_png(tmp_path / "a1111.png", parameters=text)
    assert window.open_image(str(path))
    request = panels_request(window)
    assert request.condition.prompt == "a castle on a hill" and request.condition.negative == "fog"
    s = request.settings
    assert (s.steps, s.sampler, s.guidance, s.seed, s.width, s.height) == (7, "euler_a", 6.0, 99, 64, 64)
    assert "Clip skip: 2" in window.last_restore
    assert "sd15" in window.last_restore and window.error_label.isVisibleTo(window)


def test_malformed_and_bare_pngs_get_a_clear_message(qtbot, window, tmp_path):
    before = panels_request(window)
    bad = write_png(tmp_path / "bad.png", ldm_studio="{not json")
    assert not window.open_image(str(bad))
    assert "malformed" in window.last_error and "bad.png" in window.last_error
    bare = write_png(tmp_path / "bare.png")
    assert not window.open_image(str(bare))
    assert "no generation metadata" in window.last_error
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    assert not window.open_image(str(garbage))
    assert "garbage.png" in window.last_error
    assert panels_request(window).condition == before.condition
