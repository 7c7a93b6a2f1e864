"""An installed TAESD in the window: the load message names it, and live previews go through it."""

from __future__ import annotations

from qt_helpers import JOB_TIMEOUT_MS, make_window


def test_the_window_previews_an_sd_model_through_its_installed_taesd(qtbot, tmp_path):
    from ldm_studio.core.models.manager import import_model
    from ldm_studio.testing.tiny_components import write_tiny_taesd
    from ldm_studio.testing.tiny_sd import write_sd_model

    import_model(write_tiny_taesd(tmp_path / "taesd"), component="taesd")
    window = make_window(qtbot, write_sd_model(tmp_path / "tiny-sd"))
    assert window.controller.preview_source == "TAESD (taesd)"
    assert "live preview: TAESD (taesd)" in window.status_message()
    assert "taesd" in window.preview_actions  # View ▸ Live preview offers it
    window.preview_actions["taesd"].trigger()
    sizes = []
    window.controller.preview.connect(lambda frame: sizes.append(frame.image.width()))
    window.sampler.steps.setValue(3)
    window.conditioning.text.prompt.setPlainText("a red cat")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error
    assert sizes and min(sizes) == 64  # decoded at full size by the tiny autoencoder
    window.close()
