"""Every released CompVis LDM architecture (README model zoo at a506df5) converts and computes like the original.

Each case is a tiny checkpoint built in code with the structure of one released model (see
`compvis_checkpoints.RELEASED`); the converted U-Net and first stage must reproduce the in-repo
re-implementation of a506df5 (`compvis_reference`) to 1e-4·max(1, |ref|), and where LDM Studio has
the family, a 5-step DDIM run through the engine must equal a506df5's DDIM loop on the reference.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel, VQModel

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.models.convert import convert_checkpoint
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.core.models.unet_heads import apply_attention_heads
from ldm_studio.testing import compvis_checkpoints as cc
from ldm_studio.testing import compvis_reference as ref

CASES = {
    "semantic": (cc.semantic_config, "semantic"),
    "cin_vq8": (cc.cin_vq8_config, "class"),
    "churches": (cc.churches_config, "uncond"),
    "superres": (cc.superres_config, "superres"),
    "inpaint": (cc.inpaint_config, "inpaint"),
    "text_vq": (None, "text"),
}


@pytest.fixture(scope="module")
def released(tmp_path_factory, vocab_size, tokenizer_dir):
    """name -> (config, checkpoint path, converted model folder)."""
    root = tmp_path_factory.mktemp("released")
    out = {}
    for i, (name, (make, _family)) in enumerate(CASES.items()):
        config = cc.text_vq_config(vocab_size) if make is None else make()
        config_path, ckpt = cc.write_original(root / "orig" / name, config, seed=10 + i)
        report = convert_checkpoint(
            config_path, ckpt, root / "out" / name, tokenizer=tokenizer_dir if name == "text_vq" else None
        )
        out[name] = (config, ckpt, report.info.path)
    return out


def _close(got: torch.Tensor, expected: torch.Tensor) -> None:
    tol = 1e-4 * max(1.0, float(expected.abs().max()))
    assert (got - expected).abs().max() <= tol, f"max diff {(got - expected).abs().max():.3g} > {tol:.3g}"


def _unet(folder):
    config = json.loads((folder / "unet" / "config.json").read_text())
    cls = UNet2DConditionModel if config["_class_name"] == "UNet2DConditionModel" else UNet2DModel
    unet = cls.from_pretrained(folder / "unet").double().eval()
    apply_attention_heads(unet)
    return unet


@pytest.mark.parametrize("name", list(CASES))
def test_family_and_unet_match_a506df5(released, name):
    config, ckpt, folder = released[name]
    assert read_model_info(folder).family == CASES[name][1]
    mp = config["model"]["params"]
    p = mp["unet_config"]["params"]
    sd = ref.sampling_unet(torch.load(ckpt, weights_only=True)["state_dict"], mp)
    gen = torch.Generator().manual_seed(0)
    size = p["image_size"]
    x = torch.randn(2, p["in_channels"], size, size, generator=gen, dtype=torch.float64)
    t = torch.tensor([999, 21])
    ctx = None
    if p.get("context_dim"):
        ctx = torch.randn(2, 1 if name == "cin_vq8" else 5, p["context_dim"], generator=gen, dtype=torch.float64)
    unet = _unet(folder)
    with torch.no_grad():
        got = unet(x, t, encoder_hidden_states=ctx).sample if ctx is not None else unet(x, t).sample
    _close(got, ref.unet_forward(sd, p, x, t, ctx))


@pytest.mark.parametrize("name", list(CASES))
def test_first_stage_matches_a506df5(released, name):
    config, ckpt, folder = released[name]
    dd = config["model"]["params"]["first_stage_config"]["params"]["ddconfig"]
    weights = ref.component(torch.load(ckpt, weights_only=True)["state_dict"], "first_stage_model.")
    info = read_model_info(folder)
    gen = torch.Generator().manual_seed(1)
    image = (torch.rand(1, 3, dd["resolution"], dd["resolution"], generator=gen) * 2 - 1).double()
    with torch.no_grad():
        if info.autoencoder_kind == "vq":
            model = VQModel.from_pretrained(folder / info.autoencoder).double().eval()
            z = model.encode(image).latents
            _close(z, ref.vq_encode(weights, dd, image))
            z = z + 0.3 * torch.randn(z.shape, generator=gen, dtype=z.dtype)
            _close(model.decode(z).sample, ref.vq_decode(weights, dd, z))
        else:
            model = AutoencoderKL.from_pretrained(folder / info.autoencoder).double().eval()
            z = model.encode(image).latent_dist.mean
            _close(z, ref.kl_encode_mean(weights, dd, image))
            _close(model.decode(z).sample, ref.kl_decode(weights, dd, z))


def test_structures_of_the_released_settings(released):
    churches = json.loads((released["churches"][2] / "unet" / "config.json").read_text())
    assert churches["resnet_time_scale_shift"] == "scale_shift"
    assert churches["downsample_type"] == churches["upsample_type"] == "resnet"
    # num_heads 8 at 32 and 64 channels: head sizes 4 and 8, kept per layer
    assert set(churches["_ldm_attention_heads"].values()) == {8}
    inpaint = released["inpaint"][2]
    vq = json.loads((inpaint / "vqvae" / "config.json").read_text())
    assert vq["mid_block_add_attention"] is False  # attn_type: none
    cin = json.loads((released["cin_vq8"][2] / "vqvae" / "config.json").read_text())
    # attn_resolutions [8] of resolution 32: level 2 of 4 (diffusers' up blocks run deepest first)
    assert [t.startswith("Attn") for t in cin["down_block_types"]] == [False, False, True, False]
    assert [t.startswith("Attn") for t in cin["up_block_types"]] == [False, True, False, False]


def test_scale_factor_comes_from_the_checkpoint_buffer_with_scale_by_std(tmp_path):
    config = cc.churches_config()
    config["model"]["params"]["scale_factor"] = 1.0
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=3)
    state = torch.load(ckpt, weights_only=True)
    state["state_dict"]["scale_factor"] = torch.tensor(0.8123)
    torch.save(state, ckpt)
    info = convert_checkpoint(config_path, ckpt, tmp_path / "out").info
    assert info.scale_factor == pytest.approx(0.8123)
    config["model"]["params"]["scale_by_std"] = False  # then the original ignores the key
    config_path.write_text(yaml.safe_dump(config))
    report = convert_checkpoint(config_path, ckpt, tmp_path / "out2")
    assert report.info.scale_factor == 1.0 and any("scale_factor" in k for k in report.dropped)


def test_inpaint_cond_stage_copy_of_the_first_stage_is_dropped(released):
    folder = released["inpaint"][2]
    info = read_model_info(folder)
    assert any("copy of the first stage" in k for k in info.provenance["dropped_keys"])
    assert not (folder / "cond_stage").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [(cc.layout_config, "layout-to-image.*bounding-box tokenizer"), (cc.retrieval_config, "retrieval-augmented.*CLIP")],
)
def test_layout_and_retrieval_models_are_refused_naming_what_is_missing(tmp_path, make, message):
    config = make()
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=1)
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(config_path, ckpt, tmp_path / "out")


def ddim_reference(sd, p, mp, x, steps: int, context=None, concat=None) -> torch.Tensor:
    """a506df5's DDIMSampler (uniform discretisation, eta 0) on the reference U-Net, in float64.

    (Checked against the original `DDIMSampler.sample` on these weights: equal to 5e-7 at |x| ~ 30.)"""
    betas = torch.linspace(mp["linear_start"] ** 0.5, mp["linear_end"] ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, 0)
    times = np.asarray(list(range(0, 1000, 1000 // steps))) + 1
    prev = [alphas[0], *[alphas[t] for t in times[:-1]]]
    for i in reversed(range(len(times))):
        t = int(times[i])
        a_t, a_prev = alphas[t], prev[i]
        model_in = x if concat is None else torch.cat([x, concat], dim=1)  # conditioning_key concat
        e = ref.unet_forward(sd, p, model_in, torch.full((x.shape[0],), t), context)
        x0 = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
    return x


def _semantic_inputs(state, mp):
    label_map = np.random.default_rng(3).integers(0, 182, (32, 32))
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(label_map), 182).permute(2, 0, 1)[None].double()
    weight = state["cond_stage_model.channel_mapper.weight"].double()
    concat = ref.spatial_rescaler(weight, one_hot, mp["cond_stage_config"]["params"]["n_stages"])
    return SemanticMapCondition(label_map), {"concat": concat}


def _class_inputs(state, mp):
    context = state["cond_stage_model.embedding.weight"].double()[[207]][:, None]  # ClassEmbedder: [B, 1, D]
    return ClassCondition((207,)), {"context": context}


def _text_inputs(tokenizer_dir):
    def inputs(state, mp):
        from transformers import BertTokenizer

        # BERTTokenizer of a506df5: truncation, max_length 77, padding "max_length"; no attention mask
        tokenizer = BertTokenizer(str(tokenizer_dir / "vocab.txt"))
        ids = tokenizer(["a cat"], truncation=True, max_length=77, padding="max_length", return_tensors="pt")
        weights = ref.component(state, "cond_stage_model.")
        context = ref.bert_forward(weights, mp["cond_stage_config"]["params"]["n_layer"], ids["input_ids"])
        return TextCondition("a cat"), {"context": context}

    return inputs


@pytest.mark.parametrize(
    ("name", "inputs", "size", "channels"),
    [
        ("text_vq", "text", 32, 3),  # text2img256: legacy SpatialTransformer with 16-channel heads, BERT
        ("churches", lambda state, mp: (UnconditionalCondition(), {}), 64, 4),  # scale-shift, ResBlock resampling
        ("semantic", _semantic_inputs, 32, 3),  # the map painter's model: 8-head middle attention
        ("cin_vq8", _class_inputs, 32, 4),  # num_head_channels SpatialTransformer, VQ-f8 with level attention
    ],
)
def test_five_ddim_steps_through_the_engine_match_a506df5(released, tokenizer_dir, name, inputs, size, channels):
    config, ckpt, folder = released[name]
    if inputs == "text":
        inputs = _text_inputs(tokenizer_dir)
    mp = config["model"]["params"]
    p = mp["unet_config"]["params"]
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    condition, extra = inputs(state, mp)
    model = load_model(folder, choose_device("cpu"))
    settings = SamplerSettings(steps=5, eta=0.0, guidance=1.0, seed=4, width=size, height=size)
    *_, last = denoise(model, GenerationRequest(condition, settings))
    latent = size // read_model_info(folder).latent_factor
    gen = torch.Generator().manual_seed(4)
    start = torch.randn((1, channels, latent, latent), generator=gen, dtype=torch.float32).double()
    expected = ddim_reference(ref.sampling_unet(state, mp), p, mp, start, 5, **extra)
    _close(last.latents.double(), expected)
