"""TAESD previews: an installed tiny autoencoder of the model's family decodes x0 for live previews."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_studio.core.generation.approx_decoder import PREVIEW_MODES, policy_for, preview_source
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.taesd import taesd_preview_for
from ldm_studio.core.models.components import check_component_folder, installed_components
from ldm_studio.core.models.manager import import_model, list_models
from ldm_studio.testing.tiny_components import write_tiny_taesd, write_tiny_vae
from ldm_studio.testing.tiny_sd import write_sd_model, write_sdxl_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("taesd")
    return {
        "sd": write_sd_model(root / "tiny-sd"),
        "sdxl": write_sdxl_model(root / "tiny-sdxl"),
        "taesd": write_tiny_taesd(root / "taesd"),
        "taesd-5ch": write_tiny_taesd(root / "taesd-5ch", latent_channels=5),
        "vae": write_tiny_vae(root / "vae"),
    }


def _engine(folder) -> Engine:
    engine = Engine(choose_device("cpu"))
    engine.load(folder)
    return engine


REQUEST = GenerationRequest(TextCondition("a red cat"), SamplerSettings(sampler="euler", steps=3, width=64, height=64))


def test_without_a_taesd_previews_are_what_they_were(folders):
    model = _engine(folders["sd"]).model
    assert taesd_preview_for(model) is None
    assert preview_source(model, None) == "linear projection"
    assert policy_for("approx").tiny is None


def test_an_installed_taesd_decodes_x0_at_full_resolution(folders):
    installed = import_model(folders["taesd"], component="taesd")
    assert installed.family == "sd" and installed.catalogue == "taesd"
    assert [c.name for c in installed_components("sd", "preview_decoder")] == ["taesd"]
    assert installed_components("sdxl", "preview_decoder") == []

    engine = _engine(folders["sd"])
    tiny = taesd_preview_for(engine.model)
    assert tiny is not None and tiny.label == "TAESD (taesd)"
    assert preview_source(engine.model, tiny) == "TAESD (taesd)"  # the window's load message
    assert preview_source(engine.model, tiny, "taesd") == "TAESD (taesd)"
    assert preview_source(engine.model, tiny, "linear") == "linear projection"
    # an sdxl model does not take the SD 1.x/2.x TAESD
    assert taesd_preview_for(_engine(folders["sdxl"]).model) is None

    events = []
    policy = policy_for("approx", tiny=tiny)
    assert policy.source == "TAESD (taesd)"
    engine.generate(REQUEST, preview=policy, on_step=events.append)
    assert all(e.preview is not None and e.preview.shape == (1, 64, 64, 3) for e in events)  # full size, not 8×8
    # the preview is exactly the tiny decoder's picture of the step's x0
    decoded = tiny.autoencoder.decode(events[-1].x0.float()).sample
    expected = ((decoded / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(events[-1].preview, expected)
    # "linear" keeps the linear projection even with a TAESD installed
    linear = []
    engine.generate(REQUEST, preview=policy_for("linear", tiny=tiny), on_step=linear.append)
    assert linear[-1].preview.shape == (1, 8, 8, 3)
    assert "taesd" in PREVIEW_MODES and policy_for("taesd", tiny=tiny).kind == "taesd"


def test_a_taesd_with_other_latent_channels_is_left_out(folders):
    import_model(folders["taesd-5ch"], component="taesd", name="odd-taesd")
    assert taesd_preview_for(_engine(folders["sd"]).model) is None


def test_components_are_listed_and_checked(folders):
    rows = {r.name: r for r in list_models()}
    assert {"taesd", "taesdxl", "sdxl-vae-fp16-fix"} <= set(rows)
    assert rows["taesdxl"].entry.kind == "component" and rows["taesdxl"].entry.role == "preview_decoder"
    assert rows["sdxl-vae-fp16-fix"].family == "sdxl" and rows["sdxl-vae-fp16-fix"].state == "not installed"
    problems = check_component_folder(folders["vae"], "preview_decoder")
    assert len(problems) == 1 and "AutoencoderTiny" in problems[0] and "config.json" in problems[0]
    from ldm_studio.core.errors import ModelFolderError

    with pytest.raises(ModelFolderError, match="AutoencoderTiny"):
        import_model(folders["vae"], component="taesdxl")
    model = import_model(folders["vae"], component="sdxl-vae-fp16-fix")
    assert {r.name: r for r in list_models()}["sdxl-vae-fp16-fix"].state == "installed"
    from ldm_studio.core.models.manager import verify

    assert verify(model.name).ok
