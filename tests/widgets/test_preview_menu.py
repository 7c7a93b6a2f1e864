"""View ▸ Live preview: the setting picks the preview the next jobs render, and is remembered."""

from __future__ import annotations

from qt_helpers import JOB_TIMEOUT_MS


def generate_and_wait(qtbot, window) -> None:
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error


def test_live_preview_setting_changes_the_previews_and_is_saved(qtbot, window):
    assert window.controller.preview_mode == "approx"  # the default: the best cheap preview there is
    assert window.controller.preview_source == "linear projection"  # the tiny model has no fitted decoder
    sizes = []
    window.controller.preview.connect(lambda frame: sizes.append(frame.image.width()))
    generate_and_wait(qtbot, window)
    assert sizes and min(sizes) == 64  # the fallback is the projection upscaled to full size (smoothly)

    window.preview_actions["linear"].trigger()
    assert window.controller.preview_mode == "linear" and window.settings.get("preview_mode") == "linear"
    sizes.clear()
    generate_and_wait(qtbot, window)
    f = window.controller.model_info.latent_factor
    assert sizes and min(sizes) == 64 // f  # the projection at latent size (the canvas scales it smoothly)

    window.preview_actions["full"].trigger()
    assert window.controller.preview_mode == "full" and window.settings.get("preview_mode") == "full"
