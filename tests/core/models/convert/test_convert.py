"""Converting original CompVis checkpoints: every key used, faithful numbers, clear refusals."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
import yaml
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, UNet2DModel, VQModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertModel
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.errors import ConversionError
from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.cond_stages import load_cond_stage
from ldm_studio.core.models.convert import convert_checkpoint, convert_into_store
from ldm_studio.core.models.convert.unet import split_qkv
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing import compvis_checkpoints as cc
from ldm_studio.testing import compvis_reference as ref

FAMILY = {"class": "class", "semantic": "semantic", "uncond": "uncond", "uncond_scale_shift": "uncond", "text": "text"}


@pytest.mark.parametrize("name", list(FAMILY))
def test_conversion_writes_a_complete_model_folder(converted, originals, name):
    report = converted[name]
    info = read_model_info(report.info.path)
    assert info.family == FAMILY[name]
    params = originals[name][0]["model"]["params"]
    unet_params = params["unet_config"]["params"]
    # as the original code samples: EMA only where the config keeps use_ema on (class and text say False)
    expect_ema = params.get("use_ema", True)
    assert report.ema_used == expect_ema == info.provenance["ema_used"]
    assert info.provenance["checkpoint"] == "model.ckpt" and len(info.provenance["checkpoint_sha256"]) == 64
    if expect_ema:
        assert report.dropped["raw (non-EMA) U-Net weights"] == len(cc.unet_shapes(unet_params))
    else:
        assert report.dropped["EMA U-Net weights (config has use_ema: False)"] == len(cc.unet_shapes(unet_params))
    assert not list(info.path.rglob("*.bin")), "weights must be safetensors"
    scheduler = DDIMScheduler.from_pretrained(info.path / "scheduler")
    params = originals[name][0]["model"]["params"]
    assert scheduler.config.beta_start == params["linear_start"] and scheduler.config.beta_end == params["linear_end"]
    assert scheduler.config.beta_schedule == "scaled_linear" and scheduler.config.steps_offset == 1
    assert not scheduler.config.set_alpha_to_one and not scheduler.config.clip_sample
    # the stored betas are the original "linear" schedule
    stored = torch.load(originals[name][2], weights_only=True)["state_dict"]["betas"]
    torch.testing.assert_close(scheduler.betas, stored, atol=1e-7, rtol=1e-5)


def test_family_settings_in_model_info(converted):
    cls = read_model_info(converted["class"].info.path)
    assert (cls.num_classes, cls.null_class, cls.label_set) == (1000, 1000, "imagenet-1k")
    assert (cls.defaults.steps, cls.defaults.guidance, cls.defaults.eta) == (20, 3.0, 0.0)
    assert (cls.resolution, cls.latent_factor, cls.latent_channels, cls.scale_factor) == (32, 4, 3, 1.0)
    sem = read_model_info(converted["semantic"].info.path)
    assert sem.label_set == "coco-stuff-182"
    assert (sem.defaults.steps, sem.defaults.eta, sem.defaults.guidance) == (200, 1.0, 1.0)
    text = read_model_info(converted["text"].info.path)
    assert (text.scale_factor, text.latent_factor, text.autoencoder_kind) == (0.18215, 8, "kl")
    assert (text.defaults.steps, text.defaults.guidance) == (50, 5.0)
    assert read_model_info(converted["uncond"].info.path).defaults.steps == 200


def _unet(report):
    config = json.loads((report.info.path / "unet" / "config.json").read_text())
    cls = UNet2DConditionModel if config["_class_name"] == "UNet2DConditionModel" else UNet2DModel
    return cls.from_pretrained(report.info.path / "unet").double().eval()


@pytest.mark.parametrize("name", list(FAMILY))
def test_unet_matches_the_original_forward_with_the_weights_it_samples_with(converted, originals, name):
    config, _, ckpt = originals[name]
    p = config["model"]["params"]["unet_config"]["params"]
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, p["in_channels"], 8, 8, generator=gen, dtype=torch.float64)
    t = torch.tensor([999, 21])
    context = None
    if p.get("context_dim"):
        context = torch.randn(2, 1 if name == "class" else 5, p["context_dim"], generator=gen, dtype=torch.float64)
    model_params = config["model"]["params"]
    expected = ref.unet_forward(ref.sampling_unet(state, model_params), p, x, t, context)
    unet = _unet(converted[name])
    with torch.no_grad():
        got = unet(x, t, encoder_hidden_states=context).sample if context is not None else unet(x, t).sample
    assert (got - expected).abs().max() < 1e-4
    # and not the other set: raw and EMA weights differ in every tiny checkpoint
    if model_params.get("use_ema", True):
        other = ref.component(state, "model.diffusion_model.")
    else:
        other = ref.ema_unet(state)
    assert (got - ref.unet_forward(other, p, x, t, context)).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["class", "text"])
def test_first_stage_matches_the_original(converted, originals, name):
    config, _, ckpt = originals[name]
    fs = config["model"]["params"]["first_stage_config"]
    dd = fs["params"]["ddconfig"]
    weights = ref.component(torch.load(ckpt, weights_only=True)["state_dict"], "first_stage_model.")
    info = converted[name].info
    image = torch.rand(1, 3, dd["resolution"], dd["resolution"], generator=torch.Generator().manual_seed(1)) * 2 - 1
    image = image.double()
    with torch.no_grad():
        if info.autoencoder_kind == "vq":
            model = VQModel.from_pretrained(info.path / info.autoencoder).double().eval()
            z = model.encode(image).latents
            torch.testing.assert_close(z, ref.vq_encode(weights, dd, image), atol=1e-6, rtol=0)
            z = z + 0.3 * torch.randn(z.shape, generator=torch.Generator().manual_seed(2), dtype=z.dtype)
            decoded = model.decode(z).sample
            torch.testing.assert_close(decoded, ref.vq_decode(weights, dd, z), atol=1e-5, rtol=0)
            # decoding quantises: skipping the codebook gives another image
            skipped = ref.decoder_forward(
                weights,
                dd,
                torch.nn.functional.conv2d(z, weights["post_quant_conv.weight"], weights["post_quant_conv.bias"]),
            )
            assert (decoded - skipped).abs().max() > 1e-3
        else:
            model = AutoencoderKL.from_pretrained(info.path / info.autoencoder).double().eval()
            z = model.encode(image).latent_dist.mean
            torch.testing.assert_close(z, ref.kl_encode_mean(weights, dd, image), atol=1e-6, rtol=0)
            torch.testing.assert_close(model.decode(z).sample, ref.kl_decode(weights, dd, z), atol=1e-5, rtol=0)


def test_class_embedder_and_spatial_rescaler_compute_the_original_maths(converted, originals):
    state = torch.load(originals["class"][2], weights_only=True)["state_dict"]
    embedder = load_cond_stage(converted["class"].info.path / "cond_stage", "ClassEmbedder")
    ids = torch.tensor([448, 1000])
    assert torch.equal(embedder(ids), state["cond_stage_model.embedding.weight"][ids][:, None])

    state = torch.load(originals["semantic"][2], weights_only=True)["state_dict"]
    rescaler = load_cond_stage(converted["semantic"].info.path / "cond_stage", "SpatialRescaler")
    labels = torch.randint(0, 182, (1, 32, 32), generator=torch.Generator().manual_seed(0))
    one_hot = torch.nn.functional.one_hot(labels, 182).permute(0, 3, 1, 2).float()
    expected = ref.spatial_rescaler(state["cond_stage_model.channel_mapper.weight"], one_hot, 2)
    torch.testing.assert_close(rescaler(one_hot), expected, atol=1e-6, rtol=0)


def test_ldmbert_matches_the_original_bert_embedder(converted, originals):
    state = torch.load(originals["text"][2], weights_only=True)["state_dict"]
    weights = ref.component(state, "cond_stage_model.")
    bert = LDMBertModel.from_pretrained(converted["text"].info.path / "bert").double().eval()
    ids = torch.randint(0, 90, (2, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = bert(ids)[0]
    torch.testing.assert_close(got, ref.bert_forward(weights, 2, ids), atol=1e-5, rtol=0)


@pytest.mark.parametrize("heads", [1, 4])
def test_legacy_qkv_split_matches_the_fused_attention(heads):
    """The legacy AttentionBlock (heads, 3, C/heads) layout, run both ways on the same weights."""
    from diffusers.models.attention_processor import Attention

    c, gen = 32, torch.Generator().manual_seed(heads)
    sd = {
        "a.norm.weight": 1 + 0.1 * torch.randn(c, generator=gen),
        "a.norm.bias": 0.1 * torch.randn(c, generator=gen),
        "a.qkv.weight": torch.randn(3 * c, c, 1, generator=gen) / c**0.5,
        "a.qkv.bias": 0.1 * torch.randn(3 * c, generator=gen),
        "a.proj_out.weight": torch.randn(c, c, 1, generator=gen) / c**0.5,
        "a.proj_out.bias": 0.1 * torch.randn(c, generator=gen),
    }
    x = torch.randn(2, c, 4, 4, generator=gen)
    expected = ref.legacy_attention_block(x, sd, "a", heads)
    attn = Attention(
        c,
        heads=heads,
        dim_head=c // heads,
        norm_num_groups=32,
        eps=1e-5,
        bias=True,
        residual_connection=True,
        upcast_softmax=True,
        _from_deprecated_attn_block=True,
    )
    q, k, v = split_qkv(sd["a.qkv.weight"], heads, legacy=True)
    qb, kb, vb = split_qkv(sd["a.qkv.bias"], heads, legacy=True)
    attn.load_state_dict(
        {
            "group_norm.weight": sd["a.norm.weight"],
            "group_norm.bias": sd["a.norm.bias"],
            "to_q.weight": q,
            "to_q.bias": qb,
            "to_k.weight": k,
            "to_k.bias": kb,
            "to_v.weight": v,
            "to_v.bias": vb,
            "to_out.0.weight": sd["a.proj_out.weight"][..., 0],
            "to_out.0.bias": sd["a.proj_out.bias"],
        }
    )
    with torch.no_grad():
        got = attn(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    if heads > 1:  # a plain chunk(3) is wrong when heads > 1
        wrong = sd["a.qkv.weight"][:c, :, 0]
        assert not torch.allclose(wrong, q)


def test_leftover_key_is_reported_by_name(tmp_path, originals):
    _, config_path, ckpt = originals["uncond"]
    data = torch.load(ckpt, weights_only=True)
    data["state_dict"]["model.diffusion_model.extra_block.weight"] = torch.zeros(1)
    ema_name = "model_ema.diffusion_modelextra_blockweight"
    data["state_dict"][ema_name] = torch.zeros(1)
    bad = tmp_path / "model.ckpt"
    torch.save(data, bad)
    with pytest.raises(ConversionError, match=r"1 original key\(s\) not converted: extra_block.weight"):
        convert_checkpoint(config_path, bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_key_is_reported_by_name(tmp_path, originals):
    _, config_path, ckpt = originals["uncond"]
    data = torch.load(ckpt, weights_only=True)
    del data["state_dict"]["first_stage_model.quantize.embedding.weight"]
    bad = tmp_path / "model.ckpt"
    torch.save(data, bad)
    with pytest.raises(ConversionError, match=r"lacks 'quantize\.embedding\.weight'"):
        convert_checkpoint(config_path, bad, tmp_path / "out")


def test_checkpoint_without_ema_uses_raw_weights(tmp_path, originals):
    config = originals["uncond"][0]
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=9, ema=False)
    report = convert_checkpoint(config_path, ckpt, tmp_path / "out")
    assert not report.ema_used
    with pytest.raises(ConversionError, match="holds no EMA weights"):
        convert_checkpoint(config_path, ckpt, tmp_path / "out2", weights="ema")


def test_weights_choice_overrides_the_config(tmp_path, originals):
    """A class config says use_ema: False (raw, as the original samples); 'ema' forces the EMA U-Net."""
    config_path, ckpt = originals["class"][1], originals["class"][2]
    forced = convert_checkpoint(config_path, ckpt, tmp_path / "ema", weights="ema")
    assert forced.ema_used
    raw = convert_checkpoint(config_path, ckpt, tmp_path / "raw", weights="raw")
    assert not raw.ema_used
    a = safetensors.torch.load_file(tmp_path / "ema" / "unet" / "diffusion_pytorch_model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "raw" / "unet" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["unet_config"]["params"].update(conv_resample=False), "conv_resample"),
        (lambda p: p.update(parameterization="x0"), "parameterization"),
        (lambda p: p["first_stage_config"]["params"]["ddconfig"].update(attn_type="linear"), "attn_type"),
        (lambda p: p.update(cond_stage_config="__is_first_stage__"), "masked-image latent"),
        (lambda p: p["unet_config"]["params"].update(mystery_option=3), "unet_config.params.mystery_option"),
        (lambda p: p.update(conditioning_key="hybrid"), "conditioning_key"),
    ],
)
def test_unsupported_settings_are_named(tmp_path, originals, edit, message):
    config, _, ckpt = originals["semantic"]
    changed = yaml.safe_load(yaml.safe_dump(config))
    edit(changed["model"]["params"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(changed))
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(path, ckpt, tmp_path / "out")


def test_wrong_betas_are_refused(tmp_path, originals):
    config, _, ckpt = originals["class"]
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["model"]["params"]["linear_end"] = 0.012
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(changed))
    with pytest.raises(ConversionError, match="betas do not match"):
        convert_checkpoint(path, ckpt, tmp_path / "out")


def test_text_conversion_needs_a_tokenizer(tmp_path, originals):
    _, config_path, ckpt = originals["text"]
    with pytest.raises(ConversionError, match="--tokenizer"):
        convert_checkpoint(config_path, ckpt, tmp_path / "out")


def test_convert_command(tmp_path, originals, capsys):
    _, config_path, ckpt = originals["class"]
    out = tmp_path / "cin-tiny"
    assert main(["convert", "--config", str(config_path), "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]) == 0
    assert read_model_info(out).family == "class"
    assert main(["convert", "--config", str(config_path), "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_convert_command_refuses_unsafe_checkpoint(tmp_path, originals, capsys):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    bad = tmp_path / "evil.ckpt"
    torch.save(Payload(), bad)
    _, config_path, _ = originals["class"]
    assert main(["convert", "--config", str(config_path), "--checkpoint", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "evil.ckpt" in capsys.readouterr().err and not (tmp_path / "pwned").exists()


def test_generate_from_ckpt_converts_once_into_the_store(tmp_path, originals):
    _, config_path, ckpt = originals["semantic"]
    from ldm_studio.core.maps.semantic_maps import write_map_file

    map_file = write_map_file(tmp_path / "map.png", torch.randint(0, 182, (16, 16)).numpy())
    out = tmp_path / "out"
    args = ["generate", "--model", str(ckpt), "--config", str(config_path), "--map", str(map_file)]
    assert main([*args, "--steps", "2", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    (png,) = out.glob("*.png")
    assert Image.open(png).size == (32, 32)
    (folder,) = models_dir().iterdir()
    stamp = (folder / "ldm_studio.json").stat().st_mtime_ns
    seen = []
    again = convert_into_store(ckpt, config_path, progress=lambda m, f: seen.append(m))
    assert again == folder and (folder / "ldm_studio.json").stat().st_mtime_ns == stamp
    assert "already converted" in seen


def test_generate_ckpt_without_config_is_a_clear_error(originals, capsys):
    assert main(["generate", "--model", str(originals["class"][2]), "--class", "1", "--quiet"]) == 2
    assert "--config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "extra"), [("class", ["--class", "448"]), ("uncond", []), ("text", ["--prompt", "a cat"])]
)
def test_generate_with_converted_models(converted, tmp_path, name, extra):
    out = tmp_path / "out"
    args = ["generate", "--model", str(converted[name].info.path), *extra, "--steps", "2", "--seed", "1"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert len(list(out.glob("*.png"))) == 1
