"""A tiny SDXL checkpoint in the original SGM single-file layout, written from a diffusers repo (no network).

Stability's SGM code saves SDXL as one state dict: `conditioner.embedders.0.transformer.` (OpenAI CLIP in
Hugging Face layout), `conditioner.embedders.1.model.` (OpenCLIP: `resblocks`, fused `in_proj`, a
`text_projection` matrix), `model.diffusion_model.` (the openaimodel U-Net: `input_blocks`,
`middle_block`, `output_blocks`, `label_emb` for the size/pooled embedding) and `first_stage_model.`
(the CompVis KL autoencoder). The key mapping here is written from those layouts; `tests/core/models/
test_sdxl_single_file.py` checks that diffusers' own converter maps the file back to exactly the
repo's tensors, so the file is what the real checkpoints look like to the loader.

The two text encoders get different widths (32 and 48): diffusers tells SDXL's encoders apart by the
width of their position embeddings, as the real 768 and 1280 do.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

from ldm_studio.testing.tiny_sd import sd_scheduler, tiny_clip, tiny_vae, write_clip_tokenizer

UNET_RESNET = {  # diffusers ResnetBlock2D -> openaimodel ResBlock
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def tiny_sdxl_repo(folder: Path, seed: int = 0) -> Path:
    """A tiny StableDiffusionXLPipeline repo whose two text encoders differ in width (32 and 48)."""
    tokenizer = write_clip_tokenizer(folder / "tokenizer")
    tokenizer_2 = write_clip_tokenizer(folder / "tokenizer_2", pad="!")
    text_encoder = tiny_clip(tokenizer, seed + 1, 32)
    text_encoder_2 = tiny_clip(tokenizer_2, seed + 3, 48, projection=40)
    time_dim = 8
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 48,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * time_dim + 40,
        norm_num_groups=8,
    )
    StableDiffusionXLPipeline(
        vae=tiny_vae(seed + 2, scaling_factor=0.13025),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=sd_scheduler(),
        force_zeros_for_empty_prompt=True,
    ).save_pretrained(folder)
    return folder


def unet_to_sgm(state: dict[str, torch.Tensor], layers_per_block: int) -> dict[str, torch.Tensor]:
    """diffusers UNet2DConditionModel keys -> openaimodel keys (without the `model.diffusion_model.` prefix)."""
    per = layers_per_block + 1
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = _unet_key(key, per)
        if name is not None:
            out[name] = value
    return out


def _unet_key(key: str, per: int) -> str | None:
    for new, old in UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    parts = key.split(".")
    if parts[0] == "down_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        if kind == "downsamplers":
            return ".".join([f"input_blocks.{1 + block * per + per - 1}.0.op", *rest[1:]])
        slot = 1 + block * per + index
        return _inner(f"input_blocks.{slot}", kind, rest)
    if parts[0] == "mid_block":
        kind, index, rest = parts[1], int(parts[2]), parts[3:]
        slot = 0 if (kind == "resnets" and index == 0) else 1 if kind == "attentions" else 2
        return ".".join([f"middle_block.{slot}", *(_resnet(rest) if kind == "resnets" else rest)])
    if parts[0] == "up_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        if kind == "upsamplers":
            return None  # placed by `_upsampler_keys`: its slot depends on whether the block has attentions
        return _inner(f"output_blocks.{block * per + index}", kind, rest)
    return None  # add_time_proj and other weightless parts


def _inner(prefix: str, kind: str, rest: list[str]) -> str:
    if kind == "resnets":
        return ".".join([f"{prefix}.0", *_resnet(rest)])
    return ".".join([f"{prefix}.1", *rest])  # SpatialTransformer: the same inner names


def _resnet(rest: list[str]) -> list[str]:
    return [*UNET_RESNET.get(rest[0], rest[0]).split("."), *rest[1:]]


def _upsampler_keys(state: dict[str, torch.Tensor], per: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "up_blocks" and parts[2] == "upsamplers":
            block = int(parts[1])
            has_attention = any(k.startswith(f"up_blocks.{block}.attentions.") for k in state)
            slot = 2 if has_attention else 1
            out[".".join([f"output_blocks.{block * per + per - 1}.{slot}", *parts[4:]])] = value
    return out


VAE_TOP = {"conv_norm_out": "norm_out"}
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(state: dict[str, torch.Tensor], up_blocks: int) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL keys -> CompVis autoencoder keys (attention projections as 1×1 convolutions)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        side, rest = key.split(".", 1) if key.startswith(("encoder.", "decoder.")) else ("", key)
        parts = rest.split(".")
        if not side:
            out[key] = value  # quant_conv, post_quant_conv
            continue
        if parts[0] in VAE_TOP:
            name = ".".join([VAE_TOP[parts[0]], *parts[1:]])
        elif parts[0] in ("down_blocks", "up_blocks"):
            block = int(parts[1])
            level = block if parts[0] == "down_blocks" else up_blocks - 1 - block
            stage = "down" if parts[0] == "down_blocks" else "up"
            if parts[2] in ("downsamplers", "upsamplers"):
                name = ".".join([f"{stage}.{level}.{'downsample' if stage == 'down' else 'upsample'}", *parts[4:]])
            else:
                inner = ["nin_shortcut" if p == "conv_shortcut" else p for p in parts[4:]]
                name = ".".join([f"{stage}.{level}.block.{parts[3]}", *inner])
        elif parts[0] == "mid_block" and parts[1] == "resnets":
            inner = ["nin_shortcut" if p == "conv_shortcut" else p for p in parts[3:]]
            name = ".".join([f"mid.block_{int(parts[2]) + 1}", *inner])
        elif parts[0] == "mid_block" and parts[1] == "attentions":
            inner = ".".join(parts[3:])
            for new, old in VAE_ATTENTION.items():
                if inner.startswith(new + "."):
                    inner = old + inner[len(new) :]
                    break
            name = f"mid.attn_1.{inner}"
            if value.ndim == 2:
                value = value[:, :, None, None]  # the original attention uses 1×1 convolutions
        else:
            name = rest
        out[f"{side}.{name}"] = value
    return out


def open_clip_from_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection keys -> OpenCLIP keys (fused q/k/v `in_proj`, `text_projection` as (width, proj))."""
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    simple = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    for key, value in state.items():
        if key in simple:
            out[simple[key]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key.startswith("text_model.encoder.layers."):
            layer, rest = key[len("text_model.encoder.layers.") :].split(".", 1)
            prefix = f"transformer.resblocks.{layer}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                fused.setdefault(f"{prefix}attn.in_proj_{rest.rsplit('.', 1)[1]}", {})[rest.split(".")[1]] = value
                continue
            rest = (
                rest.replace("self_attn.", "attn.")
                .replace("layer_norm1", "ln_1")
                .replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc")
                .replace("mlp.fc2", "mlp.c_proj")
            )
            out[prefix + rest] = value
    for name, pieces in fused.items():
        out[name] = torch.cat([pieces["q_proj"], pieces["k_proj"], pieces["v_proj"]])
    return out


def write_sdxl_single_file(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """(the SGM-layout .safetensors, the diffusers repo it was written from)."""
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    repo = tiny_sdxl_repo(root / "repo", seed)
    unet = UNet2DConditionModel.from_pretrained(repo / "unet")
    vae = AutoencoderKL.from_pretrained(repo / "vae")
    clip = CLIPTextModel.from_pretrained(repo / "text_encoder")
    clip_2 = CLIPTextModelWithProjection.from_pretrained(repo / "text_encoder_2")
    unet_state = unet.state_dict()
    per = unet.config.layers_per_block + 1
    state: dict[str, torch.Tensor] = {}
    sgm_unet = {**unet_to_sgm(unet_state, unet.config.layers_per_block), **_upsampler_keys(unet_state, per)}
    state.update({f"model.diffusion_model.{k}": v for k, v in sgm_unet.items()})
    ldm_vae = vae_to_ldm(vae.state_dict(), len(vae.config.up_block_types))
    state.update({f"first_stage_model.{k}": v for k, v in ldm_vae.items()})
    # the first embedder is Hugging Face CLIP as SGM's FrozenCLIPEmbedder saves it (`text_model.` names)
    hf = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in clip.state_dict().items()}
    state.update({f"conditioner.embedders.0.transformer.{k}": v for k, v in hf.items()})
    state.update({f"conditioner.embedders.1.model.{k}": v for k, v in open_clip_from_hf(clip_2.state_dict()).items()})
    file = root / "tiny-sdxl.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(file))
    return file, repo
