"""A small functional re-implementation of the original CompVis forward passes, for faithfulness tests.

It follows CompVis/latent-diffusion at commit a506df5 (the released HEAD, which the README tells
people to run the released checkpoints with): `ldm/modules/diffusionmodules/openaimodel.py`
(ResBlock with `up`/`down` for `resblock_updown`, AttentionBlock with QKVAttentionLegacy or
QKVAttention, and the head counts `UNetModel.__init__` gives each layer — at a506df5 its
`#num_heads = 1` is commented out in legacy mode, commit 71ebe40), `ldm/modules/attention.py`
(SpatialTransformer, CrossAttention, GEGLU feed-forward), `ldm/modules/diffusionmodules/model.py`
(Encoder/Decoder, AttnBlock per level and in the middle, `attn_type: none`), taming's
VectorQuantizer2 and x-transformers' pre-norm encoder. It works directly on the *original*
state-dict names and shares no code with the converter, so a converted diffusers model that
agrees with it agrees with the original layout and maths. It was checked against the original
modules of a506df5 run on the same tiny checkpoints of every released architecture: U-Net within
3e-6 (the original computes its GroupNorm32 in float32), Encoder/Decoder within 1e-14 in float64. Float64 is
used so that differences are the converter's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

State = dict[str, torch.Tensor]


def _gn(x: torch.Tensor, sd: State, prefix: str, eps: float) -> torch.Tensor:
    return F.group_norm(x, 32, sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], eps)


def _conv(x: torch.Tensor, sd: State, prefix: str, stride: int = 1, padding: int = 0) -> torch.Tensor:
    w = sd[f"{prefix}.weight"]
    if w.ndim == 3:
        return F.conv1d(x, w, sd.get(f"{prefix}.bias"), stride, padding)
    return F.conv2d(x, w, sd.get(f"{prefix}.bias"), stride, padding)


def _linear(x: torch.Tensor, sd: State, prefix: str) -> torch.Tensor:
    return F.linear(x, sd[f"{prefix}.weight"], sd.get(f"{prefix}.bias"))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    args = t[:, None].double() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


# --- U-Net -------------------------------------------------------------------------------------


def _resblock(
    x: torch.Tensor, emb: torch.Tensor, sd: State, p: str, scale_shift: bool, updown: str | None = None
) -> torch.Tensor:
    """ResBlock; `updown` "down"/"up": the resblock_updown resampler (avg-pool / nearest ×2 inside)."""
    h = F.silu(_gn(x, sd, f"{p}.in_layers.0", 1e-5))
    if updown == "down":
        h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
    elif updown == "up":
        h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
    h = _conv(h, sd, f"{p}.in_layers.2", padding=1)
    e = _linear(F.silu(emb), sd, f"{p}.emb_layers.1")[..., None, None]
    if scale_shift:
        scale, shift = e.chunk(2, dim=1)
        h = _gn(h, sd, f"{p}.out_layers.0", 1e-5) * (1 + scale) + shift
        h = _conv(F.silu(h), sd, f"{p}.out_layers.3", padding=1)
    else:
        h = h + e
        h = _conv(F.silu(_gn(h, sd, f"{p}.out_layers.0", 1e-5)), sd, f"{p}.out_layers.3", padding=1)
    skip = _conv(x, sd, f"{p}.skip_connection") if f"{p}.skip_connection.weight" in sd else x
    return skip + h


def legacy_attention_block(x: torch.Tensor, sd: State, p: str, heads: int, legacy: bool = True) -> torch.Tensor:
    """AttentionBlock: conv1d qkv, QKVAttentionLegacy (or QKVAttention), conv1d proj_out, residual."""
    b, c, *spatial = x.shape
    flat = x.reshape(b, c, -1)
    qkv = _conv(_gn(flat, sd, f"{p}.norm", 1e-5), sd, f"{p}.qkv")
    length = qkv.shape[-1]
    ch = c // heads
    if legacy:
        q, k, v = qkv.reshape(b * heads, ch * 3, length).split(ch, dim=1)
    else:
        q, k, v = (t.reshape(b * heads, ch, length) for t in qkv.chunk(3, dim=1))
    scale = 1 / math.sqrt(math.sqrt(ch))
    weight = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
    a = torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)
    h = _conv(a, sd, f"{p}.proj_out")
    return (flat + h).reshape(b, c, *spatial)


def _cross_attention(x: torch.Tensor, ctx: torch.Tensor, sd: State, p: str, heads: int) -> torch.Tensor:
    q, k, v = _linear(x, sd, f"{p}.to_q"), _linear(ctx, sd, f"{p}.to_k"), _linear(ctx, sd, f"{p}.to_v")
    b, n, inner = q.shape
    d = inner // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, t.shape[1], heads, d).permute(0, 2, 1, 3).reshape(b * heads, t.shape[1], d)

    q, k, v = split(q), split(k), split(v)
    sim = torch.einsum("bid,bjd->bij", q, k) * d**-0.5
    out = torch.einsum("bij,bjd->bid", sim.softmax(dim=-1), v)
    out = out.reshape(b, heads, n, d).permute(0, 2, 1, 3).reshape(b, n, inner)
    return _linear(out, sd, f"{p}.to_out.0")


def spatial_transformer(x: torch.Tensor, ctx: torch.Tensor, sd: State, p: str, heads: int, depth: int) -> torch.Tensor:
    b, _, hh, ww = x.shape
    h = _conv(_gn(x, sd, f"{p}.norm", 1e-6), sd, f"{p}.proj_in")
    inner = h.shape[1]
    h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, inner)
    for i in range(depth):
        t = f"{p}.transformer_blocks.{i}"

        def ln(y: torch.Tensor, name: str, t: str = t) -> torch.Tensor:
            return F.layer_norm(y, (inner,), sd[f"{t}.{name}.weight"], sd[f"{t}.{name}.bias"], 1e-5)

        h = _cross_attention(ln(h, "norm1"), ln(h, "norm1"), sd, f"{t}.attn1", heads) + h
        h = _cross_attention(ln(h, "norm2"), ctx, sd, f"{t}.attn2", heads) + h
        y, gate = _linear(ln(h, "norm3"), sd, f"{t}.ff.net.0.proj").chunk(2, dim=-1)
        h = _linear(y * F.gelu(gate), sd, f"{t}.ff.net.2") + h
    h = h.reshape(b, hh, ww, inner).permute(0, 3, 1, 2)
    return _conv(h, sd, f"{p}.proj_out") + x


def attention_heads(p: dict[str, Any], one_head_legacy: bool = False) -> dict[str, int]:
    """Heads of every attention layer of `UNetModel(**p)` at a506df5, by original key prefix.

    Walks the constructor step by step, including how it reassigns its `num_heads` variable.
    With `num_head_channels` set every layer has `ch // num_head_channels` heads; otherwise a
    SpatialTransformer has `num_heads` heads and an AttentionBlock `num_heads` (input and middle
    blocks) or `num_heads_upsample` (output blocks; default `num_heads`). `one_head_legacy`
    re-enables the `num_heads = 1` of the older commit a80ed79 (for tests that the converter
    does not follow it).
    """
    mc, nrb, mult = p["model_channels"], p["num_res_blocks"], p["channel_mult"]
    attn_res = set(p.get("attention_resolutions", []))
    spatial, legacy = p.get("use_spatial_transformer", False), p.get("legacy", True)
    num_heads, head_channels = p.get("num_heads", -1), p.get("num_head_channels", -1)
    heads_upsample = p.get("num_heads_upsample", -1)
    if heads_upsample == -1:
        heads_upsample = num_heads
    out: dict[str, int] = {}

    def layer(ch: int, upsample: bool) -> int:
        nonlocal num_heads
        if head_channels == -1:
            dim_head = ch // num_heads
        else:
            num_heads = ch // head_channels
            dim_head = head_channels
        if legacy:
            if one_head_legacy:
                num_heads = 1
            dim_head = ch // num_heads if spatial else head_channels
        if spatial:
            return num_heads  # SpatialTransformer(ch, num_heads, dim_head)
        # AttentionBlock(ch, num_heads=num_heads or num_heads_upsample, num_head_channels=dim_head)
        return (heads_upsample if upsample else num_heads) if dim_head == -1 else ch // dim_head

    ch, ds, n = mc, 1, 1
    for level, m in enumerate(mult):
        for _ in range(nrb):
            ch = m * mc
            if ds in attn_res:
                out[f"input_blocks.{n}.1"] = layer(ch, False)
            n += 1
        if level != len(mult) - 1:
            n += 1
            ds *= 2
    out["middle_block.1"] = layer(ch, False)
    n = 0
    for level, m in list(enumerate(mult))[::-1]:
        for i in range(nrb + 1):
            ch = m * mc
            if ds in attn_res:
                out[f"output_blocks.{n}.1"] = layer(ch, True)
            if level and i == nrb:
                ds //= 2
            n += 1
    return out


def unet_forward(
    sd: State,
    p: dict[str, Any],
    x: torch.Tensor,
    t: torch.Tensor,
    context: torch.Tensor | None = None,
    heads: dict[str, int] | None = None,
) -> torch.Tensor:
    """The original UNetModel.forward on prefix-stripped U-Net weights `sd` and its yaml params `p`.

    `heads` replaces the constructor's head counts (tests of what a wrong count would give)."""
    mc, nrb, mult = p["model_channels"], p["num_res_blocks"], p["channel_mult"]
    attn_res = set(p.get("attention_resolutions", []))
    ss, spatial = p.get("use_scale_shift_norm", False), p.get("use_spatial_transformer", False)
    legacy_order = not p.get("use_new_attention_order", False)
    updown = p.get("resblock_updown", False)
    layer_heads = heads if heads is not None else attention_heads(p)

    def attend(h: torch.Tensor, prefix: str) -> torch.Tensor:
        heads = layer_heads[prefix]
        if spatial:
            return spatial_transformer(h, context, sd, prefix, heads, p.get("transformer_depth", 1))
        return legacy_attention_block(h, sd, prefix, heads, legacy_order)

    emb = timestep_embedding(t, mc).to(x.dtype)
    emb = _linear(F.silu(_linear(emb, sd, "time_embed.0")), sd, "time_embed.2")
    h = _conv(x, sd, "input_blocks.0.0", padding=1)
    hs, ds, n = [h], 1, 1
    for level in range(len(mult)):
        for _ in range(nrb):
            h = _resblock(h, emb, sd, f"input_blocks.{n}.0", ss)
            if ds in attn_res:
                h = attend(h, f"input_blocks.{n}.1")
            hs.append(h)
            n += 1
        if level != len(mult) - 1:
            if updown:
                h = _resblock(h, emb, sd, f"input_blocks.{n}.0", ss, "down")
            else:
                h = _conv(h, sd, f"input_blocks.{n}.0.op", stride=2, padding=1)
            hs.append(h)
            n += 1
            ds *= 2
    h = _resblock(h, emb, sd, "middle_block.0", ss)
    h = attend(h, "middle_block.1")
    h = _resblock(h, emb, sd, "middle_block.2", ss)
    n = 0
    for level in reversed(range(len(mult))):
        for i in range(nrb + 1):
            h = _resblock(torch.cat([h, hs.pop()], dim=1), emb, sd, f"output_blocks.{n}.0", ss)
            index = 1
            if ds in attn_res:
                h = attend(h, f"output_blocks.{n}.1")
                index = 2
            if level and i == nrb:
                if updown:
                    h = _resblock(h, emb, sd, f"output_blocks.{n}.{index}", ss, "up")
                else:
                    up = F.interpolate(h, scale_factor=2, mode="nearest")
                    h = _conv(up, sd, f"output_blocks.{n}.{index}.conv", padding=1)
                ds //= 2
            n += 1
    return _conv(F.silu(_gn(h, sd, "out.0", 1e-5)), sd, "out.2", padding=1)


# --- first stage -----------------------------------------------------------------------------


def _vae_resnet(x: torch.Tensor, sd: State, p: str) -> torch.Tensor:
    h = _conv(F.silu(_gn(x, sd, f"{p}.norm1", 1e-6)), sd, f"{p}.conv1", padding=1)
    h = _conv(F.silu(_gn(h, sd, f"{p}.norm2", 1e-6)), sd, f"{p}.conv2", padding=1)
    skip = _conv(x, sd, f"{p}.nin_shortcut") if f"{p}.nin_shortcut.weight" in sd else x
    return skip + h


def _vae_attn(x: torch.Tensor, sd: State, p: str) -> torch.Tensor:
    h = _gn(x, sd, f"{p}.norm", 1e-6)
    q, k, v = (_conv(h, sd, f"{p}.{n}") for n in "qkv")
    b, c, hh, ww = q.shape
    w = torch.bmm(q.reshape(b, c, -1).permute(0, 2, 1), k.reshape(b, c, -1)) * c**-0.5
    w = w.softmax(dim=2)
    out = torch.bmm(v.reshape(b, c, -1), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
    return x + _conv(out, sd, f"{p}.proj_out")


def _mid(h: torch.Tensor, sd: State, part: str, dd: dict[str, Any]) -> torch.Tensor:
    h = _vae_resnet(h, sd, f"{part}.mid.block_1")
    if dd.get("attn_type", "vanilla") == "vanilla":  # "none": make_attn returns nn.Identity
        h = _vae_attn(h, sd, f"{part}.mid.attn_1")
    return _vae_resnet(h, sd, f"{part}.mid.block_2")


def _level_attention(dd: dict[str, Any], level: int) -> bool:
    """Encoder and Decoder both attend at a level whose resolution is in attn_resolutions."""
    res = dd.get("resolution", 256) // 2**level
    return dd.get("attn_type", "vanilla") == "vanilla" and res in set(dd.get("attn_resolutions") or [])


def encoder_forward(sd: State, dd: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    levels = len(dd["ch_mult"])
    h = _conv(x, sd, "encoder.conv_in", padding=1)
    for i in range(levels):
        for j in range(dd["num_res_blocks"]):
            h = _vae_resnet(h, sd, f"encoder.down.{i}.block.{j}")
            if _level_attention(dd, i):
                h = _vae_attn(h, sd, f"encoder.down.{i}.attn.{j}")
        if i != levels - 1:
            h = _conv(F.pad(h, (0, 1, 0, 1)), sd, f"encoder.down.{i}.downsample.conv", stride=2)
    h = _mid(h, sd, "encoder", dd)
    return _conv(F.silu(_gn(h, sd, "encoder.norm_out", 1e-6)), sd, "encoder.conv_out", padding=1)


def decoder_forward(sd: State, dd: dict[str, Any], z: torch.Tensor) -> torch.Tensor:
    levels = len(dd["ch_mult"])
    h = _mid(_conv(z, sd, "decoder.conv_in", padding=1), sd, "decoder", dd)
    for i in reversed(range(levels)):
        for j in range(dd["num_res_blocks"] + 1):
            h = _vae_resnet(h, sd, f"decoder.up.{i}.block.{j}")
            if _level_attention(dd, i):
                h = _vae_attn(h, sd, f"decoder.up.{i}.attn.{j}")
        if i != 0:
            h = _conv(F.interpolate(h, scale_factor=2, mode="nearest"), sd, f"decoder.up.{i}.upsample.conv", padding=1)
    return _conv(F.silu(_gn(h, sd, "decoder.norm_out", 1e-6)), sd, "decoder.conv_out", padding=1)


def quantize(sd: State, z: torch.Tensor) -> torch.Tensor:
    """taming's VectorQuantizer2 forward (inference): nearest codebook entry per latent pixel."""
    e = sd["quantize.embedding.weight"]
    flat = z.permute(0, 2, 3, 1).reshape(-1, e.shape[1])
    d = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * flat @ e.t()
    zq = e[d.argmin(1)].reshape(z.shape[0], z.shape[2], z.shape[3], -1)
    return zq.permute(0, 3, 1, 2)


def vq_decode(sd: State, dd: dict[str, Any], h: torch.Tensor) -> torch.Tensor:
    """VQModelInterface.decode (quantises first), as LatentDiffusion.decode_first_stage calls it."""
    return decoder_forward(sd, dd, _conv(quantize(sd, h), sd, "post_quant_conv"))


def vq_encode(sd: State, dd: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    """VQModelInterface.encode: encoder + quant_conv, no quantisation."""
    return _conv(encoder_forward(sd, dd, x), sd, "quant_conv")


def kl_decode(sd: State, dd: dict[str, Any], z: torch.Tensor) -> torch.Tensor:
    return decoder_forward(sd, dd, _conv(z, sd, "post_quant_conv"))


def kl_encode_mean(sd: State, dd: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    moments = _conv(encoder_forward(sd, dd, x), sd, "quant_conv")
    return moments.chunk(2, dim=1)[0]


# --- conditioning ------------------------------------------------------------------------------


def spatial_rescaler(weight: torch.Tensor, one_hot: torch.Tensor, n_stages: int) -> torch.Tensor:
    x = one_hot
    for _ in range(n_stages):
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear")
    return F.conv2d(x, weight)


def bert_forward(sd: State, n_layer: int, ids: torch.Tensor) -> torch.Tensor:
    """BERTEmbedder's TransformerWrapper(return_embeddings=True): pre-norm, 8 heads × 64, no mask."""
    x = sd["transformer.token_emb.weight"][ids] + sd["transformer.pos_emb.emb.weight"][: ids.shape[1]][None]
    d = x.shape[-1]
    for i in range(n_layer):
        a, f = f"transformer.attn_layers.layers.{2 * i}", f"transformer.attn_layers.layers.{2 * i + 1}"
        h = F.layer_norm(x, (d,), sd[f"{a}.0.weight"], sd[f"{a}.0.bias"])
        q, k, v = (_linear(h, sd, f"{a}.1.{n}") for n in ("to_q", "to_k", "to_v"))
        b, n, _ = q.shape
        q, k, v = (t.reshape(b, n, 8, 64).transpose(1, 2) for t in (q, k, v))
        attn = (torch.einsum("bhid,bhjd->bhij", q, k) * 64**-0.5).softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", attn, v).transpose(1, 2).reshape(b, n, 512)
        x = _linear(out, sd, f"{a}.1.to_out") + x
        h = F.layer_norm(x, (d,), sd[f"{f}.0.weight"], sd[f"{f}.0.bias"])
        x = _linear(F.gelu(_linear(h, sd, f"{f}.1.net.0.0")), sd, f"{f}.1.net.2") + x
    return F.layer_norm(x, (d,), sd["transformer.norm.weight"], sd["transformer.norm.bias"])


def component(state: State, prefix: str, dtype: torch.dtype = torch.float64) -> State:
    """The weights under `prefix` with it stripped (EMA not applied), in `dtype`."""
    return {k[len(prefix) :]: v.to(dtype) for k, v in state.items() if k.startswith(prefix)}


def ema_unet(state: State, dtype: torch.dtype = torch.float64) -> State:
    """The EMA U-Net weights (what `ema_scope()` swaps in when the model has an EMA copy)."""
    raw = component(state, "model.diffusion_model.", dtype)
    return {k: state["model_ema." + ("diffusion_model." + k).replace(".", "")].to(dtype) for k in raw}


def sampling_unet(state: State, model_params: dict, dtype: torch.dtype = torch.float64) -> State:
    """The U-Net weights the original code samples with: EMA when `use_ema` (DDPM's default, True)
    and the checkpoint has them; with `use_ema: False` no EMA model exists and the raw weights run."""
    has_ema = any(k.startswith("model_ema.") and k not in ("model_ema.decay", "model_ema.num_updates") for k in state)
    if model_params.get("use_ema", True) and has_ema:
        return ema_unet(state, dtype)
    return component(state, "model.diffusion_model.", dtype)
