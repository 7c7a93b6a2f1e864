"""The superres and inpaint families: the hub super-resolution layout equals diffusers' pipeline, the
inpainting arithmetic is CompVis scripts/inpaint.py's, and both go through names, recipes and the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, LDMSuperResolutionPipeline
from PIL import Image

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.registry import get_family
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.conditions import condition_from_inputs, condition_from_values, init_from_values
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.image_inputs import InitImage, InpaintCondition, SuperResCondition, default_size
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
from ldm_studio.core.generation.sampling import generators_for, sample
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.tiny_models import write_inpaint_model, write_superres_model, write_text_model


def picture(width, height, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([x, y, x * y], axis=-1) * 220 + rng.integers(0, 30, (height, width, 3))
    return base.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-families")
    return {
        "hub_sr": write_superres_model(root / "ldm-super-resolution-4x-openimages", diffusers_only=True),
        "sr": write_superres_model(root / "sr"),
        "inpaint": write_inpaint_model(root / "inpaint"),
        "text": write_text_model(root / "text"),
    }


def engine_on(folder) -> Engine:
    engine = Engine(choose_device("cpu"))
    engine.load(folder, warm_up=False)
    return engine


# --- superres -------------------------------------------------------------------------------------------


def test_hub_super_resolution_layout_is_recognised(folders):
    info = read_model_info(folders["hub_sr"])
    assert info.family == "superres"
    assert info.scale_factor == 1.0  # the pipeline never applies the vqvae config's 0.18215
    assert (info.defaults.steps, info.defaults.eta) == (100, 0.0)


@pytest.mark.parametrize("as_pil", [False, True])
def test_engine_equals_diffusers_ldm_super_resolution_pipeline(folders, as_pil):
    model = engine_on(folders["hub_sr"]).model
    low = picture(32, 32) if as_pil else picture(16, 24)
    width, height = low.shape[1] * 4, low.shape[0] * 4
    req = GenerationRequest(
        SuperResCondition(low), SamplerSettings(steps=5, guidance=1.0, eta=0.0, seed=7, width=width, height=height)
    )
    ours = sample(model, req)
    assert ours.shape == (1, 3, height, width)

    pipe = LDMSuperResolutionPipeline.from_pretrained(folders["hub_sr"])
    pipe.set_progress_bar_config(disable=True)
    given = Image.fromarray(low) if as_pil else torch.from_numpy(low).permute(2, 0, 1)[None].float() / 127.5 - 1
    theirs = pipe(
        image=given, num_inference_steps=5, eta=0.0, generator=generators_for(7, 1), output_type="pt"
    ).images
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_superres_output_is_four_times_its_input(folders, tmp_path):
    engine = engine_on(folders["sr"])
    info = engine.model.info
    low = picture(20, 12)
    path = tmp_path / "low.png"
    Image.fromarray(low).save(path)
    condition = condition_from_inputs(info, image_path=path)
    assert isinstance(condition, SuperResCondition)
    assert default_size(info, condition, None) == (64, 32)  # cut to a multiple of 8, then × 4
    width, height = default_size(info, condition, None)
    req = GenerationRequest(condition, SamplerSettings(steps=3, guidance=1.0, width=width, height=height, seed=1))
    result = engine.generate(req)
    assert result.images.shape == (1, 32, 64, 3)
    saved = save_images(result.images, req, info, tmp_path / "out", device="cpu")
    restored = read_png_recipe(saved[0])
    assert restored.condition == SuperResCondition(low)
    assert np.array_equal(engine.generate(restored.request()).images, result.images)


def test_image_inputs_are_the_condition_of_superres_and_inpaint_only(folders, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(picture(32, 32)).save(path)
    sr = read_model_info(folders["sr"])
    assert get_family("superres").input_names == ("image",)
    assert get_family("inpaint").input_names == ("image", "mask")
    with pytest.raises(RequestError, match=r"strength: does not apply to a 'superres' model"):
        init_from_values(sr, {"image": path, "strength": 0.5})
    with pytest.raises(RequestError, match=r"mask: does not apply to a 'superres' model"):
        condition_from_values(sr, {"image": path, "mask": path})
    text = read_model_info(folders["text"])
    init = init_from_values(text, {"image": path, "strength": "0.4", "prompt": "a cat"})
    assert isinstance(init, InitImage) and init.strength == 0.4
    assert condition_from_values(text, {"image": path, "prompt": "a cat"}).prompt == "a cat"
    with pytest.raises(RequestError, match="image-to-image start"):
        GenerationRequest(SuperResCondition(picture(8, 8)), SamplerSettings(width=32, height=32), init).check_for(sr)


# --- inpaint ------------------------------------------------------------------------------------------------


def compvis_inpaint_reference(model, image: np.ndarray, mask: np.ndarray, steps: int, seed: int) -> torch.Tensor:
    """scripts/inpaint.py's arithmetic on the same parts, with diffusers' DDIM on the CompVis schedule."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    batch = {"image": x, "mask": m, "masked_image": (1 - m) * x}
    batch = {k: v * 2.0 - 1.0 for k, v in batch.items()}
    vq = model.autoencoder
    with torch.no_grad():
        c = vq.encode(batch["masked_image"]).latents
        cc = F.interpolate(batch["mask"], size=c.shape[-2:])
        c = torch.cat((c, cc), dim=1)
        scheduler = DDIMScheduler.from_config(model.scheduler_config)
        scheduler.set_timesteps(steps)
        z = torch.randn((1, 3, *c.shape[-2:]), generator=torch.Generator().manual_seed(seed))
        for t in scheduler.timesteps:
            eps = model.unet(torch.cat([z, c], dim=1), t).sample
            z = scheduler.step(eps, t, z, eta=0.0).prev_sample
        sample_ = torch.clamp((vq.decode(z).sample + 1.0) / 2.0, 0.0, 1.0)
    image01 = torch.clamp((batch["image"] + 1.0) / 2.0, 0.0, 1.0)
    mask01 = torch.clamp((batch["mask"] + 1.0) / 2.0, 0.0, 1.0)
    return (1 - mask01) * image01 + mask01 * sample_


def test_inpaint_is_compvis_inpaint_script_and_keeps_unmasked_pixels(folders, tmp_path):
    engine = engine_on(folders["inpaint"])
    model = engine.model
    image = picture(32, 32, seed=3)
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 4:20] = True
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    condition = condition_from_inputs(model.info, image_path=tmp_path / "photo.png", mask_path=tmp_path / "mask.png")
    assert condition == InpaintCondition(image, mask)
    req = GenerationRequest(condition, SamplerSettings(steps=5, guidance=1.0, eta=0.0, seed=9, width=32, height=32))
    ours = sample(model, req)
    theirs = compvis_inpaint_reference(model, image, mask, 5, 9)
    assert (ours - theirs).abs().max().item() <= 1e-4

    result = engine.generate(req)
    saved = save_images(result.images, req, model.info, tmp_path / "out", device="cpu")
    written = np.asarray(Image.open(saved[0]).convert("RGB"))
    assert np.array_equal(written[~mask], image[~mask])
    assert not np.array_equal(written[mask], image[mask])
    restored = read_png_recipe(saved[0])
    assert restored.condition == condition


def test_inpaint_needs_both_inputs(folders, tmp_path):
    info = read_model_info(folders["inpaint"])
    Image.fromarray(picture(32, 32)).save(tmp_path / "p.png")
    with pytest.raises(RequestError, match=r"mask: an inpaint model needs both"):
        condition_from_inputs(info, image_path=tmp_path / "p.png")
    with pytest.raises(RequestError, match=r"needs an image and a mask"):
        condition_from_values(info, {})
