"""Speed and memory options: applied as asked, and the same pictures as without them (on the CPU)."""

from __future__ import annotations

import argparse

import pytest
import torch

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import sample
from ldm_studio.core.generation.speed import (
    SpeedOptions,
    apply_speed_options,
    attention_backend,
    is_compiled,
    offload_parts,
)
from ldm_studio.testing.tiny_sd import write_sd_model, write_sdxl_model

REQUEST = GenerationRequest(
    TextCondition("a red cat", "blurry"), SamplerSettings(sampler="euler", steps=3, guidance=5.0, width=64, height=64)
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    return {"sd": write_sd_model(root / "tiny-sd"), "sdxl": write_sdxl_model(root / "tiny-sdxl")}


@pytest.fixture(scope="module")
def reference(folders):
    engine = Engine(choose_device("cpu"))
    engine.load(folders["sd"])
    return sample(engine.model, REQUEST)


def _loaded(folder, **options) -> Engine:
    engine = Engine(choose_device("cpu"), speed=SpeedOptions(**options))
    engine.load(folder)
    return engine


def test_defaults_change_nothing_on_the_cpu_and_attention_is_sdpa(folders):
    engine = _loaded(folders["sd"])
    assert engine.load_notes == ["attention: PyTorch SDPA (scaled_dot_product_attention)"]
    assert attention_backend(engine.model.unet).startswith("PyTorch SDPA")
    assert not engine.model.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not is_compiled(engine.model.unet)


def test_channels_last_gives_the_same_images(folders, reference):
    engine = _loaded(folders["sd"], channels_last=True)
    weight = engine.model.unet.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert "memory format: channels_last (U-Net and autoencoder)" in engine.load_notes
    assert (sample(engine.model, REQUEST) - reference).abs().max().item() <= 1e-5


@pytest.mark.slow  # dynamo traces the U-Net for two batch shapes: about a minute on one core
def test_compile_compiles_the_unet_warms_it_up_and_gives_the_same_images(folders, reference):
    engine = _loaded(folders["sd"], compile=True, compile_backend="eager")  # graph capture without codegen
    assert is_compiled(engine.model.unet)
    assert any(n.startswith("U-Net compiled (torch.compile, backend eager), warm-up") for n in engine.load_notes)
    assert engine.model.unet.config.in_channels == 4  # still the same module, attributes reachable
    assert (sample(engine.model, REQUEST) - reference).abs().max().item() <= 1e-5


def test_model_offload_hooks_every_part_and_gives_the_same_images(folders, reference):
    engine = Engine(choose_device("cpu"))
    model = engine.load(folders["sd"])
    parts = offload_parts(model)
    assert parts[-2:] == [model.unet, model.autoencoder] and parts[0] is model.text.model  # the order of a job
    from ldm_studio.core.generation.speed import enable_model_offload

    note = enable_model_offload(model, torch.device("cpu"))  # the hooks' path; a GPU would be the target
    assert note.startswith("model CPU offload: 3 parts") and len(model.offload_hooks) == 3
    assert all(hasattr(p, "_hf_hook") for p in parts)  # decode/encode reach it (apply_forward_hook)
    assert (sample(model, REQUEST) - reference).abs().max().item() <= 1e-6


def test_vae_tiling_and_slicing_are_switched_on_and_kept(folders, reference):
    engine = _loaded(folders["sd"], vae_tiling=True, vae_slicing=True)
    vae = engine.model.autoencoder
    assert vae.use_tiling and vae.use_slicing
    assert {"VAE tiling: on", "VAE slicing: on"} <= set(engine.load_notes)
    engine.model.decode(torch.zeros(1, 4, 8, 8), low_memory=True)  # the out-of-memory retry path
    assert vae.use_tiling  # the retry does not switch off what the person asked for
    assert (sample(engine.model, REQUEST) - reference).abs().max().item() <= 1e-5  # below the tile size: the same


def test_sdxl_in_fp16_decodes_in_fp32_or_with_an_installed_fp16_fix_vae(folders, tmp_path):
    from ldm_studio.core.models.manager import import_model
    from ldm_studio.testing.tiny_components import write_tiny_vae

    fp16 = Engine(choose_device("cpu", "fp16"))
    model = fp16.load(folders["sdxl"])
    assert model.vae_dtype == torch.float32 and next(model.unet.parameters()).dtype == torch.float16
    assert any("VAE: decodes in fp32" in n for n in fp16.load_notes)
    images = model.decode(torch.randn(1, 4, 8, 8, dtype=torch.float16))  # fp16 latents into the fp32 VAE
    assert images.dtype == torch.float32 and torch.isfinite(images).all()

    import_model(write_tiny_vae(tmp_path / "fix"), component="sdxl-vae-fp16-fix")
    fixed = Engine(choose_device("cpu", "fp16"))
    model = fixed.load(folders["sdxl"])
    assert "VAE: sdxl-vae-fp16-fix (installed component)" in fixed.load_notes
    assert model.vae_dtype == torch.float16
    # fp32 sampling keeps the model's own VAE; an SD model is never given the SDXL VAE
    assert not any(n.startswith("VAE") for n in _loaded(folders["sdxl"]).load_notes)
    with pytest.raises(LdmStudioError, match="not an installed vae for 'sd' models"):
        _loaded(folders["sd"], vae="sdxl-vae-fp16-fix")


def test_cli_options_become_speed_options():
    from ldm_studio.commands.speed_options import add_speed_options, speed_from_args

    parser = argparse.ArgumentParser()
    add_speed_options(parser)
    assert speed_from_args(parser.parse_args([])) == SpeedOptions()
    args = parser.parse_args(["--compile", "--no-channels-last", "--vae-tiling", "--offload", "model"])
    assert speed_from_args(args) == SpeedOptions(compile=True, channels_last=False, vae_tiling=True, offload="model")
    with pytest.raises(LdmStudioError, match="--offload"):
        SpeedOptions(offload="sequential")
    assert apply_speed_options  # the one entry point the engine calls


def test_bf16_samples_close_to_fp32(folders, reference):
    """`--dtype bf16` (selectable on CUDA; here on the CPU) runs the whole loop and stays near fp32's picture."""
    engine = Engine(choose_device("cpu", "bf16"))
    model = engine.load(folders["sd"])
    assert next(model.unet.parameters()).dtype == torch.bfloat16 and model.vae_dtype == torch.bfloat16
    images = sample(model, REQUEST)
    assert images.dtype == torch.float32 and (images - reference).abs().mean().item() < 0.05
