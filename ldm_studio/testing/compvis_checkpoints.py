"""Tiny checkpoints in the exact format of the original CompVis latent-diffusion code, for tests.

Each writer lays out the state dict the way the original modules create it (walking their
constructors: `openaimodel.UNetModel`, `model.Encoder/Decoder`, taming's quantizer,
`encoders.modules.*`, x-transformers), fills it with seeded random values, adds the
LatentDiffusion schedule buffers and the EMA copy, and saves `{'state_dict', 'global_step'}`
next to a `config.yaml` in the original layout. Channels are multiples of 32 because the
original GroupNorms always use 32 groups.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import yaml

Shapes = dict[str, tuple[int, ...]]

# --- configs in the original layout ---------------------------------------------------------

VQ_F4 = {
    "target": "ldm.models.autoencoder.VQModelInterface",
    "params": {
        "embed_dim": 3,
        "n_embed": 64,
        "ddconfig": {
            "double_z": False,
            "z_channels": 3,
            "resolution": 32,
            "in_channels": 3,
            "out_ch": 3,
            "ch": 32,
            "ch_mult": [1, 2, 2],
            "num_res_blocks": 1,
            "attn_resolutions": [],
            "dropout": 0.0,
        },
        "lossconfig": {"target": "torch.nn.Identity"},
    },
}
KL_F8 = {
    "target": "ldm.models.autoencoder.AutoencoderKL",
    "params": {
        "embed_dim": 4,
        "monitor": "val/rec_loss",
        "ddconfig": {
            "double_z": True,
            "z_channels": 4,
            "resolution": 64,
            "in_channels": 3,
            "out_ch": 3,
            "ch": 32,
            "ch_mult": [1, 2, 2, 2],
            "num_res_blocks": 1,
            "attn_resolutions": [],
            "dropout": 0.0,
        },
        "lossconfig": {"target": "torch.nn.Identity"},
    },
}
UNET = "ldm.modules.diffusionmodules.openaimodel.UNetModel"


def class_config() -> dict[str, Any]:
    """Like cin256-v2.yaml, tiny: VQ-f4, SpatialTransformer U-Net, ClassEmbedder(1001)."""
    return _ldm(
        {"linear_start": 0.0015, "linear_end": 0.0195, "cond_stage_key": "class_label", "image_size": 8, "channels": 3},
        conditioning_key="crossattn",
        unet={
            "image_size": 8,
            "in_channels": 3,
            "out_channels": 3,
            "model_channels": 32,
            "attention_resolutions": [2, 1],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_heads": 1,
            "use_spatial_transformer": True,
            "transformer_depth": 1,
            "context_dim": 16,
        },
        first_stage=VQ_F4,
        cond_stage={
            "target": "ldm.modules.encoders.modules.ClassEmbedder",
            "params": {"n_classes": 1001, "embed_dim": 16, "key": "class_label"},
        },
        extra={"use_ema": False, "cond_stage_trainable": True, "monitor": "val/loss"},
    )


def semantic_config() -> dict[str, Any]:
    """Like semantic_synthesis256/config.yaml, tiny: attention only in the middle block, concat map."""
    return _ldm(
        {
            "linear_start": 0.0015,
            "linear_end": 0.0205,
            "cond_stage_key": "segmentation",
            "image_size": 8,
            "channels": 3,
        },
        conditioning_key=None,
        unet={
            "image_size": 8,
            "in_channels": 6,
            "out_channels": 3,
            "model_channels": 32,
            "attention_resolutions": [32, 16, 8],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_heads": 8,
        },
        first_stage=VQ_F4,
        cond_stage={
            "target": "ldm.modules.encoders.modules.SpatialRescaler",
            "params": {"n_stages": 2, "in_channels": 182, "out_channels": 3},
        },
        extra={"concat_mode": True, "loss_type": "l1", "cond_stage_trainable": True},
    )


def uncond_config(scale_shift: bool = False) -> dict[str, Any]:
    """Like the ffhq/celebahq/lsun VQ-f4 configs, tiny: legacy AttentionBlocks with several heads."""
    unet = {
        "image_size": 8,
        "in_channels": 3,
        "out_channels": 3,
        "model_channels": 32,
        "attention_resolutions": [2],
        "num_res_blocks": 1,
        "channel_mult": [1, 2],
        "num_head_channels": 16,
    }
    if scale_shift:
        unet["use_scale_shift_norm"] = True
    return _ldm(
        {"linear_start": 0.0015, "linear_end": 0.0195, "image_size": 8, "channels": 3},
        conditioning_key=None,
        unet=unet,
        first_stage=VQ_F4,
        cond_stage="__is_unconditional__",
        extra={"monitor": "val/loss_simple_ema"},
    )


def text_config(vocab_size: int, context: int = 32) -> dict[str, Any]:
    """Like txt2img-1p4B-eval.yaml, tiny: KL-f8, legacy False, BERTEmbedder."""
    return _ldm(
        {
            "linear_start": 0.00085,
            "linear_end": 0.012,
            "cond_stage_key": "caption",
            "image_size": 8,
            "channels": 4,
            "scale_factor": 0.18215,
        },
        conditioning_key="crossattn",
        unet={
            "image_size": 8,
            "in_channels": 4,
            "out_channels": 4,
            "model_channels": 32,
            "attention_resolutions": [2, 1],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_heads": 8,
            "use_spatial_transformer": True,
            "transformer_depth": 1,
            "context_dim": context,
            "use_checkpoint": True,
            "legacy": False,
        },
        first_stage=KL_F8,
        cond_stage={
            "target": "ldm.modules.encoders.modules.BERTEmbedder",
            "params": {"n_embed": context, "n_layer": 2, "vocab_size": vocab_size},
        },
        extra={"use_ema": False, "cond_stage_trainable": True},
    )


def _with_ddconfig(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    params = {**base["params"], "ddconfig": {**base["params"]["ddconfig"], **changes}}
    return {**base, "params": params}


# inpainting_big's first stage: VQ-f4 with `attn_type: none` (no attention at all).
VQ_F4_NOATTN = _with_ddconfig(VQ_F4, attn_type="none")
# cin256 (LDM-VQ-8)'s first stage: VQ-f8 with attention at one level (resolution 32 of 256; here 8 of 32).
VQ_F8_ATTN = {
    "target": "ldm.models.autoencoder.VQModelInterface",
    "params": {
        "embed_dim": 4,
        "n_embed": 64,
        "ddconfig": {
            "double_z": False,
            "z_channels": 4,
            "resolution": 32,
            "in_channels": 3,
            "out_ch": 3,
            "ch": 32,
            "ch_mult": [1, 2, 2, 2],
            "num_res_blocks": 1,
            "attn_resolutions": [8],
            "dropout": 0.0,
        },
        "lossconfig": {"target": "torch.nn.Identity"},
    },
}


def cin_vq8_config() -> dict[str, Any]:
    """Like models/ldm/cin256 (LDM-VQ-8), tiny: num_head_channels, ClassEmbedder(1000), VQ-f8 with level attention."""
    return _ldm(
        {"linear_start": 0.0015, "linear_end": 0.0195, "cond_stage_key": "class_label", "image_size": 4, "channels": 4},
        conditioning_key="crossattn",
        unet={
            "image_size": 4,
            "in_channels": 4,
            "out_channels": 4,
            "model_channels": 32,
            "attention_resolutions": [2, 1],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_head_channels": 16,
            "use_spatial_transformer": True,
            "transformer_depth": 1,
            "context_dim": 16,
        },
        first_stage=VQ_F8_ATTN,
        cond_stage={"target": "ldm.modules.encoders.modules.ClassEmbedder", "params": {"embed_dim": 16}},
        extra={"cond_stage_trainable": True, "monitor": "val/loss_simple_ema"},
    )


def text_vq_config(vocab_size: int) -> dict[str, Any]:
    """Like models/ldm/text2img256 (LDM-VQ-f4, Conceptual Captions), tiny: legacy SpatialTransformer,
    num_head_channels, BERTEmbedder."""
    return _ldm(
        {"linear_start": 0.0015, "linear_end": 0.0195, "cond_stage_key": "caption", "image_size": 8, "channels": 3},
        conditioning_key="crossattn",
        unet={
            "image_size": 8,
            "in_channels": 3,
            "out_channels": 3,
            "model_channels": 32,
            "attention_resolutions": [2, 1],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_head_channels": 16,
            "use_spatial_transformer": True,
            "transformer_depth": 1,
            "context_dim": 32,
        },
        first_stage=VQ_F4,
        cond_stage={
            "target": "ldm.modules.encoders.modules.BERTEmbedder",
            "params": {"n_embed": 32, "n_layer": 2, "vocab_size": vocab_size},
        },
        extra={"cond_stage_trainable": True, "monitor": "val/loss_simple_ema"},
    )


def churches_config() -> dict[str, Any]:
    """Like models/ldm/lsun_churches256 (LDM-KL-8), tiny: num_heads 8 at every width (head sizes differ
    between blocks), use_scale_shift_norm, resblock_updown, scale_by_std with its stored buffer."""
    return _ldm(
        {
            "linear_start": 0.0015,
            "linear_end": 0.0155,
            "cond_stage_key": "image",
            "image_size": 8,
            "channels": 4,
            "scale_by_std": True,
            "loss_type": "l1",
        },
        conditioning_key=None,
        unet={
            "image_size": 8,
            "in_channels": 4,
            "out_channels": 4,
            "model_channels": 32,
            "attention_resolutions": [1, 2],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_heads": 8,
            "use_scale_shift_norm": True,
            "resblock_updown": True,
        },
        first_stage=KL_F8,
        cond_stage="__is_unconditional__",
        extra={"concat_mode": False, "cond_stage_trainable": False, "monitor": "val/loss_simple_ema"},
    )


def superres_config() -> dict[str, Any]:
    """Like models/ldm/bsr_sr, tiny: the low-resolution image (torch.nn.Identity) concatenated to the latent."""
    return _ldm(
        {
            "linear_start": 0.0015,
            "linear_end": 0.0155,
            "cond_stage_key": "LR_image",
            "image_size": 8,
            "channels": 3,
            "loss_type": "l2",
        },
        conditioning_key=None,
        unet={
            "image_size": 8,
            "in_channels": 6,
            "out_channels": 3,
            "model_channels": 32,
            "attention_resolutions": [2],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_head_channels": 16,
        },
        first_stage=VQ_F4,
        cond_stage={"target": "torch.nn.Identity"},
        extra={"concat_mode": True, "cond_stage_trainable": False},
    )


def inpaint_config() -> dict[str, Any]:
    """Like models/ldm/inpainting_big, tiny: __is_first_stage__ conditioning (masked-image latent + mask
    concatenated: 7 input channels), num_heads 8 at every width, resblock_updown, first stage without attention."""
    return _ldm(
        {
            "linear_start": 0.0015,
            "linear_end": 0.0205,
            "cond_stage_key": "masked_image",
            "image_size": 8,
            "channels": 3,
            "loss_type": "l1",
        },
        conditioning_key=None,
        unet={
            "image_size": 8,
            "in_channels": 7,
            "out_channels": 3,
            "model_channels": 32,
            "attention_resolutions": [1, 2],
            "num_res_blocks": 1,
            "channel_mult": [1, 2],
            "num_heads": 8,
            "resblock_updown": True,
        },
        first_stage=VQ_F4_NOATTN,
        cond_stage="__is_first_stage__",
        extra={"concat_mode": True, "monitor": "val/loss"},
    )


def layout_config() -> dict[str, Any]:
    """Like models/ldm/layout2img-openimages256: a BERTEmbedder over bounding-box tokens (refused)."""
    config = text_vq_config(64)
    p = config["model"]["params"]
    p["cond_stage_key"] = "coordinates_bbox"
    p["cond_stage_config"]["params"].update(max_seq_len=16, use_tokenizer=False)
    return config


def retrieval_config() -> dict[str, Any]:
    """Like configs/retrieval-augmented-diffusion/768x768.yaml: CLIP neighbours via torch.nn.Identity (refused)."""
    config = cin_vq8_config()
    config["model"]["params"]["cond_stage_config"] = {"target": "torch.nn.Identity"}
    return config


# The released LDMs of the README's model zoo (a506df5) → the tiny config of the same architecture.
RELEASED = {
    "cin256-v2": "class",
    "cin256 (LDM-VQ-8)": "cin_vq8",
    "txt2img-f8-large": "text",
    "text2img256": "text_vq",
    "celeba256 / ffhq256 / lsun_beds256": "uncond",
    "lsun_churches256": "churches",
    "semantic_synthesis256 / 512": "semantic",
    "bsr_sr": "superres",
    "inpainting_big": "inpaint",
}


def _ldm(
    params: dict, conditioning_key: str | None, unet: dict, first_stage: dict, cond_stage: Any, extra: dict
) -> dict[str, Any]:
    model_params: dict[str, Any] = {
        **params,
        "num_timesteps_cond": 1,
        "log_every_t": 200,
        "timesteps": 1000,
        "first_stage_key": "image",
        **extra,
        "unet_config": {"target": UNET, "params": unet},
        "first_stage_config": first_stage,
        "cond_stage_config": cond_stage,
    }
    if conditioning_key is not None:
        model_params["conditioning_key"] = conditioning_key
    return {
        "model": {
            "base_learning_rate": 1.0e-06,
            "target": "ldm.models.diffusion.ddpm.LatentDiffusion",
            "params": model_params,
        }
    }


# --- state-dict layouts, walking the original constructors ----------------------------------


def unet_shapes(p: dict[str, Any]) -> Shapes:
    """Keys and shapes of `openaimodel.UNetModel(**p)`."""
    s: Shapes = {}
    mc, emb = p["model_channels"], 4 * p["model_channels"]
    nrb, mult = p["num_res_blocks"], p["channel_mult"]
    attn_res = set(p.get("attention_resolutions", []))
    ss = p.get("use_scale_shift_norm", False)
    _linear(s, "time_embed.0", mc, emb)
    _linear(s, "time_embed.2", emb, emb)
    _conv(s, "input_blocks.0.0", p["in_channels"], mc, 3)
    chans, ch, ds, n = [mc], mc, 1, 1
    for level, m in enumerate(mult):
        for _ in range(nrb):
            _resblock(s, f"input_blocks.{n}.0", ch, m * mc, emb, ss)
            ch = m * mc
            if ds in attn_res:
                _attention(s, f"input_blocks.{n}.1", ch, p)
            chans.append(ch)
            n += 1
        if level != len(mult) - 1:
            if p.get("resblock_updown", False):
                _resblock(s, f"input_blocks.{n}.0", ch, ch, emb, ss)
            else:
                _conv(s, f"input_blocks.{n}.0.op", ch, ch, 3)
            chans.append(ch)
            n += 1
            ds *= 2
    _resblock(s, "middle_block.0", ch, ch, emb, ss)
    _attention(s, "middle_block.1", ch, p)
    _resblock(s, "middle_block.2", ch, ch, emb, ss)
    n = 0
    for level, m in list(enumerate(mult))[::-1]:
        for i in range(nrb + 1):
            ich = chans.pop()
            _resblock(s, f"output_blocks.{n}.0", ch + ich, mc * m, emb, ss)
            ch = mc * m
            index = 1
            if ds in attn_res:
                _attention(s, f"output_blocks.{n}.1", ch, p)
                index = 2
            if level and i == nrb:
                if p.get("resblock_updown", False):
                    _resblock(s, f"output_blocks.{n}.{index}", ch, ch, emb, ss)
                else:
                    _conv(s, f"output_blocks.{n}.{index}.conv", ch, ch, 3)
                ds //= 2
            n += 1
    _norm(s, "out.0", ch)
    _conv(s, "out.2", mc, p["out_channels"], 3)
    return s


def _resblock(s: Shapes, prefix: str, cin: int, cout: int, emb: int, scale_shift: bool) -> None:
    _norm(s, f"{prefix}.in_layers.0", cin)
    _conv(s, f"{prefix}.in_layers.2", cin, cout, 3)
    _linear(s, f"{prefix}.emb_layers.1", emb, 2 * cout if scale_shift else cout)
    _norm(s, f"{prefix}.out_layers.0", cout)
    _conv(s, f"{prefix}.out_layers.3", cout, cout, 3)
    if cin != cout:
        _conv(s, f"{prefix}.skip_connection", cin, cout, 1)


def _attention(s: Shapes, prefix: str, ch: int, p: dict[str, Any]) -> None:
    if not p.get("use_spatial_transformer", False):
        _norm(s, f"{prefix}.norm", ch)
        s[f"{prefix}.qkv.weight"], s[f"{prefix}.qkv.bias"] = (3 * ch, ch, 1), (3 * ch,)
        s[f"{prefix}.proj_out.weight"], s[f"{prefix}.proj_out.bias"] = (ch, ch, 1), (ch,)
        return
    heads = p.get("num_heads", -1)
    if p.get("num_head_channels", -1) != -1:
        heads = ch // p["num_head_channels"]
    inner = heads * (ch // heads)
    ctx = p["context_dim"]
    _norm(s, f"{prefix}.norm", ch)
    _conv(s, f"{prefix}.proj_in", ch, inner, 1)
    for d in range(p.get("transformer_depth", 1)):
        b = f"{prefix}.transformer_blocks.{d}"
        for attn, kv in (("attn1", inner), ("attn2", ctx)):
            s[f"{b}.{attn}.to_q.weight"] = (inner, inner)
            s[f"{b}.{attn}.to_k.weight"] = (inner, kv)
            s[f"{b}.{attn}.to_v.weight"] = (inner, kv)
            _linear(s, f"{b}.{attn}.to_out.0", inner, inner)
        _linear(s, f"{b}.ff.net.0.proj", inner, inner * 4 * 2)
        _linear(s, f"{b}.ff.net.2", inner * 4, inner)
        for norm in ("norm1", "norm2", "norm3"):
            _norm(s, f"{b}.{norm}", inner)
    _conv(s, f"{prefix}.proj_out", inner, ch, 1)


def first_stage_shapes(target: dict[str, Any]) -> Shapes:
    """Keys and shapes of `VQModelInterface` / `AutoencoderKL` (Encoder, Decoder, quantizer, 1×1 convs)."""
    p, dd = target["params"], target["params"]["ddconfig"]
    vq = target["target"].endswith("VQModelInterface") or target["target"].endswith("VQModel")
    s: Shapes = {}
    ch, mult, nrb, z = dd["ch"], dd["ch_mult"], dd["num_res_blocks"], dd["z_channels"]
    vanilla = dd.get("attn_type", "vanilla") == "vanilla"  # "none": nn.Identity, no weights

    def attends(level: int) -> bool:
        return vanilla and dd["resolution"] // 2**level in set(dd.get("attn_resolutions") or [])

    _conv(s, "encoder.conv_in", dd["in_channels"], ch, 3)
    in_mult = (1, *mult)
    block_in = ch
    for i, m in enumerate(mult):
        block_in, block_out = ch * in_mult[i], ch * m
        for j in range(nrb):
            _vae_resnet(s, f"encoder.down.{i}.block.{j}", block_in, block_out)
            block_in = block_out
            if attends(i):
                _vae_attn(s, f"encoder.down.{i}.attn.{j}", block_in)
        if i != len(mult) - 1:
            _conv(s, f"encoder.down.{i}.downsample.conv", block_in, block_in, 3)
    _vae_mid(s, "encoder.mid", block_in, vanilla)
    _norm(s, "encoder.norm_out", block_in)
    _conv(s, "encoder.conv_out", block_in, 2 * z if dd["double_z"] else z, 3)
    block_in = ch * mult[-1]
    _conv(s, "decoder.conv_in", z, block_in, 3)
    _vae_mid(s, "decoder.mid", block_in, vanilla)
    for i in reversed(range(len(mult))):
        block_out = ch * mult[i]
        for j in range(nrb + 1):
            _vae_resnet(s, f"decoder.up.{i}.block.{j}", block_in, block_out)
            block_in = block_out
            if attends(i):
                _vae_attn(s, f"decoder.up.{i}.attn.{j}", block_in)
        if i != 0:
            _conv(s, f"decoder.up.{i}.upsample.conv", block_in, block_in, 3)
    _norm(s, "decoder.norm_out", block_in)
    _conv(s, "decoder.conv_out", block_in, dd["out_ch"], 3)
    e = p["embed_dim"]
    if vq:
        _conv(s, "quant_conv", z, e, 1)
        _conv(s, "post_quant_conv", e, z, 1)
        s["quantize.embedding.weight"] = (p["n_embed"], e)
    else:
        _conv(s, "quant_conv", 2 * z, 2 * e, 1)
        _conv(s, "post_quant_conv", e, z, 1)
    return s


def _vae_resnet(s: Shapes, prefix: str, cin: int, cout: int) -> None:
    _norm(s, f"{prefix}.norm1", cin)
    _conv(s, f"{prefix}.conv1", cin, cout, 3)
    _norm(s, f"{prefix}.norm2", cout)
    _conv(s, f"{prefix}.conv2", cout, cout, 3)
    if cin != cout:
        _conv(s, f"{prefix}.nin_shortcut", cin, cout, 1)


def _vae_mid(s: Shapes, prefix: str, ch: int, attention: bool = True) -> None:
    _vae_resnet(s, f"{prefix}.block_1", ch, ch)
    if attention:
        _vae_attn(s, f"{prefix}.attn_1", ch)
    _vae_resnet(s, f"{prefix}.block_2", ch, ch)


def _vae_attn(s: Shapes, prefix: str, ch: int) -> None:
    _norm(s, f"{prefix}.norm", ch)
    for name in ("q", "k", "v", "proj_out"):
        _conv(s, f"{prefix}.{name}", ch, ch, 1)


def cond_stage_shapes(target: Any) -> Shapes:
    """Keys and shapes of ClassEmbedder / SpatialRescaler / BERTEmbedder."""
    if not isinstance(target, dict):
        return {}
    p, name = target.get("params") or {}, target["target"].rsplit(".", 1)[-1]
    if name == "Identity":
        return {}
    if name == "ClassEmbedder":
        return {"embedding.weight": (p.get("n_classes", 1000), p["embed_dim"])}
    if name == "SpatialRescaler":
        s: Shapes = {"channel_mapper.weight": (p["out_channels"], p["in_channels"], 1, 1)}
        if p.get("bias"):
            s["channel_mapper.bias"] = (p["out_channels"],)
        return s
    if name == "BERTEmbedder":
        d, vocab, seq = p["n_embed"], p.get("vocab_size", 30522), p.get("max_seq_len", 77)
        s = {"transformer.token_emb.weight": (vocab, d), "transformer.pos_emb.emb.weight": (seq, d)}
        for i in range(p["n_layer"]):
            a, f = f"transformer.attn_layers.layers.{2 * i}", f"transformer.attn_layers.layers.{2 * i + 1}"
            _norm(s, f"{a}.0", d)
            for q in ("to_q", "to_k", "to_v"):
                s[f"{a}.1.{q}.weight"] = (512, d)  # always 8 heads × 64
            _linear(s, f"{a}.1.to_out", 512, d)
            _norm(s, f"{f}.0", d)
            _linear(s, f"{f}.1.net.0.0", d, 4 * d)
            _linear(s, f"{f}.1.net.2", 4 * d, d)
        _norm(s, "transformer.norm", d)
        _linear(s, "transformer.to_logits", d, vocab)
        return s
    raise ValueError(name)


def _linear(s: Shapes, prefix: str, fan_in: int, fan_out: int) -> None:
    s[f"{prefix}.weight"], s[f"{prefix}.bias"] = (fan_out, fan_in), (fan_out,)


def _conv(s: Shapes, prefix: str, cin: int, cout: int, k: int) -> None:
    s[f"{prefix}.weight"], s[f"{prefix}.bias"] = (cout, cin, k, k), (cout,)


def _norm(s: Shapes, prefix: str, ch: int) -> None:
    s[f"{prefix}.weight"], s[f"{prefix}.bias"] = (ch,), (ch,)


# --- values and files -------------------------------------------------------------------------


def random_tensors(shapes: Shapes, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Seeded values of a sane size: weights ~ 1/sqrt(fan_in), norms near 1, small biases."""
    out = {}
    for key, shape in shapes.items():
        if key.endswith("bias"):
            t = 0.05 * torch.randn(shape, generator=generator)
        elif len(shape) == 1:  # norm weights
            t = 1 + 0.1 * torch.randn(shape, generator=generator)
        elif "emb" in key and len(shape) == 2 and "time_embed" not in key and "emb_layers" not in key:
            t = torch.randn(shape, generator=generator)
        else:
            fan_in = math.prod(shape[1:])
            t = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        out[key] = t
    return out


def schedule_buffers(linear_start: float, linear_end: float, timesteps: int = 1000) -> dict[str, torch.Tensor]:
    """The 12 buffers LatentDiffusion registers (its "linear" schedule: linspace of square roots, squared)."""
    betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    cumprod = torch.cumprod(alphas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), cumprod[:-1]])
    variance = betas * (1 - prev) / (1 - cumprod)
    values = {
        "betas": betas,
        "alphas_cumprod": cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1 - cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1 / cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / cumprod - 1).sqrt(),
        "posterior_variance": variance,
        "posterior_log_variance_clipped": torch.log(torch.clamp(variance, min=1e-20)),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - cumprod),
        "posterior_mean_coef2": (1 - prev) * alphas.sqrt() / (1 - cumprod),
    }
    return {k: v.float() for k, v in values.items()}


def original_state_dict(config: dict[str, Any], seed: int = 0, ema: bool = True) -> dict[str, torch.Tensor]:
    """The full LatentDiffusion state dict for `config`: U-Net, first stage, cond stage, buffers, EMA."""
    g = torch.Generator().manual_seed(seed)
    p = config["model"]["params"]
    state: dict[str, torch.Tensor] = {}
    unet = random_tensors(unet_shapes(p["unet_config"]["params"]), g)
    state.update({f"model.diffusion_model.{k}": v for k, v in unet.items()})
    first = random_tensors(first_stage_shapes(p["first_stage_config"]), g)
    state.update({f"first_stage_model.{k}": v for k, v in first.items()})
    if p["cond_stage_config"] == "__is_first_stage__":
        cond = first  # LatentDiffusion sets cond_stage_model = first_stage_model: saved twice
    else:
        cond = random_tensors(cond_stage_shapes(p["cond_stage_config"]), g)
    state.update({f"cond_stage_model.{k}": v for k, v in cond.items()})
    state.update(schedule_buffers(p["linear_start"], p["linear_end"], p.get("timesteps", 1000)))
    if ema:
        state["model_ema.decay"] = torch.tensor(0.9999)
        state["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
        for k, v in unet.items():  # EMA weights differ from the raw ones, as in real checkpoints
            state["model_ema." + ("diffusion_model." + k).replace(".", "")] = v + 0.01 * torch.randn(
                v.shape, generator=g
            )
    if p.get("scale_by_std"):
        state["scale_factor"] = torch.tensor(p.get("scale_factor", 1.0))
    return state


def write_original(folder: Path, config: dict[str, Any], seed: int = 0, ema: bool = True) -> tuple[Path, Path]:
    """Write `config.yaml` and a Lightning-style `model.ckpt`; returns (config, checkpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    ckpt_path = folder / "model.ckpt"
    torch.save({"state_dict": original_state_dict(config, seed, ema), "global_step": 470000}, ckpt_path)
    return config_path, ckpt_path
