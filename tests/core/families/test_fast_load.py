"""Components read straight from their safetensors file are the ones `from_pretrained` gives, bit for bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertModel
from PIL import Image
from safetensors.torch import load_file, save_file

from ldm_studio.core.families import fast_load
from ldm_studio.core.families.fast_load import load_direct
from ldm_studio.core.models.demo_model import demo_model_path

DEMO = demo_model_path()
pytestmark = pytest.mark.skipif(DEMO is None, reason="this checkout has no demo model")

COMPONENTS = [(UNet2DConditionModel, "unet"), (AutoencoderKL, "vae"), (LDMBertModel, "bert")]


@pytest.mark.parametrize(("cls", "folder"), COMPONENTS)
def test_direct_load_equals_from_pretrained(cls, folder):
    assert DEMO is not None
    direct = load_direct(cls, DEMO / folder, torch.float32)
    assert direct is not None, "the demo model's folders are the simple case"
    reference = cls.from_pretrained(DEMO / folder, local_files_only=True, torch_dtype=torch.float32)
    ours, theirs = direct.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    if hasattr(cls, "load_config"):  # diffusers: the same config, as from_pretrained records it
        assert dict(direct.config) == dict(reference.config)


def test_direct_bert_encodes_bit_identically():
    assert DEMO is not None
    direct = load_direct(LDMBertModel, DEMO / "bert", torch.float32).eval()
    reference = LDMBertModel.from_pretrained(DEMO / "bert", local_files_only=True, torch_dtype=torch.float32).eval()
    top = direct.config.vocab_size - 1
    ids = torch.tensor([[top, 7, 42, 3] + [0] * (direct.config.max_position_embeddings - 4)])
    with torch.no_grad():
        assert torch.equal(direct(ids)[0], reference(ids)[0])


def test_direct_load_casts_to_the_asked_dtype():
    assert DEMO is not None
    model = load_direct(AutoencoderKL, DEMO / "vae", torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def _copy(tmp_path, folder: str):
    assert DEMO is not None
    return shutil.copytree(DEMO / folder, tmp_path / folder)


def test_folders_that_are_not_the_simple_case_are_left_to_from_pretrained(tmp_path):
    unet = _copy(tmp_path, "unet")
    weights = unet / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    renamed = {("legacy." + k if i == 0 else k): v for i, (k, v) in enumerate(state.items())}
    save_file(renamed, weights)
    assert load_direct(UNet2DConditionModel, unet, torch.float32) is None  # keys from_pretrained would rename
    save_file(state, weights)
    (unet / "diffusion_pytorch_model.fp16.safetensors").write_bytes(weights.read_bytes())
    assert load_direct(UNet2DConditionModel, unet, torch.float32) is None  # a variant beside it
    (unet / "diffusion_pytorch_model.fp16.safetensors").unlink()
    (unet / "diffusion_pytorch_model.bin").write_bytes(b"")
    assert load_direct(UNet2DConditionModel, unet, torch.float32) is None  # a pickle beside it
    assert load_direct(UNet2DConditionModel, tmp_path / "missing", torch.float32) is None


def _generate(out, monkeypatch, direct: bool) -> np.ndarray:
    from ldm_studio.cli import main

    if not direct:
        monkeypatch.setattr(fast_load, "load_direct", lambda *_args: None)
    args = ["generate", "--prompt", "a forest", "--class", "lake", "--seed", "3", "--steps", "6", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    (png,) = out.glob("*.png")
    return np.asarray(Image.open(png))


def test_generate_on_the_demo_model_is_bit_identical_with_and_without_direct_loading(tmp_path, monkeypatch):
    fast = _generate(tmp_path / "direct", monkeypatch, direct=True)
    slow = _generate(tmp_path / "from_pretrained", monkeypatch, direct=False)
    assert fast.shape == (64, 64, 3)
    assert np.array_equal(fast, slow)


def test_transformers_models_with_a_choice_of_attention_kernels_are_left_to_from_pretrained(tmp_path):
    """CLIP's attention kernel (sdpa, eager...) is from_pretrained's choice: outputs could differ in the last bits."""
    from transformers import CLIPTextModel

    from ldm_studio.testing.tiny_sd import write_sd_model

    folder = write_sd_model(tmp_path / "sd") / "text_encoder"
    assert getattr(CLIPTextModel, "_supports_sdpa", False)
    assert load_direct(CLIPTextModel, folder, torch.float32) is None
