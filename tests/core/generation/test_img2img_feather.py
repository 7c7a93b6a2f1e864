"""A feathered mask: the soft mask itself, the latent blend with soft weights, the alpha-blended composite."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ldm_studio.core.errors import RequestError
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.files.recipe import build_recipe, format_a1111, read_png_recipe
from ldm_studio.core.generation.image_inputs import InitImage, feathered
from ldm_studio.core.generation.img2img import pixel_mask, start
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.samplers import make_scheduler, set_timesteps
from ldm_studio.core.generation.sampling import Denoising, generators_for, initial_noise


def picture(size=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x], axis=-1) * 200 + rng.integers(0, 40, (size, size, 3))
    return base.clip(0, 255).astype(np.uint8)


def square_mask(size=64) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[20:44, 20:44] = True
    return mask


def request(init: InitImage, **settings) -> GenerationRequest:
    base = {"steps": 6, "width": 64, "height": 64, "seed": 5, "guidance": 4.0}
    base.update(settings)
    return GenerationRequest(TextCondition("a red cat"), SamplerSettings(**base), init)


def test_feathered_is_zero_beyond_the_radius_one_deep_inside_and_ramps_between():
    mask = square_mask()
    soft = feathered(mask, 6)
    assert soft.dtype == np.float32 and soft.shape == mask.shape
    assert np.array_equal(feathered(mask, 0), mask.astype(np.float32))  # no feather: the hard mask
    assert np.all(soft[:, :14] == 0.0) and np.all(soft[:14] == 0.0) and np.all(soft[50:] == 0.0)  # > 6 px away
    assert np.allclose(soft[27:37, 27:37], 1.0, atol=1e-6)  # > 6 px inside
    row = soft[32, 10:34]
    assert np.all(np.diff(row) >= -1e-7) and 0.0 < soft[32, 18] < 0.5 < soft[32, 22] < 1.0  # a ramp across the edge
    assert (soft > 0.0).sum() > mask.sum()  # the soft edge reaches outside what was painted


def test_feather_is_checked_and_round_trips_through_the_recipe_json():
    image, mask = picture(), square_mask()
    init = InitImage(image, 0.6, mask, feather=8)
    again = InitImage.from_json(init.to_json())
    assert again == init and again.feather == 8 and again.mask.dtype == bool  # the painted mask stays hard
    assert init != InitImage(image, 0.6, mask)
    assert "feather" not in InitImage(image, 0.6, mask).to_json()
    for bad in (-1, 10_000, 2.5, True):
        with pytest.raises(RequestError, match="feather"):
            InitImage(image, 0.6, mask, feather=bad)


def test_the_latent_blend_uses_the_area_averaged_soft_mask(text_engine):
    """The loop's weights are the soft pixel mask averaged over each latent cell; the blend is linear in them."""
    model = text_engine.model
    init = InitImage(picture(), 0.7, square_mask(), feather=6)
    req = request(init)
    scheduler = make_scheduler("ddim", model.scheduler_config)
    set_timesteps(scheduler, req.settings.steps, "cpu")
    noise = initial_noise(model.latent_shape(req), generators_for(5, 1), model.device, model.dtype)
    begin = start(model, scheduler, req, noise)
    expected = F.interpolate(pixel_mask(init.mask, 64, 64, 6), size=noise.shape[-2:], mode="area")
    assert torch.allclose(begin.mask, expected)
    partial = (begin.mask > 0) & (begin.mask < 1)
    assert partial.any() and (begin.mask == 0).any()  # soft cells between untouched and repainted ones
    latents = torch.randn(noise.shape, generator=torch.Generator().manual_seed(1))
    blended = begin.blend(scheduler, latents, None)  # after the last step: the input's own latents
    assert torch.allclose(blended, (1 - begin.mask) * begin.init_latents + begin.mask * latents)
    hard = start(model, scheduler, request(InitImage(picture(), 0.7, square_mask())), noise)
    assert set(hard.mask.unique().tolist()) <= {0.0, 1.0}  # without feather: the hard mask, unchanged


def test_the_written_image_is_the_alpha_blend_and_exact_beyond_the_soft_edge(text_engine, tmp_path):
    model = text_engine.model
    image, mask = picture(), square_mask()
    req = request(InitImage(image, 0.8, mask, feather=6))
    run = Denoising(model, req)
    for _ in run:
        pass
    sample = model.decode(run.latents)
    m = pixel_mask(mask, 64, 64, 6)
    expected = (1 - m) * torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 + m * sample
    assert torch.allclose(model.finish(sample, req), expected, atol=1e-6)

    result = text_engine.generate(req)
    (path,) = save_images(result.images, req, model.info, tmp_path, device="cpu")
    written = np.asarray(Image.open(path).convert("RGB")).astype(int)
    soft = feathered(mask, 6)
    assert np.array_equal(written[soft == 0], image[soft == 0])  # bit for bit outside the soft edge
    band = (soft > 0.2) & (soft < 0.8)
    plain = text_engine.generate(request(InitImage(image, 0.8, mask)))  # hard edge, same seed
    assert not np.array_equal(written[band], np.asarray(plain.images[0]).astype(int)[band])
    recipe = read_png_recipe(path)
    assert recipe.init is not None and recipe.init.feather == 6
    assert "Mask blur: 6" in format_a1111(build_recipe(req, model.info, 0, model_hash="0" * 10, device="cpu"))
