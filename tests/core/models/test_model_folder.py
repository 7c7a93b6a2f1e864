"""The model-folder format: ldm_studio.json folders, plain diffusers repos, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.tiny_models import write_text_model


def test_reads_an_ldm_studio_folder(tiny_text_model):
    info = read_model_info(tiny_text_model)
    assert info.family == "text"
    assert (info.latent_factor, info.latent_channels, info.resolution) == (8, 4, 64)
    assert info.autoencoder == "vqvae" and info.autoencoder_kind == "kl"
    assert info.scale_factor == pytest.approx(0.18215)
    assert info.defaults.steps == 10 and info.origin == "ldm_studio"


def test_recognises_a_plain_diffusers_repo_by_its_pipeline(tmp_path):
    folder = write_text_model(tmp_path / "repo", diffusers_only=True)
    assert not (folder / "ldm_studio.json").exists()
    info = read_model_info(folder)
    assert info.family == "text" and info.origin == "diffusers"
    assert info.defaults.steps == 50 and info.defaults.guidance == 5.0


def test_celebahq_style_repo_uses_scale_one(tmp_path):
    """CompVis/ldm-celebahq-256's vqvae config says 0.18215; its pipeline never applies it."""
    root = tmp_path / "celeba"
    for sub in ("unet", "vqvae", "scheduler"):
        (root / sub).mkdir(parents=True)
    (root / "model_index.json").write_text(
        json.dumps({"_class_name": "LDMPipeline", "vqvae": ["diffusers", "VQModel"]})
    )
    (root / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "sample_size": 64}))
    (root / "vqvae" / "config.json").write_text(
        json.dumps(
            {
                "_class_name": "VQModel",
                "block_out_channels": [128, 256, 512],
                "latent_channels": 3,
                "scaling_factor": 0.18215,
            }
        )
    )
    info = read_model_info(root)
    assert info.family == "uncond"
    assert info.scale_factor == 1.0
    assert info.resolution == 256 and info.latent_factor == 4


@pytest.fixture
def broken(tmp_path, tiny_text_model):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_text_model, folder)
    return folder


def test_malformed_json_names_the_file(broken):
    (broken / "ldm_studio.json").write_text("{not json")
    with pytest.raises(ModelFolderError) as err:
        read_model_info(broken)
    assert "ldm_studio.json" in str(err.value) and "not valid JSON" in str(err.value)


def test_missing_component_names_it(broken):
    shutil.rmtree(broken / "bert")
    with pytest.raises(ModelFolderError, match=r"bert: missing"):
        read_model_info(broken)


def test_unknown_family_and_bad_values(broken):
    data = json.loads((broken / "ldm_studio.json").read_text())
    (broken / "ldm_studio.json").write_text(json.dumps({**data, "family": "video"}))
    with pytest.raises(ModelFolderError, match="unknown family 'video'"):
        read_model_info(broken)
    (broken / "ldm_studio.json").write_text(json.dumps({**data, "resolution": -3}))
    with pytest.raises(ModelFolderError, match="resolution must be a positive integer"):
        read_model_info(broken)
    (broken / "ldm_studio.json").write_text(json.dumps({**data, "defaults": {"sampler": "nope"}}))
    with pytest.raises(ModelFolderError, match="default sampler 'nope'"):
        read_model_info(broken)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="no such folder"):
        read_model_info(tmp_path / "absent")
    with pytest.raises(ModelFolderError, match=r"neither ldm_studio\.json nor model_index\.json"):
        read_model_info(tmp_path)
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelFolderError, match="is not a folder"):
        read_model_info(tmp_path / "file.bin")


def test_unsupported_diffusers_pipeline(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WuerstchenPipeline"}))
    with pytest.raises(ModelFolderError, match="pipeline 'WuerstchenPipeline' is not supported"):
        read_model_info(tmp_path)


def test_corrupt_weights_fail_with_the_folder_named(broken):
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model

    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFolderError, match=r"unet: cannot load UNet2DConditionModel"):
        load_model(broken, choose_device("cpu"))
