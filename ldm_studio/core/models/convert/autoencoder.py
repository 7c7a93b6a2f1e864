"""The original first stage (`VQModelInterface` / `AutoencoderKL`) → diffusers `VQModel` / `AutoencoderKL`.

Layout facts (CompVis `ldm/modules/diffusionmodules/model.py`, taming `quantize.py`): the
encoder has `down.{i}.block.{j}` ResnetBlocks (norm1, conv1, norm2, conv2, nin_shortcut) and
`down.{i}.downsample.conv`; `mid.block_1`, `mid.attn_1` (1×1 conv q/k/v/proj_out),
`mid.block_2`; `norm_out`, `conv_out`. The decoder's `up.{i}` is indexed by resolution level
(`up.0` is applied last), the reverse of diffusers' `up_blocks`. `quantize.embedding` is the
codebook; `quant_conv`/`post_quant_conv` are 1×1 convs. At a506df5 (`model.py`) a level whose
resolution (`resolution // 2**level`, the same in the encoder and decoder) is in `attn_resolutions`
gets an `attn.{j}` AttnBlock after each ResnetBlock (diffusers' Attn*EncoderBlock2D /
Attn*DecoderBlock2D, one head of all channels), and `attn_type: none` makes every AttnBlock an
`nn.Identity` (no middle attention: `mid_block_add_attention=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusers import AutoencoderKL, VQModel

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.models.convert.config import Target, check_params
from ldm_studio.core.models.convert.keys import KeyMap

TARGETS = {
    "ldm.models.autoencoder.VQModelInterface": "vq",
    "ldm.models.autoencoder.VQModel": "vq",
    "ldm.models.autoencoder.AutoencoderKL": "kl",
}
KNOWN = {"embed_dim", "n_embed", "ddconfig", "remap", "sane_index_shape", "colorize_nlabels", "use_ema"}
IGNORED = {
    "lossconfig",
    "ckpt_path",
    "ignore_keys",
    "image_key",
    "monitor",
    "batch_resize_range",
    "scheduler_config",
    "lr_g_factor",
}
DD_KNOWN = {
    "double_z",
    "z_channels",
    "resolution",
    "in_channels",
    "out_ch",
    "ch",
    "ch_mult",
    "num_res_blocks",
    "attn_resolutions",
    "attn_type",
    "resamp_with_conv",
    "give_pre_end",
    "tanh_out",
    "use_linear_attn",
}
DD_IGNORED = {"dropout"}


@dataclass(frozen=True)
class AutoencoderLayout:
    kind: str  # "vq" or "kl"
    in_channels: int
    out_channels: int
    channels: tuple[int, ...]
    num_res_blocks: int
    z_channels: int
    embed_dim: int
    n_embed: int | None
    resolution: int
    attention_levels: tuple[bool, ...] = ()  # per level (encoder order): AttnBlocks after the ResnetBlocks
    mid_attention: bool = True  # False with attn_type "none"

    @property
    def folder(self) -> str:
        return "vqvae" if self.kind == "vq" else "vae"

    @property
    def factor(self) -> int:
        return 2 ** (len(self.channels) - 1)


def read_layout(target: Target, file: Path) -> AutoencoderLayout:
    kind = TARGETS.get(target.target)
    if kind is None:
        raise ConversionError(file, f"unsupported setting first_stage_config.target: {target.target}")
    p = target.params
    where = "first_stage_config.params"
    check_params(file, where, p, KNOWN, IGNORED)
    for key in ("remap", "colorize_nlabels"):
        if p.get(key) is not None:
            raise ConversionError(file, f"unsupported setting {where}.{key} = {p[key]!r}")
    if p.get("use_ema"):
        raise ConversionError(file, f"unsupported setting {where}.use_ema (an EMA first stage)")
    dd = p.get("ddconfig")
    if not isinstance(dd, dict):
        raise ConversionError(file, f"{where}.ddconfig must be a mapping")
    check_params(file, f"{where}.ddconfig", dd, DD_KNOWN, DD_IGNORED)

    def refuse(key: str, why: str) -> ConversionError:
        return ConversionError(file, f"unsupported setting {where}.ddconfig.{key} = {dd.get(key)!r} ({why})")

    attn_type = dd.get("attn_type", "vanilla")
    if attn_type not in ("vanilla", "none"):
        raise refuse("attn_type", "only vanilla attention or none")
    resolution = int(dd.get("resolution", 256))
    attn_res = {int(r) for r in dd.get("attn_resolutions") or ()}
    levels = len(dd["ch_mult"])
    attention_levels = tuple(attn_type == "vanilla" and resolution // 2**i in attn_res for i in range(levels))
    if (
        not dd.get("resamp_with_conv", True)
        or dd.get("give_pre_end")
        or dd.get("tanh_out")
        or dd.get("use_linear_attn")
    ):
        raise refuse("resamp_with_conv", "non-default encoder/decoder options")
    double_z = bool(dd.get("double_z", True))
    if double_z != (kind == "kl"):
        raise refuse("double_z", f"a {kind.upper()} first stage needs double_z {kind == 'kl'}")
    embed_dim = int(p["embed_dim"])
    z_channels = int(dd["z_channels"])
    if kind == "kl" and embed_dim != z_channels:
        raise ConversionError(file, f"unsupported setting {where}.embed_dim {embed_dim} != z_channels {z_channels}")
    if not isinstance(dd.get("num_res_blocks"), int):
        raise refuse("num_res_blocks", "must be one integer")
    return AutoencoderLayout(
        kind=kind,
        in_channels=int(dd.get("in_channels", 3)),
        out_channels=int(dd.get("out_ch", 3)),
        channels=tuple(int(dd["ch"]) * int(m) for m in dd["ch_mult"]),
        num_res_blocks=dd["num_res_blocks"],
        z_channels=z_channels,
        embed_dim=embed_dim,
        n_embed=int(p["n_embed"]) if kind == "vq" else None,
        resolution=resolution,
        attention_levels=attention_levels,
        mid_attention=attn_type == "vanilla",
    )


def diffusers_config(layout: AutoencoderLayout, scale_factor: float) -> dict[str, Any]:
    attn = layout.attention_levels or (False,) * len(layout.channels)
    config: dict[str, Any] = {
        "in_channels": layout.in_channels,
        "out_channels": layout.out_channels,
        "down_block_types": tuple("AttnDownEncoderBlock2D" if a else "DownEncoderBlock2D" for a in attn),
        "up_block_types": tuple("AttnUpDecoderBlock2D" if a else "UpDecoderBlock2D" for a in reversed(attn)),
        "block_out_channels": layout.channels,
        "layers_per_block": layout.num_res_blocks,
        "act_fn": "silu",
        "latent_channels": layout.z_channels,
        "norm_num_groups": 32,
        "sample_size": layout.resolution,
        "scaling_factor": scale_factor,
    }
    if not layout.mid_attention:
        config["mid_block_add_attention"] = False
    if layout.kind == "vq":
        config.update(num_vq_embeddings=layout.n_embed, vq_embed_dim=layout.embed_dim)
    return config


def build_autoencoder(layout: AutoencoderLayout, scale_factor: float) -> VQModel | AutoencoderKL:
    cls = VQModel if layout.kind == "vq" else AutoencoderKL
    return cls(**diffusers_config(layout, scale_factor))


def map_keys(keys: KeyMap, layout: AutoencoderLayout) -> None:
    """Fill `keys.target` with diffusers names from the original (prefix-stripped) first-stage keys."""
    levels = len(layout.channels)
    nrb = layout.num_res_blocks
    keys.move_prefix("encoder.conv_in", "encoder.conv_in")
    for i in range(levels):
        for j in range(nrb):
            _resnet(keys, f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}")
            if layout.attention_levels and layout.attention_levels[i]:
                _attn(keys, f"encoder.down.{i}.attn.{j}", f"encoder.down_blocks.{i}.attentions.{j}")
        if i < levels - 1:
            keys.move_prefix(f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv")
    _mid(keys, "encoder", layout.mid_attention)
    keys.move_prefix("encoder.norm_out", "encoder.conv_norm_out")
    keys.move_prefix("encoder.conv_out", "encoder.conv_out")

    keys.move_prefix("decoder.conv_in", "decoder.conv_in")
    _mid(keys, "decoder", layout.mid_attention)
    for i in range(levels):
        k = levels - 1 - i
        for j in range(nrb + 1):
            _resnet(keys, f"decoder.up.{i}.block.{j}", f"decoder.up_blocks.{k}.resnets.{j}")
            if layout.attention_levels and layout.attention_levels[i]:
                _attn(keys, f"decoder.up.{i}.attn.{j}", f"decoder.up_blocks.{k}.attentions.{j}")
        if i > 0:
            keys.move_prefix(f"decoder.up.{i}.upsample.conv", f"decoder.up_blocks.{k}.upsamplers.0.conv")
    keys.move_prefix("decoder.norm_out", "decoder.conv_norm_out")
    keys.move_prefix("decoder.conv_out", "decoder.conv_out")

    keys.move_prefix("quant_conv", "quant_conv")
    keys.move_prefix("post_quant_conv", "post_quant_conv")
    if layout.kind == "vq":
        keys.move("quantize.embedding.weight", "quantize.embedding.weight")


def _resnet(keys: KeyMap, src: str, dst: str) -> None:
    for name in ("norm1", "conv1", "norm2", "conv2"):
        keys.move_prefix(f"{src}.{name}", f"{dst}.{name}")
    if keys.has(f"{src}.nin_shortcut.weight"):
        keys.move_prefix(f"{src}.nin_shortcut", f"{dst}.conv_shortcut")


def _mid(keys: KeyMap, part: str, attention: bool) -> None:
    _resnet(keys, f"{part}.mid.block_1", f"{part}.mid_block.resnets.0")
    _resnet(keys, f"{part}.mid.block_2", f"{part}.mid_block.resnets.1")
    if attention:
        _attn(keys, f"{part}.mid.attn_1", f"{part}.mid_block.attentions.0")


def _attn(keys: KeyMap, src: str, dst: str) -> None:
    keys.move_prefix(f"{src}.norm", f"{dst}.group_norm")
    for a, b in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
        keys.move(f"{src}.{a}.weight", f"{dst}.{b}.weight", squeeze_conv=True)
        keys.move(f"{src}.{a}.bias", f"{dst}.{b}.bias")
