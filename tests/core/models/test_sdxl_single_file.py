"""An SDXL single file in the original SGM layout loads offline and equals the folder form."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import UNet2DConditionModel

from ldm_studio.core.errors import CheckpointError
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import sample
from ldm_studio.core.models.manager import import_model
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.core.models.single_file import config_folder, detect_architecture, load_single_file, safetensors_keys
from ldm_studio.testing.sgm_checkpoint import write_sdxl_single_file


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory):
    return write_sdxl_single_file(tmp_path_factory.mktemp("sdxl-single"))


def test_the_sgm_file_maps_back_to_the_repo_through_diffusers_own_converter(tiny_sdxl):
    """The test file is what diffusers' loader expects of a real SGM checkpoint: its converter gives back
    exactly the repo's U-Net and autoencoder tensors."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    file, repo = tiny_sdxl
    checkpoint = load_file(str(file))
    assert {k.split(".")[0] for k in checkpoint} == {"model", "first_stage_model", "conditioner"}
    for cls, convert, folder in (
        (UNet2DConditionModel, convert_ldm_unet_checkpoint, "unet"),
        (AutoencoderKL, convert_ldm_vae_checkpoint, "vae"),
    ):
        module = cls.from_pretrained(repo / folder)
        converted, state = convert(checkpoint, dict(module.config)), module.state_dict()
        assert set(converted) == set(state)
        assert all(torch.equal(converted[k].reshape(state[k].shape), state[k]) for k in state)


def test_the_architecture_is_sdxl_from_its_keys(tiny_sdxl):
    file, _ = tiny_sdxl
    assert detect_architecture(safetensors_keys(file), file) == "sdxl"


def test_sdxl_single_file_equals_the_folder_form(tmp_path, tiny_sdxl):
    file, repo = tiny_sdxl
    heard = []
    loaded = load_single_file(file, config=repo, report=heard.append)  # the tiny shapes: the repo's configs
    assert loaded.architecture == "sdxl" and loaded.family == "sdxl"
    assert "Stable Diffusion XL" in heard[0] and "detected from its keys" in heard[0]
    out = tmp_path / "from-file"
    loaded.pipeline.save_pretrained(out)
    choice = choose_device("cpu")
    for guidance in (1.0, 5.0):
        req = GenerationRequest(
            TextCondition("a red cat", "blurry"),
            SamplerSettings(sampler="euler", steps=4, guidance=guidance, width=64, height=64, seed=3),
        )
        a = sample(load_model(out, choice), req)
        b = sample(load_model(repo, choice), req)
        assert (a - b).abs().max().item() <= 1e-6


def test_import_without_config_uses_the_shipped_sdxl_config(tiny_sdxl):
    """Detected as SDXL and loaded against the shipped (real-size) SDXL configs, which a tiny file cannot fit:
    the one-line error names the file and the architecture."""
    file, repo = tiny_sdxl
    with pytest.raises(CheckpointError) as err:
        import_model(file, name="tiny-sdxl-detected")
    assert str(file) in str(err.value) and "Stable Diffusion XL" in str(err.value) and "\n" not in str(err.value)
    model = import_model(file, config=repo, name="tiny-sdxl")
    info = read_model_info(model.path)
    assert info.family == "sdxl" and info.provenance["architecture"] == "sdxl"


def test_the_shipped_sdxl_config_is_sdxl_base(tiny_sdxl):
    folder = config_folder("sdxl")
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(json.loads((folder / "unet" / "config.json").read_text()))
    assert sum(p.numel() for p in unet.parameters()) == 2_567_463_684  # SDXL base 1.0's U-Net
    assert unet.config.addition_embed_type == "text_time" and unet.config.cross_attention_dim == 2048
