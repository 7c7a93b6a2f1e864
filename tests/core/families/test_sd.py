"""Stable Diffusion 1.x/2.x as a family of the one loop: equals diffusers' StableDiffusionPipeline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ldm_studio.core.families.registry import family_of_pipeline
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.tiny_models import WORDS
from ldm_studio.testing.tiny_sd import diffusers_sd_pipeline, write_sd_model


def long_prompt(tokenizer, tokens: int = 150) -> str:
    """`tokens` words that are one token each in the tiny vocabulary."""
    single = [w for w in WORDS if len(tokenizer.tokenize(w)) == 1]
    return " ".join(single[i % len(single)] for i in range(tokens))


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def sd_model(request, tmp_path_factory):
    folder = write_sd_model(tmp_path_factory.mktemp("sd") / f"tiny-sd-{request.param}", prediction_type=request.param)
    return load_model(folder, choose_device("cpu"))


def make_request(prompt: str, negative: str = "", **settings) -> GenerationRequest:
    base = {"sampler": "dpmpp_2m_karras", "steps": 8, "width": 64, "height": 64, "seed": 7, "guidance": 7.5}
    base.update(settings)
    return GenerationRequest(TextCondition(prompt, negative), SamplerSettings(**base))


def reference(model, req: GenerationRequest, prompt: str, negative: str | None) -> torch.Tensor:
    s = req.settings
    generators = generators_for(s.seed, s.batch_size)  # the noise, then ancestral samplers' draws, as the loop
    noise = initial_noise(model.latent_shape(req), generators, model.device, model.dtype)
    pipe = diffusers_sd_pipeline(model, s.sampler)
    return pipe(
        [prompt] * s.batch_size,
        negative_prompt=None if negative is None else [negative] * s.batch_size,
        height=s.height,
        width=s.width,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        latents=noise,
        generator=generators,
        output_type="pt",
    ).images


def test_diffusers_repo_is_read_as_sd_with_its_defaults(sd_model):
    info = read_model_info(sd_model.info.path)
    assert info.family == "sd"
    assert (info.resolution, info.latent_factor, info.autoencoder) == (64, 8, "vae")
    assert (info.defaults.sampler, info.defaults.steps, info.defaults.guidance) == ("dpmpp_2m_karras", 25, 7.5)
    assert family_of_pipeline("StableDiffusionPipeline")[0].name == "sd"


@pytest.mark.parametrize("guidance", [1.0, 7.5])
@pytest.mark.parametrize("sampler", ["dpmpp_2m_karras", "euler_a", "ddim"])
def test_engine_equals_stable_diffusion_pipeline(sd_model, guidance, sampler):
    req = make_request("a red cat on a beach", "blurry", guidance=guidance, sampler=sampler)
    ours = sample(sd_model, req)
    theirs = reference(sd_model, req, "a red cat on a beach", "blurry")
    assert ours.shape == theirs.shape == (1, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_batch_with_empty_negative_equals_pipeline(sd_model):
    req = make_request("a green forest", batch_size=2, steps=5)
    ours = sample(sd_model, req)
    theirs = reference(sd_model, req, "a green forest", "")
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_prediction_type_comes_from_the_scheduler_config(sd_model):
    assert sd_model.prediction_type == sd_model.scheduler_config["prediction_type"]


def test_long_prompt_is_chunked_not_cut(sd_model):
    text = sd_model.text
    long = long_prompt(text.tokenizer)
    ids = text.chunks(long)
    assert len(ids) == 2 and all(len(chunk) == 77 for chunk in ids)
    assert ids[0][0] == ids[1][0] == text.tokenizer.bos_token_id
    first75 = " ".join(long.split()[:75])
    assert ids[0] == text.chunks(first75)[0]
    context = text.embed(long)
    assert context.shape[1] == 154
    assert torch.equal(context[:, :77], text.embed(first75))

    req = make_request(long, "blurry", steps=5)
    long_image = sample(sd_model, req)
    # diffusers' pipeline cuts the prompt at 77 tokens: it equals our first chunk alone ...
    cut = reference(sd_model, req, long, "blurry")
    assert (sample(sd_model, make_request(first75, "blurry", steps=5)) - cut).abs().max().item() <= 1e-4
    # ... and the whole prompt differs from it
    assert (long_image - cut).abs().max().item() > 1e-3


def test_negative_is_padded_to_the_prompts_chunk_count(sd_model):
    req = make_request("a cat", long_prompt(sd_model.text.tokenizer), steps=2)
    conditioning = sd_model.encode(req.condition, 1, True, req)
    assert conditioning.cond.context.shape == conditioning.uncond.context.shape == (1, 154, 32)
    empty = sd_model.text.encode_chunk(sd_model.text.empty_chunk()).context
    assert torch.equal(conditioning.cond.context[:, 77:], empty)


@pytest.mark.parametrize("sampler", ["lcm", "euler_trailing", "euler_a_trailing"])
def test_few_step_samplers_equal_the_pipeline(sd_model, sampler):
    req = make_request("a red cat on a beach", guidance=1.0, sampler=sampler, steps=4)
    assert (sample(sd_model, req) - reference(sd_model, req, "a red cat on a beach", None)).abs().max() <= 1e-4


def test_trailing_spacing_starts_at_the_last_training_step(sd_model):
    from ldm_studio.core.generation.samplers import make_scheduler

    scheduler = make_scheduler("euler_trailing", sd_model.scheduler_config)
    scheduler.set_timesteps(4)
    assert scheduler.timesteps[0].item() == 999
    leading = make_scheduler("euler", sd_model.scheduler_config)
    leading.set_timesteps(4)
    assert leading.timesteps[0].item() < 999


def test_model_settings_the_scheduler_knows_are_kept():
    """rescale_betas_zero_snr (SD 2.x-style zero-terminal-SNR configs) reaches Euler; DDIM-only keys do not."""
    from ldm_studio.core.generation.samplers import make_scheduler

    config = {"beta_schedule": "scaled_linear", "rescale_betas_zero_snr": True, "clip_sample": False}
    euler = make_scheduler("euler", config)
    assert euler.config.rescale_betas_zero_snr is True
    assert "clip_sample" not in euler.config
    assert make_scheduler("ddim", config).config.rescale_betas_zero_snr is True


def test_catalogue_has_the_stable_diffusion_models_with_their_settings():
    from ldm_studio.core.models.catalogue import load_catalogue

    cat = load_catalogue()
    expected = {
        "stable-diffusion-v1-5": ("sd", "stable-diffusion-v1-5/stable-diffusion-v1-5", 25),
        "sd-turbo": ("sd", "stabilityai/sd-turbo", 1),
        "sdxl-base-1.0": ("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", 30),
        "sdxl-turbo": ("sdxl", "stabilityai/sdxl-turbo", 1),
    }
    for name, (family, repo, steps) in expected.items():
        entry = cat[name]
        assert (entry.family, entry.repo_id, entry.recommended["steps"]) == (family, repo, steps)
        assert entry.license and entry.license_note and entry.size_note


def test_catalogue_rejects_an_unknown_recommended_sampler():
    from ldm_studio.core.errors import FileFormatError
    from ldm_studio.core.models.catalogue import parse_catalogue

    item = {"name": "x", "family": "sd", "recommended": {"sampler": "warp", "steps": 4, "guidance": 1.0}}
    item["source"] = {"type": "hub", "repo_id": "a/b"}
    with pytest.raises(FileFormatError, match=r"recommended\.sampler 'warp'"):
        parse_catalogue({"models": [item]}, "test.json")


@pytest.mark.parametrize(
    ("scheduler", "sampler"),
    [("EulerDiscreteScheduler", "euler_trailing"), ("EulerAncestralDiscreteScheduler", "euler_a_trailing")],
)
def test_a_few_step_repo_gets_few_step_defaults(sd_model, tmp_path, scheduler, sampler):
    """SD-Turbo-like repos ship trailing spacing: their defaults are few steps with guidance off."""
    import json
    import shutil

    folder = tmp_path / "turbo"
    shutil.copytree(sd_model.info.path, folder)
    file = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(file.read_text())
    config.update(_class_name=scheduler, timestep_spacing="trailing")
    file.write_text(json.dumps(config))
    defaults = read_model_info(folder).defaults
    assert (defaults.sampler, defaults.steps, defaults.guidance) == (sampler, 4, 1.0)
    assert read_model_info(sd_model.info.path).defaults.sampler == "dpmpp_2m_karras"


@pytest.mark.parametrize(("strength", "guidance", "batch"), [(0.6, 7.5, 1), (0.35, 1.0, 2)])
def test_image_to_image_equals_stable_diffusion_img2img_pipeline(sd_model, strength, guidance, batch):
    """Issue 14: where diffusers has the family's image-to-image pipeline, the engine equals it (same generators)."""
    from diffusers import StableDiffusionImg2ImgPipeline
    from PIL import Image

    from ldm_studio.core.generation.image_inputs import InitImage

    rng = np.random.default_rng(5)
    picture = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    req = make_request("a red cat on a beach", "blurry", guidance=guidance, sampler="ddim", steps=10)
    req = replace(req, init=InitImage(picture, strength), settings=replace(req.settings, batch_size=batch))
    ours = sample(sd_model, req)
    pipe = StableDiffusionImg2ImgPipeline(**diffusers_sd_pipeline(sd_model, "ddim").components)
    pipe.set_progress_bar_config(disable=True)
    s = req.settings
    theirs = pipe(
        ["a red cat on a beach"] * batch,
        image=Image.fromarray(picture),
        strength=strength,
        negative_prompt=["blurry"] * batch,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        generator=generators_for(s.seed, batch),
        output_type="pt",
    ).images
    assert ours.shape == theirs.shape == (batch, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-4
