"""Stable Diffusion XL as a family of the one loop: equals diffusers' StableDiffusionXLPipeline."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.testing.tiny_models import WORDS
from ldm_studio.testing.tiny_sd import diffusers_sdxl_pipeline, write_sdxl_model


@pytest.fixture(scope="module")
def sdxl_model(tmp_path_factory):
    folder = write_sdxl_model(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")
    return load_model(folder, choose_device("cpu"))


def make_request(prompt: str, negative: str = "", **settings) -> GenerationRequest:
    base = {"sampler": "dpmpp_2m_karras", "steps": 6, "width": 64, "height": 64, "seed": 5, "guidance": 7.5}
    base.update(settings)
    return GenerationRequest(TextCondition(prompt, negative), SamplerSettings(**base))


def reference(model, req: GenerationRequest) -> torch.Tensor:
    s, c = req.settings, req.condition
    generators = generators_for(s.seed, s.batch_size)
    noise = initial_noise(model.latent_shape(req), generators, model.device, model.dtype)
    return diffusers_sdxl_pipeline(model, s.sampler)(
        [c.prompt] * s.batch_size,
        negative_prompt=[c.negative] * s.batch_size if c.negative else None,
        height=s.height,
        width=s.width,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        latents=noise,
        generator=generators,
        output_type="pt",
    ).images


def test_diffusers_repo_is_read_as_sdxl(sdxl_model):
    info = sdxl_model.info
    assert (info.family, info.autoencoder, info.scale_factor) == ("sdxl", "vae", 0.13025)
    assert sdxl_model.zero_empty_negative


@pytest.mark.parametrize(("guidance", "negative"), [(1.0, ""), (7.5, ""), (7.5, "blurry")])
def test_engine_equals_stable_diffusion_xl_pipeline(sdxl_model, guidance, negative):
    req = make_request("a red cat on a beach", negative, guidance=guidance)
    ours = sample(sdxl_model, req)
    theirs = reference(sdxl_model, req)
    assert ours.shape == theirs.shape == (1, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_batch_and_ancestral_sampler_equal_pipeline(sdxl_model):
    req = make_request("a green forest", "ugly", batch_size=2, sampler="euler_a", steps=4)
    assert (sample(sdxl_model, req) - reference(sdxl_model, req)).abs().max().item() <= 1e-4


def test_micro_conditioning_reaches_the_unet(sdxl_model):
    """The size time ids and pooled embedding are U-Net inputs: another size gives other ids."""
    small = make_request("a cat")
    tall = make_request("a cat", height=128)
    a = sdxl_model.encode(small.condition, 1, True, small)
    b = sdxl_model.encode(tall.condition, 1, True, tall)
    assert a.cond.extra["time_ids"].tolist() == [[64, 64, 0, 0, 64, 64]]
    assert b.cond.extra["time_ids"].tolist() == [[128, 64, 0, 0, 128, 64]]
    assert a.batch(True).extra["text_embeds"].shape == (2, 32)
    assert torch.equal(a.uncond.extra["text_embeds"], torch.zeros(1, 32))  # empty negative: zeros


def test_long_prompt_chunks_both_encoders(sdxl_model):
    single = [w for w in WORDS if len(sdxl_model.text.tokenizer.tokenize(w)) == 1]
    long = " ".join(single[i % len(single)] for i in range(150))
    req = make_request(long, "blurry", steps=2)
    conditioning = sdxl_model.encode(req.condition, 1, True, req)
    assert conditioning.cond.context.shape == conditioning.uncond.context.shape == (1, 154, 64)
