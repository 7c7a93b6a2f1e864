"""Stable Diffusion single files (.safetensors, .ckpt) load offline and equal the folder form."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTokenizer

from ldm_studio.core.errors import CheckpointError, LdmStudioError
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import sample
from ldm_studio.core.models.manager import import_model
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.core.models.single_file import architectures, config_folder, detect_architecture, load_single_file
from ldm_studio.testing.tiny_sd import write_sd_single_file


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_sd_single_file(tmp_path_factory.mktemp("single"))


def test_architecture_is_detected_from_keys():
    assert detect_architecture(["cond_stage_model.transformer.text_model.final_layer_norm.weight"]) == "sd1"
    assert detect_architecture(["cond_stage_model.model.token_embedding.weight"]) == "sd2-v"
    assert detect_architecture(["conditioner.embedders.1.model.positional_embedding"]) == "sdxl"
    with pytest.raises(CheckpointError, match="not a Stable Diffusion"):
        detect_architecture(["model.diffusion_model.out.2.weight"])


def test_shipped_config_folders_are_complete_and_offline():
    """The shipped configs build each architecture (on the meta device) and CLIP's real tokenizer."""
    folder = config_folder("sd1")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert CLIPTokenizer.from_pretrained(config_folder("sdxl") / "tokenizer_2").pad_token_id == 0  # "!"
    assert set(architectures()) == {"sd1", "sd2", "sd2-v", "sdxl"}
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(json.loads((folder / "unet" / "config.json").read_text()))
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964  # SD 1.5's U-Net


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_single_file_equals_the_folder_form(tmp_path, suffix, tiny_file):
    _, repo = tiny_file
    file, _ = write_sd_single_file(tmp_path, suffix=suffix) if suffix == ".ckpt" else tiny_file
    heard = []
    loaded = load_single_file(file, config=repo, report=heard.append)
    assert loaded.architecture == "sd1" and loaded.family == "sd"
    assert "Stable Diffusion 1.x" in heard[0] and "detected" in heard[0]
    out = tmp_path / "from-file"
    loaded.pipeline.save_pretrained(out)
    choice = choose_device("cpu")
    req = GenerationRequest(
        TextCondition("a red cat", "blurry"), SamplerSettings(sampler="euler", steps=4, width=64, height=64, seed=2)
    )
    a = sample(load_model(out, choice), req)
    b = sample(load_model(repo, choice), req)
    assert (a - b).abs().max().item() <= 1e-6


def test_models_import_converts_a_single_file_into_the_store_once(tiny_file):
    file, repo = tiny_file
    model = import_model(file, config=repo, name="tiny-sd15")
    info = read_model_info(model.path)
    assert info.family == "sd" and info.provenance["architecture"] == "sd1"
    assert info.provenance["format"] == "single-file"
    with pytest.raises(LdmStudioError, match="tiny-sd15"):  # already there: not converted again
        import_model(file, config=repo, name="tiny-sd15")


def test_a_file_of_another_shape_fails_in_one_line_naming_it(tiny_file):
    file, _ = tiny_file
    with pytest.raises(CheckpointError) as err:
        load_single_file(file)  # the shipped SD 1.x config: real sizes, not the tiny ones
    assert str(file) in str(err.value) and "\n" not in str(err.value)


def test_import_without_config_detects_the_architecture_and_names_the_file(tiny_file):
    file, _ = tiny_file
    with pytest.raises(CheckpointError) as err:
        import_model(file, name="tiny-detected")  # detected as SD 1.x; the real-size configs do not fit it
    assert str(file) in str(err.value) and "Stable Diffusion 1.x" in str(err.value)
