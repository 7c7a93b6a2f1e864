"""The original `openaimodel.UNetModel` → diffusers `UNet2DConditionModel` / `UNet2DModel`.

Layout facts (CompVis `ldm/modules/diffusionmodules/openaimodel.py` at a506df5, the released
HEAD): `input_blocks.0` is the input conv; then per level `num_res_blocks` blocks of
[ResBlock, attention?] and, except at the last level, one downsampler (`.0.op`, or a ResBlock
with `down=True` when `resblock_updown`); `middle_block` = [ResBlock, attention, ResBlock];
`output_blocks` per level (deepest first) `num_res_blocks + 1` blocks of
[ResBlock, attention?, upsampler?], the upsampler (Upsample `.conv` or a ResBlock with `up=True`)
at index 1 or 2 depending on attention. Attention is a SpatialTransformer (cross-attention
models) or an AttentionBlock with a fused conv1d qkv, which `split_qkv` turns into diffusers'
separate q/k/v linears.

Head counts follow `UNetModel.__init__` at a506df5, where `#num_heads = 1` is commented out in
legacy mode (commit 71ebe40): with `num_head_channels` set, every layer has
`ch // num_head_channels` heads; otherwise a SpatialTransformer has `num_heads` heads of
`ch // num_heads`, and an AttentionBlock `num_heads` heads in the input and middle blocks and
`num_heads_upsample` (default `num_heads`) in the output blocks (with `legacy: False` the
output blocks get `num_heads` too, through `num_head_channels = ch // num_heads`).

diffusers' `UNet2DModel` has one head size for all blocks. When the original's head sizes
differ between blocks (e.g. LSUN-Churches, inpainting_big: 8 heads at 192…1024 channels), the
config keeps one head per layer and records the real counts in the hidden config entry
`_ldm_attention_heads` (module name → heads), which `apply_attention_heads` sets after loading;
heads change no weight shape, only how q/k/v are split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DConditionModel, UNet2DModel

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.models.convert.config import Target, check_params
from ldm_studio.core.models.convert.keys import KeyMap
from ldm_studio.core.models.unet_heads import HEADS_KEY, apply_attention_heads

UNET_TARGET = "ldm.modules.diffusionmodules.openaimodel.UNetModel"
KNOWN = {
    "image_size",
    "in_channels",
    "out_channels",
    "model_channels",
    "num_res_blocks",
    "attention_resolutions",
    "channel_mult",
    "num_heads",
    "num_head_channels",
    "num_heads_upsample",
    "use_scale_shift_norm",
    "resblock_updown",
    "use_new_attention_order",
    "use_spatial_transformer",
    "transformer_depth",
    "context_dim",
    "legacy",
    "conv_resample",
    "dims",
    "num_classes",
    "n_embed",
}
IGNORED = {"dropout", "use_checkpoint", "use_fp16"}


@dataclass(frozen=True)
class UNetLayout:
    """The original U-Net's shape, as needed for both the config and the key mapping."""

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[bool, ...]
    num_heads: int
    num_head_channels: int
    num_heads_upsample: int
    legacy: bool
    spatial_transformer: bool
    transformer_depth: int
    context_dim: int | None
    scale_shift: bool
    new_attention_order: bool
    sample_size: int
    resblock_updown: bool = False

    @property
    def channels(self) -> list[int]:
        return [self.model_channels * m for m in self.channel_mult]

    def heads(self, ch: int, up: bool = False) -> tuple[int, int]:
        """(heads, head dim) of an attention layer with `ch` channels, as a506df5's constructor computes it.

        `up`: the layer is in an output block (only a legacy AttentionBlock without
        `num_head_channels` differs there: it gets `num_heads_upsample` heads).
        """
        if self.num_head_channels != -1:
            return ch // self.num_head_channels, self.num_head_channels
        heads = self.num_heads_upsample if up and self.legacy and not self.spatial_transformer else self.num_heads
        return heads, ch // heads

    def attention_layers(self) -> dict[str, tuple[int, int]]:
        """(heads, head dim) of every attention layer, by diffusers module name."""
        layers: dict[str, tuple[int, int]] = {}
        levels = len(self.channels)
        for level, (ch, attn) in enumerate(zip(self.channels, self.attention_levels, strict=True)):
            if attn:
                for j in range(self.num_res_blocks):
                    layers[f"down_blocks.{level}.attentions.{j}"] = self.heads(ch)
                for j in range(self.num_res_blocks + 1):
                    layers[f"up_blocks.{levels - 1 - level}.attentions.{j}"] = self.heads(ch, up=True)
        layers["mid_block.attentions.0"] = self.heads(self.channels[-1])
        return layers


def read_layout(target: Target, file: Path) -> UNetLayout:
    if target.target != UNET_TARGET:
        raise ConversionError(file, f"unsupported setting unet_config.target: {target.target}")
    p = target.params
    check_params(file, "unet_config.params", p, KNOWN, IGNORED)

    def unsupported(key: str, why: str) -> ConversionError:
        return ConversionError(file, f"unsupported setting unet_config.params.{key} = {p.get(key)!r} ({why})")

    if p.get("dims", 2) != 2:
        raise unsupported("dims", "only 2-D U-Nets")
    if not p.get("conv_resample", True):
        raise unsupported("conv_resample", "only convolutional resampling")
    if p.get("num_classes") is not None:
        raise unsupported("num_classes", "class embeddings inside the U-Net are not supported")
    if p.get("n_embed") is not None:
        raise unsupported("n_embed", "codebook-predicting U-Nets are not supported")
    num_heads = int(p.get("num_heads", -1))
    head_channels = int(p.get("num_head_channels", -1))
    if num_heads == -1 and head_channels == -1:
        raise unsupported("num_heads", "either num_heads or num_head_channels must be set")
    heads_upsample = int(p.get("num_heads_upsample", -1))
    if head_channels == -1 and (num_heads <= 0 or (heads_upsample != -1 and heads_upsample <= 0)):
        raise unsupported("num_heads", "must be a positive number of heads")
    if head_channels != -1 and head_channels <= 0:
        raise unsupported("num_head_channels", "must be positive")
    num_res_blocks = p.get("num_res_blocks")
    if not isinstance(num_res_blocks, int):
        raise unsupported("num_res_blocks", "must be one integer")
    mult = tuple(int(m) for m in p.get("channel_mult", (1, 2, 4, 8)))
    resolutions = {int(r) for r in p.get("attention_resolutions", ())}
    spatial = bool(p.get("use_spatial_transformer", False))
    context = p.get("context_dim")
    if spatial and context is None:
        raise unsupported("context_dim", "a SpatialTransformer needs a context")
    if not spatial and context is not None:
        raise unsupported("context_dim", "cross-attention without use_spatial_transformer")
    if spatial and isinstance(context, (list, tuple)):
        raise unsupported("context_dim", "one context size only")
    layout = UNetLayout(
        in_channels=int(p["in_channels"]),
        out_channels=int(p["out_channels"]),
        model_channels=int(p["model_channels"]),
        channel_mult=mult,
        num_res_blocks=num_res_blocks,
        attention_levels=tuple(2**level in resolutions for level in range(len(mult))),
        num_heads=num_heads,
        num_head_channels=head_channels,
        num_heads_upsample=num_heads if heads_upsample == -1 else heads_upsample,
        legacy=bool(p.get("legacy", True)),
        spatial_transformer=spatial,
        transformer_depth=int(p.get("transformer_depth", 1)),
        context_dim=int(context) if context is not None else None,
        scale_shift=bool(p.get("use_scale_shift_norm", False)),
        new_attention_order=bool(p.get("use_new_attention_order", False)),
        sample_size=int(p.get("image_size", 64)),
        resblock_updown=bool(p.get("resblock_updown", False)),
    )
    attended = [ch for ch, a in zip(layout.channels, layout.attention_levels, strict=True) if a]
    for ch in {*attended, layout.channels[-1]}:  # the levels with attention and the middle block
        for up in (False, True):
            heads, dim = layout.heads(ch, up)
            if heads * dim != ch:
                key = "num_head_channels" if head_channels != -1 else "num_heads"
                raise unsupported(key, f"{ch} channels do not split into {heads} heads")
    if layout.resblock_updown and spatial:
        raise unsupported("resblock_updown", "ResBlock up/downsampling with a SpatialTransformer U-Net")
    return layout


def diffusers_config(layout: UNetLayout) -> dict[str, Any]:
    """The diffusers U-Net config of the same architecture."""
    common: dict[str, Any] = {
        "sample_size": layout.sample_size,
        "in_channels": layout.in_channels,
        "out_channels": layout.out_channels,
        "block_out_channels": tuple(layout.channels),
        "layers_per_block": layout.num_res_blocks,
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "resnet_time_scale_shift": "scale_shift" if layout.scale_shift else "default",
    }
    attn = layout.attention_levels
    if layout.spatial_transformer:
        return {
            "_class_name": "UNet2DConditionModel",
            **common,
            "down_block_types": tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn),
            "up_block_types": tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)),
            "mid_block_type": "UNetMidBlock2DCrossAttn",
            "cross_attention_dim": layout.context_dim,
            # diffusers' `attention_head_dim` of this class means the number of heads, per block.
            "attention_head_dim": tuple(layout.heads(ch)[0] for ch in layout.channels),
            "transformer_layers_per_block": layout.transformer_depth,
            "use_linear_projection": False,
            "upcast_attention": False,
            "center_input_sample": False,
        }
    layers = layout.attention_layers()
    dims = {dim for _, dim in layers.values()}
    extra: dict[str, Any] = {}
    if all(heads == 1 for heads, _ in layers.values()):
        head_dim: int | None = None  # diffusers then uses one head of all channels at every block
    elif len(dims) == 1:
        head_dim = dims.pop()
    else:
        # One head of all channels in the config; the real counts are applied after loading.
        head_dim = None
        extra[HEADS_KEY] = {name: heads for name, (heads, _) in layers.items()}
    updown = layout.resblock_updown
    down_plain = "ResnetDownsampleBlock2D" if updown else "DownBlock2D"
    up_plain = "ResnetUpsampleBlock2D" if updown else "UpBlock2D"
    return {
        "_class_name": "UNet2DModel",
        **common,
        "down_block_types": tuple("AttnDownBlock2D" if a else down_plain for a in attn),
        "up_block_types": tuple("AttnUpBlock2D" if a else up_plain for a in reversed(attn)),
        "mid_block_type": "UNetMidBlock2D",
        "attention_head_dim": head_dim,
        "attn_norm_num_groups": 32,
        "add_attention": True,
        "downsample_type": "resnet" if updown else "conv",
        "upsample_type": "resnet" if updown else "conv",
        "center_input_sample": False,
        "time_embedding_type": "positional",
        **extra,
    }


def build_unet(layout: UNetLayout) -> UNet2DModel | UNet2DConditionModel:
    config = diffusers_config(layout)
    cls = UNet2DConditionModel if config.pop("_class_name") == "UNet2DConditionModel" else UNet2DModel
    heads = config.pop(HEADS_KEY, None)
    model = cls(**config)
    if heads is not None:
        model.register_to_config(**{HEADS_KEY: heads})  # a hidden entry: saved and reloaded by diffusers
        apply_attention_heads(model)
    return model


def split_qkv(qkv: torch.Tensor, heads: int, legacy: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fused conv1d qkv weight [3C, C, 1] (or bias [3C]) → q, k, v for diffusers' separate linears.

    Legacy order (QKVAttentionLegacy) interleaves per head: rows = (heads, 3, C/heads).
    The new order (QKVAttention) is (3, heads, C/heads). Both keep head h at rows h·d…(h+1)·d
    of q, k and v, as diffusers splits them.
    """
    three_c = qkv.shape[0]
    c = three_c // 3
    flat = qkv.reshape(three_c, -1) if qkv.ndim > 1 else qkv.reshape(three_c, 1)
    if legacy:
        grouped = flat.reshape(heads, 3, c // heads, flat.shape[1])
        parts = [grouped[:, i].reshape(c, flat.shape[1]) for i in range(3)]
    else:
        parts = list(flat.reshape(3, c, flat.shape[1]).unbind(0))
    if qkv.ndim == 1:
        return tuple(p.reshape(c) for p in parts)  # type: ignore[return-value]
    return tuple(p.contiguous() for p in parts)  # type: ignore[return-value]


def map_keys(keys: KeyMap, layout: UNetLayout) -> None:
    """Fill `keys.target` with diffusers names from the original (prefix-stripped) U-Net keys."""
    nrb = layout.num_res_blocks
    levels = len(layout.channel_mult)
    keys.move_prefix("time_embed.0", "time_embedding.linear_1")
    keys.move_prefix("time_embed.2", "time_embedding.linear_2")
    keys.move_prefix("input_blocks.0.0", "conv_in")
    for level, ch in enumerate(layout.channels):
        for j in range(nrb):
            n = 1 + level * (nrb + 1) + j
            _resblock(keys, f"input_blocks.{n}.0", f"down_blocks.{level}.resnets.{j}")
            if layout.attention_levels[level]:
                _attention(keys, layout, f"input_blocks.{n}.1", f"down_blocks.{level}.attentions.{j}", ch)
        if level < levels - 1:
            n = (level + 1) * (nrb + 1)
            if layout.resblock_updown:
                _resblock(keys, f"input_blocks.{n}.0", f"down_blocks.{level}.downsamplers.0")
            else:
                keys.move_prefix(f"input_blocks.{n}.0.op", f"down_blocks.{level}.downsamplers.0.conv")
    _resblock(keys, "middle_block.0", "mid_block.resnets.0")
    _attention(keys, layout, "middle_block.1", "mid_block.attentions.0", layout.channels[-1])
    _resblock(keys, "middle_block.2", "mid_block.resnets.1")
    for k in range(levels):
        level = levels - 1 - k
        ch = layout.channels[level]
        has_attn = layout.attention_levels[level]
        for j in range(nrb + 1):
            n = k * (nrb + 1) + j
            _resblock(keys, f"output_blocks.{n}.0", f"up_blocks.{k}.resnets.{j}")
            if has_attn:
                _attention(keys, layout, f"output_blocks.{n}.1", f"up_blocks.{k}.attentions.{j}", ch, up=True)
            if level > 0 and j == nrb:
                index = 2 if has_attn else 1
                if layout.resblock_updown:
                    _resblock(keys, f"output_blocks.{n}.{index}", f"up_blocks.{k}.upsamplers.0")
                else:
                    keys.move_prefix(f"output_blocks.{n}.{index}.conv", f"up_blocks.{k}.upsamplers.0.conv")
    keys.move_prefix("out.0", "conv_norm_out")
    keys.move_prefix("out.2", "conv_out")


def _resblock(keys: KeyMap, src: str, dst: str) -> None:
    keys.move_prefix(f"{src}.in_layers.0", f"{dst}.norm1")
    keys.move_prefix(f"{src}.in_layers.2", f"{dst}.conv1")
    keys.move_prefix(f"{src}.emb_layers.1", f"{dst}.time_emb_proj")
    keys.move_prefix(f"{src}.out_layers.0", f"{dst}.norm2")
    keys.move_prefix(f"{src}.out_layers.3", f"{dst}.conv2")
    if keys.has(f"{src}.skip_connection.weight"):
        keys.move_prefix(f"{src}.skip_connection", f"{dst}.conv_shortcut")


def _attention(keys: KeyMap, layout: UNetLayout, src: str, dst: str, ch: int, up: bool = False) -> None:
    if layout.spatial_transformer:
        # SpatialTransformer and diffusers' Transformer2DModel use the same names below.
        for name in ("norm", "proj_in", "proj_out"):
            keys.move_prefix(f"{src}.{name}", f"{dst}.{name}")
        for d in range(layout.transformer_depth):
            keys.move_all_under(f"{src}.transformer_blocks.{d}", f"{dst}.transformer_blocks.{d}")
        return
    heads = layout.heads(ch, up)[0]
    keys.move_prefix(f"{src}.norm", f"{dst}.group_norm")
    legacy = not layout.new_attention_order
    for suffix in ("weight", "bias"):
        q, k, v = split_qkv(keys.take(f"{src}.qkv.{suffix}"), heads, legacy)
        keys.put(f"{dst}.to_q.{suffix}", q)
        keys.put(f"{dst}.to_k.{suffix}", k)
        keys.put(f"{dst}.to_v.{suffix}", v)
    keys.move(f"{src}.proj_out.weight", f"{dst}.to_out.0.weight", squeeze_conv=True)
    keys.move(f"{src}.proj_out.bias", f"{dst}.to_out.0.bias")
