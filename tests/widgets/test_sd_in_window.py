"""Stable Diffusion models in the window: the prompt editor, the family's sampler defaults, a finished image."""

from __future__ import annotations

import pytest
from qt_helpers import JOB_TIMEOUT_MS, make_window


@pytest.fixture(scope="module")
def sd_models(tmp_path_factory):
    from ldm_studio.testing.tiny_sd import write_sd_model, write_sdxl_model

    root = tmp_path_factory.mktemp("sd-models")
    return {"sd": write_sd_model(root / "tiny-sd"), "sdxl": write_sdxl_model(root / "tiny-sdxl")}


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_sd_model_runs_from_the_prompt_editor(qtbot, sd_models, family):
    window = make_window(qtbot, sd_models[family])
    panel = window.conditioning
    shown = [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]
    assert shown == ["Prompt", "Semantic map", "Image", "ControlNet"]  # the map: for region prompts
    assert window.sampler.width_box.value() == 64
    window.sampler.steps.setValue(3)
    window.conditioning.text.prompt.setPlainText("a red cat on a beach")
    window.conditioning.text.negative.setText("blurry")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    assert len(blocker.args[1]) == 1
    window.close()
