"""A ControlNet in the one loop: equals diffusers' StableDiffusionControlNetPipeline; checks that name the field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel
from PIL import Image

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.conditions import condition_from_values
from ldm_studio.core.generation.control_inputs import ControlNetCondition, ControlSpec
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.core.maps.semantic_maps import write_map_file
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.tiny_controlnet import diffusers_controlnet_pipeline, painted_ade_map, write_controlnet
from ldm_studio.testing.tiny_sd import write_sd_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("controlnet")
    folder = write_sd_model(root / "tiny-sd")
    net = write_controlnet(root / "tiny-controlnet", folder, seed=3)
    return load_model(folder, choose_device("cpu")), net, root


def controlled(net, scale=0.5, start=0.2, end=0.8, **settings) -> GenerationRequest:
    spec = ControlSpec("tiny", str(net), None, scale, start, end)
    base = {"sampler": "dpmpp_2m_karras", "steps": 10, "width": 64, "height": 64, "seed": 11, "guidance": 7.5}
    base.update(settings)
    condition = ControlNetCondition(TextCondition("a red cat on a beach", "blurry"), spec, painted_ade_map())
    return GenerationRequest(condition, SamplerSettings(**base))


def reference(model, net, req: GenerationRequest) -> torch.Tensor:
    s = req.settings
    condition = req.condition
    assert isinstance(condition, ControlNetCondition)
    generators = generators_for(s.seed, s.batch_size)
    noise = initial_noise(model.latent_shape(req), generators, model.device, model.dtype)
    controlnet = ControlNetModel.from_pretrained(net).eval()
    pipe = diffusers_controlnet_pipeline(model, controlnet, s.sampler)
    image = Image.fromarray(condition.control_image(s.width, s.height))
    spec = condition.control
    return pipe(
        ["a red cat on a beach"] * s.batch_size,
        image=image,
        negative_prompt=["blurry"] * s.batch_size,
        height=s.height,
        width=s.width,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        controlnet_conditioning_scale=spec.scale,
        control_guidance_start=spec.start,
        control_guidance_end=spec.end,
        latents=noise,
        generator=generators,
        output_type="pt",
    ).images


@pytest.mark.parametrize("guidance", [1.0, 7.5])
def test_engine_equals_controlnet_pipeline(tiny, guidance):
    model, net, _root = tiny
    req = controlled(net, guidance=guidance)
    ours = sample(model, req)
    theirs = reference(model, net, req)
    assert ours.shape == theirs.shape == (1, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_batch_of_two_equals_pipeline_and_the_controlnet_steers(tiny):
    model, net, _root = tiny
    req = controlled(net, scale=1.0, start=0.0, end=1.0, batch_size=2, steps=6)
    ours = sample(model, req)
    assert (ours - reference(model, net, req)).abs().max().item() <= 1e-4
    plain = sample(model, GenerationRequest(req.condition.base, req.settings))
    assert (ours - plain).abs().mean().item() > 1e-3  # the ControlNet changes the picture


def test_outside_the_window_the_controlnet_changes_nothing(tiny):
    model, net, _root = tiny
    req = controlled(net, scale=1.0, start=0.0, end=0.01, steps=4)  # keep is 0 at every step
    plain = sample(model, GenerationRequest(req.condition.base, req.settings))
    assert torch.equal(sample(model, req), plain)


def test_named_inputs_build_the_controlled_condition(tiny, tmp_path):
    model, net, _root = tiny
    map_file = write_map_file(tmp_path / "map.png", painted_ade_map(), "ade20k-150")
    values = {"prompt": "a cat", "controlnet": str(net), "map": map_file, "control-scale": 0.7, "control-end": 0.9}
    condition = condition_from_values(model.info, values)
    assert isinstance(condition, ControlNetCondition)
    assert condition.control.scale == 0.7 and condition.control.end == 0.9 and condition.control.sha
    assert np.array_equal(condition.label_map, painted_ade_map())
    with pytest.raises(RequestError, match="map: a ControlNet needs a control map"):
        condition_from_values(model.info, {"prompt": "a cat", "controlnet": str(net)})
    with pytest.raises(RequestError, match="control-scale: needs a ControlNet"):
        condition_from_values(model.info, {"prompt": "a cat", "control-scale": 0.5})
    with pytest.raises(RequestError, match="controlnet: 'nope' is neither a ControlNet folder"):
        condition_from_values(model.info, {"prompt": "a cat", "controlnet": "nope", "map": map_file})
    with pytest.raises(RequestError, match=r"control-start: 0\.9 must be below control-end 0\.5"):
        ControlSpec("x", "x", None, 1.0, 0.9, 0.5)


def test_controlnet_on_another_family_or_base_model_is_one_clear_line(tiny, tmp_path):
    model, net, root = tiny
    from ldm_studio.testing.family_models import TINY

    text_info = read_model_info(TINY["text"].write(tmp_path / "text"))
    with pytest.raises(RequestError, match="controlnet: does not apply to a 'text' model"):
        condition_from_values(text_info, {"prompt": "a cat", "controlnet": str(net), "map": "m.png"})
    wide = write_sd_model(root / "wide-sd", width=48)
    other = write_controlnet(root / "wide-controlnet", wide)
    with pytest.raises(RequestError, match="cross-attention width is 48, this model's is 32"):
        sample(model, controlled(other, steps=2))


def test_sdxl_engine_with_an_sdxl_controlnet_equals_its_pipeline(tmp_path):
    from ldm_studio.testing.tiny_controlnet import diffusers_sdxl_controlnet_pipeline
    from ldm_studio.testing.tiny_sd import write_sdxl_model

    folder = write_sdxl_model(tmp_path / "tiny-sdxl")
    net = write_controlnet(tmp_path / "sdxl-controlnet", folder, seed=4)
    model = load_model(folder, choose_device("cpu"))
    req = controlled(net, steps=6)
    ours = sample(model, req)
    s, condition = req.settings, req.condition
    assert isinstance(condition, ControlNetCondition)
    generators = generators_for(s.seed, 1)
    noise = initial_noise(model.latent_shape(req), generators, model.device, model.dtype)
    pipe = diffusers_sdxl_controlnet_pipeline(model, ControlNetModel.from_pretrained(net).eval(), s.sampler)
    theirs = pipe(
        "a red cat on a beach",
        image=Image.fromarray(condition.control_image(s.width, s.height)),
        negative_prompt="blurry",
        height=s.height,
        width=s.width,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        controlnet_conditioning_scale=0.5,
        control_guidance_start=0.2,
        control_guidance_end=0.8,
        latents=noise,
        generator=generators,
        output_type="pt",
    ).images
    assert (ours - theirs).abs().max().item() <= 1e-4
    plain = sample(model, GenerationRequest(condition.base, s))
    assert (ours - plain).abs().mean().item() > 1e-4


def test_a_controlnet_steers_a_prompt_with_region_texts(tiny, tmp_path):
    from ldm_studio.core.generation.region_types import RegionalCondition

    model, net, _root = tiny
    map_file = write_map_file(tmp_path / "map.png", painted_ade_map(), "ade20k-150")
    values = {"prompt": "a cat", "controlnet": str(net), "map": map_file, "regions": "{}"}
    condition = condition_from_values(model.info, values)
    assert isinstance(condition, ControlNetCondition) and isinstance(condition.base, RegionalCondition)
    settings = SamplerSettings(sampler="ddim", steps=3, width=64, height=64, seed=2, guidance=7.5)
    both = sample(model, GenerationRequest(condition, settings))
    regions_only = sample(model, GenerationRequest(condition.base, settings))
    assert both.shape == (1, 3, 64, 64) and (both - regions_only).abs().mean().item() > 1e-4
    # without region texts the map is the ControlNet's alone
    plain = condition_from_values(model.info, {"prompt": "a cat", "controlnet": str(net), "map": map_file})
    assert isinstance(plain, ControlNetCondition) and isinstance(plain.base, TextCondition)


def test_region_tokens_reach_neither_the_unet_nor_the_controlnet_outside_their_region(tiny, monkeypatch):
    """With region texts the ControlNet's cross-attention is masked as the U-Net's: no leak through its residuals."""
    from ldm_studio.core.generation import regions
    from ldm_studio.core.generation.region_types import RegionalCondition
    from ldm_studio.core.generation.requests import SemanticMapCondition
    from ldm_studio.core.maps.labels import load_label_set

    model, net, _root = tiny
    coco = load_label_set("coco-stuff-182")
    sea, sky = coco.index_of("sea"), coco.index_of("sky-other")
    label_map = np.full((64, 64), sky, dtype=np.int64)
    label_map[:, :32] = sea  # the sea on the left half
    base = RegionalCondition.build(TextCondition("a photo"), SemanticMapCondition(label_map), {"sea": "the sea"})
    spec = ControlSpec("tiny", str(net), None, 1.0, 0.0, 1.0)
    condition = ControlNetCondition(base, spec, painted_ade_map())
    seen: list[torch.Tensor] = []

    def recording(query, key, value, subsets):
        logits = (query @ key.transpose(-1, -2)) * query.shape[-1] ** -0.5
        probs = torch.zeros_like(logits)
        for queries, keys in subsets:
            rows = torch.arange(query.shape[2])[slice(None) if queries is None else queries]
            cols = torch.arange(key.shape[2])[keys]
            probs[:, :, rows[:, None], cols[None, :]] = logits[:, :, rows][:, :, :, cols].softmax(-1)
        seen.append(probs)
        return probs @ value

    masked_layers: set[int] = set()
    real_masked_attention = regions.masked_attention

    def masked_attention(attn, *args):
        masked_layers.add(id(attn))
        return real_masked_attention(attn, *args)

    monkeypatch.setattr(regions, "attend", recording)
    monkeypatch.setattr(regions, "masked_attention", masked_attention)
    request = GenerationRequest(condition, SamplerSettings(sampler="ddim", steps=2, width=64, height=64, seed=1))
    tokens = model.encode(condition, 1, True, request).batch(True).extra[regions.TOKENS]
    sample(model, request)
    controlnet = loaded_controlnet_of(model)
    for unet in (model.unet, controlnet):  # every cross-attention layer of both ran the masked attention
        cross_layers = {id(m) for name, m in unet.named_modules() if name.endswith(".attn2")}
        assert cross_layers and cross_layers <= masked_layers
    cond_length = int((tokens[1] != regions.NOWHERE).sum())
    cross = [probs for probs in seen if probs.shape[-1] == cond_length]
    sea_tokens = tokens[1] == 0
    for probs in cross:
        n = probs.shape[2]
        _, w = regions.grid_of(n, 8, 8)
        outside = torch.arange(n) % w >= w // 2
        assert torch.all(probs[0][:, outside][:, :, sea_tokens] == 0)


def loaded_controlnet_of(model):
    from ldm_studio.core.families.controlnet import loaded_controlnet

    net = loaded_controlnet(model)
    assert net is not None
    return net
