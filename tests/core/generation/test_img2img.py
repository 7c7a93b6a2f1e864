"""Image-to-image and masked image-to-image in the one loop, on every family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from PIL import Image

from ldm_studio.core.errors import FileFormatError, RequestError
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.image_inputs import InitImage, read_image, read_mask
from ldm_studio.core.generation.img2img import check_starts_mid_schedule, first_step, image_tensor
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.samplers import SAMPLER_NAMES, make_scheduler, set_timesteps
from ldm_studio.core.generation.sampling import Denoising, generators_for, initial_noise, sample
from ldm_studio.testing.tiny_models import diffusers_text_pipeline


def picture(width=64, height=64, seed=0) -> np.ndarray:
    """A smooth picture (gradients and a disc) the tiny autoencoders reconstruct roughly."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    disc = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.08).astype(np.float64)
    base = np.stack([x, y, disc], axis=-1) * 200 + rng.integers(0, 40, (height, width, 3))
    return base.clip(0, 255).astype(np.uint8)


def half_mask(width=64, height=64) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[:, width // 2 :] = True
    return mask


def request(init=None, condition=None, **settings) -> GenerationRequest:
    base = {"steps": 8, "width": 64, "height": 64, "seed": 11, "guidance": 5.0}
    base.update(settings)
    return GenerationRequest(condition or TextCondition("a red cat"), SamplerSettings(**base), init)


def run(model, req) -> Denoising:
    denoising = Denoising(model, req)
    for _ in denoising:
        pass
    return denoising


# --- start step, strength 0 and 1 ------------------------------------------------------------------


def test_strength_zero_is_the_reconstruction(text_engine):
    model = text_engine.model
    image = picture()
    ours = sample(model, request(InitImage(image, 0.0)))
    expected = model.decode(model.encode_images(image_tensor(image) * 2 - 1))
    assert torch.equal(ours, expected)
    result = text_engine.generate(request(InitImage(image, 0.0)))
    assert result.steps == 0


def test_strength_one_is_plain_generation(text_engine):
    model = text_engine.model
    assert torch.equal(sample(model, request(InitImage(picture(), 1.0))), sample(model, request()))


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
@pytest.mark.parametrize("strength", [0.3, 0.5])
def test_strength_runs_the_schedulers_remaining_steps(text_engine, sampler, strength):
    """The steps that run are diffusers' get_timesteps slice of the sampler's own schedule."""
    model = text_engine.model
    req = request(InitImage(picture(), strength), sampler=sampler, steps=6, eta=0.3)
    scheduler = make_scheduler(sampler, model.scheduler_config)
    set_timesteps(scheduler, 6)
    expected = scheduler.timesteps[first_step(6, strength) * scheduler.order :]
    events = list(Denoising(model, req))
    assert [e.timestep for e in events] == [float(t) for t in expected]
    assert len(events) == len(expected) < len(scheduler.timesteps)
    assert all(torch.isfinite(e.latents).all() for e in events)


def test_first_step_is_diffusers_get_timesteps():
    assert [first_step(10, s) for s in (0.0, 0.05, 0.3, 0.5, 0.99, 1.0)] == [10, 10, 7, 5, 1, 0]


def test_a_sampler_that_cannot_start_mid_schedule_is_refused():
    with pytest.raises(RequestError, match="Heun sampler cannot start part-way"):
        check_starts_mid_schedule(object(), "heun")


# --- seeds and batches ---------------------------------------------------------------------------


def test_same_seed_same_image_and_seeds_differ(text_engine):
    model = text_engine.model
    init = InitImage(picture(), 0.6)
    a = sample(model, request(init, seed=3))
    assert torch.equal(a, sample(model, request(init, seed=3)))
    assert (a - sample(model, request(init, seed=4))).abs().max() > 1e-3


@pytest.mark.parametrize("mask", [None, half_mask()])
def test_image_i_of_a_batch_is_the_single_image_with_seed_plus_i(text_engine, mask):
    req = request(InitImage(picture(), 0.6, mask), batch_size=3, sampler="euler_a")
    batch = text_engine.generate(req).images
    for i in range(3):
        assert np.array_equal(batch[i], text_engine.generate(req.for_image(i)).images[0]), f"image {i}"


# --- the diffusers reference -------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.5, 0.75])
def test_img2img_equals_diffusers_scheduler_arithmetic(text_engine, strength):
    """Reference: a posterior sample of the picture, diffusers' DDIMScheduler.add_noise at get_timesteps' start,
    then the LDM loop on the same parts."""
    model = text_engine.model
    steps, guidance, seed = 10, 4.0, 21
    image = picture()
    ours = sample(model, request(InitImage(image, strength), steps=steps, guidance=guidance, seed=seed))

    pipe = diffusers_text_pipeline(model)

    def embed(text):
        ids = pipe.tokenizer([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        return pipe.bert(ids.input_ids)[0]

    context = torch.cat([embed(""), embed("a red cat")])
    scheduler = DDIMScheduler.from_config(model.scheduler_config)
    scheduler.set_timesteps(steps)
    init_timestep = min(int(steps * strength), steps)
    timesteps = scheduler.timesteps[max(steps - init_timestep, 0) :]
    vae = pipe.vqvae
    with torch.no_grad():
        generators = generators_for(seed, 1)  # the posterior sample's ε first, then the noise (diffusers' order)
        dist = vae.encode(image_tensor(image) * 2 - 1).latent_dist
        z0 = dist.sample(generators[0]) * vae.config.scaling_factor
        noise = initial_noise((4, 8, 8), generators, model.device, model.dtype)
        latents = scheduler.add_noise(z0, noise, timesteps[:1])
        for t in timesteps:
            eps = pipe.unet(torch.cat([latents] * 2), t, encoder_hidden_states=context).sample
            uncond, cond = eps.chunk(2)
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents, eta=0.0).prev_sample
        theirs = (vae.decode(latents / vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
    assert (ours - theirs).abs().max().item() <= 1e-4


# --- masks ---------------------------------------------------------------------------------------------


def test_masked_unmasked_pixels_are_the_input_bit_for_bit_in_the_png(text_engine, tmp_path):
    image, mask = picture(), half_mask()
    req = request(InitImage(image, 0.8, mask), batch_size=2)
    result = text_engine.generate(req)
    paths = save_images(result.images, req, text_engine.model.info, tmp_path, device="cpu")
    for path in paths:
        written = np.asarray(Image.open(path).convert("RGB"))
        assert np.array_equal(written[~mask], image[~mask])
        assert not np.array_equal(written[mask], image[mask])


def test_all_zero_mask_gives_the_input_back(text_engine):
    image = picture()
    result = text_engine.generate(request(InitImage(image, 0.9, np.zeros((64, 64), dtype=bool))))
    assert np.array_equal(result.images[0], image)


def test_masked_blend_keeps_the_unmasked_latents_on_the_inputs_path(text_engine):
    """After the last step the unmasked latents are the input's latents exactly (its posterior sample: image i's
    generator draws its ε first)."""
    model = text_engine.model
    image, mask = picture(), half_mask()
    req = request(InitImage(image, 0.7, mask))
    done = run(model, req)
    eps = initial_noise((4, 8, 8), generators_for(req.settings.seed, 1), model.device, model.dtype)
    encoded = model.encode_images(image_tensor(image) * 2 - 1, eps)
    keep = torch.zeros((1, 1, 8, 8), dtype=torch.bool)
    keep[..., :4] = True
    keep = keep.expand_as(encoded)
    assert torch.equal(done.latents[keep], encoded[keep])
    assert not torch.equal(done.latents[~keep], encoded[~keep])


# --- every family ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vq_engines(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_class_model, write_semantic_model, write_uncond_model

    root = tmp_path_factory.mktemp("families")
    engines = {}
    for name, writer in (("class", write_class_model), ("semantic", write_semantic_model)):
        engines[name] = Engine(choose_device("cpu"))
        engines[name].load(writer(root / name), warm_up=False)
    engines["uncond"] = Engine(choose_device("cpu"))
    engines["uncond"].load(write_uncond_model(root / "uncond"), warm_up=False)
    return engines


CONDITIONS = {
    "class": ClassCondition((3,)),
    "semantic": SemanticMapCondition(np.zeros((32, 32), dtype=np.int64)),
    "uncond": UnconditionalCondition(),
}


@pytest.mark.parametrize("family", list(CONDITIONS))
def test_img2img_and_masks_on_every_family(vq_engines, family):
    engine = vq_engines[family]
    image, mask = picture(32, 32), half_mask(32, 32)
    settings = {"width": 32, "height": 32, "steps": 4, "guidance": 2.0}
    zero = engine.generate(request(InitImage(image, 0.0), CONDITIONS[family], **settings))
    model = engine.model
    reconstruction = model.decode(model.encode_images(image_tensor(image) * 2 - 1))
    expected = (reconstruction.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(zero.images[0], expected[0])
    half = engine.generate(request(InitImage(image, 0.5), CONDITIONS[family], **settings))
    assert half.steps == 2
    masked = engine.generate(request(InitImage(image, 0.75, mask), CONDITIONS[family], **settings))
    assert masked.steps == 3
    assert np.array_equal(masked.images[0][~mask], image[~mask])


def test_an_image_of_another_size_is_resized_to_the_output(text_engine):
    result = text_engine.generate(request(InitImage(picture(100, 80), 0.5, half_mask(100, 80))))
    assert result.images.shape == (1, 64, 64, 3)


# --- the reader --------------------------------------------------------------------------------------------


def test_reader_gives_one_line_errors_naming_the_file(tmp_path, monkeypatch):
    with pytest.raises(FileFormatError, match=r"nope.png.*no such file"):
        read_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    with pytest.raises(FileFormatError, match=r"bad.png.*not an image file") as info:
        read_image(bad)
    assert "\n" not in str(info.value)
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(big)
    monkeypatch.setattr("ldm_studio.core.generation.image_inputs.MAX_PIXELS", 50_000)
    with pytest.raises(FileFormatError, match=r"big.png.*declares 300×200 pixels"):
        read_image(big)
    monkeypatch.setattr("ldm_studio.core.generation.image_inputs.MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # PIL's own bomb check is kept too
    with pytest.raises(FileFormatError, match=r"big.png.*decompression bomb"):
        read_image(big)


def test_mask_reader_thresholds_at_half_and_flattens_transparency(tmp_path):
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, True, True]]
    rgba = np.zeros((1, 2, 4), dtype=np.uint8)
    rgba[0, 1] = (10, 20, 30, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png").tolist() == [[[255, 255, 255], [10, 20, 30]]]


def test_strength_and_mask_are_checked():
    with pytest.raises(RequestError, match=r"strength.*between 0 and 1"):
        InitImage(picture(), 1.5)
    with pytest.raises(RequestError, match=r"mask.*2-D"):
        InitImage(picture(), 0.5, np.zeros((2, 2, 2)))
    with pytest.raises(RequestError, match=r"mask.*only with an image"):
        InitImage.from_inputs({"mask": "m.png"})
