"""Tiny random-weight Stable Diffusion (1.x/2.x and XL) repos, built in code, no network.

As diffusers' own tests do (`get_dummy_components`), every part is the real class with a few
channels. The CLIP tokenizer is a real tokenizer folder (`vocab.json` + `merges.txt`) with a
tiny byte-pair vocabulary: the letters, the words of `tiny_models.WORDS` and the merges that
build them, then BOS/EOS last as in CLIP's own vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from ldm_studio.core.generation.samplers import make_scheduler
from ldm_studio.testing.tiny_models import WORDS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def write_clip_tokenizer(folder: Path, pad: str = EOS) -> CLIPTokenizer:
    """A CLIP tokenizer folder with a tiny BPE vocabulary; `pad` is EOS (SD 1.x) or "!" (SD 2.x, SDXL's second)."""
    folder.mkdir(parents=True, exist_ok=True)
    letters = list("abcdefghijklmnopqrstuvwxyz!,.")
    vocab: list[str] = letters + [c + "</w>" for c in letters]
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        left = pieces[0]
        for right in pieces[1:]:
            merge = (left, right)
            left = left + right
            if merge not in merges:
                merges.append(merge)
            if left not in vocab:
                vocab.append(left)
    vocab += [BOS, EOS]
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=pad,
        model_max_length=77,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_clip(tokenizer: CLIPTokenizer, seed: int, width: int = 32, projection: int | None = None):
    """A 2-layer CLIP text model (with a text projection of `projection` features when given)."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=2 * width,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=projection or width,
        layer_norm_eps=1e-5,
    )
    model = CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)
    return model.eval()


def tiny_vae(seed: int, scaling_factor: float = 0.18215) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=scaling_factor,
    )


def sd_scheduler(prediction_type: str = "epsilon") -> PNDMScheduler:
    """Stable Diffusion's shipped schedule (β 0.00085→0.012 scaled_linear, leading, offset 1)."""
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type=prediction_type,
    )


def tiny_sd_components(folder: Path, seed: int = 0, width: int = 32, prediction_type: str = "epsilon") -> dict:
    """The parts of a StableDiffusionPipeline, tiny (64 px images, 8×8 latents)."""
    tokenizer = write_clip_tokenizer(folder / "tokenizer")
    text_encoder = tiny_clip(tokenizer, seed + 1, width)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(width, 2 * width),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=width,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 2),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": sd_scheduler(prediction_type),
    }


def write_sd_model(folder: Path, seed: int = 0, width: int = 32, prediction_type: str = "epsilon") -> Path:
    """A diffusers `StableDiffusionPipeline` repo (model_index.json), as downloaded from the hub."""
    parts = tiny_sd_components(folder, seed, width, prediction_type)
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def diffusers_sd_pipeline(model, sampler: str) -> StableDiffusionPipeline:
    """diffusers' StableDiffusionPipeline on a loaded `sd` model's components and sampler."""
    pipe = StableDiffusionPipeline(
        vae=model.autoencoder,
        text_encoder=model.text.model,
        tokenizer=model.text.tokenizer,
        unet=model.unet,
        scheduler=make_scheduler(sampler, model.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- SDXL ---------------------------------------------------------------------------------------


def tiny_sdxl_components(folder: Path, seed: int = 0, width: int = 32) -> dict:
    """The parts of a StableDiffusionXLPipeline, tiny: two CLIP encoders (the second with a
    projection whose pooled output feeds the added embedding with the six size/crop time ids)."""
    tokenizer = write_clip_tokenizer(folder / "tokenizer")
    tokenizer_2 = write_clip_tokenizer(folder / "tokenizer_2", pad="!")
    text_encoder = tiny_clip(tokenizer, seed + 1, width)
    projection = width
    text_encoder_2 = tiny_clip(tokenizer_2, seed + 3, width, projection=projection)
    time_dim = 8
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(width, 2 * width),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2 * width,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * time_dim + projection,
        norm_num_groups=8,
    )
    scheduler = sd_scheduler()
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 2, scaling_factor=0.13025),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "scheduler": scheduler,
    }


def write_sdxl_model(folder: Path, seed: int = 0, width: int = 32) -> Path:
    """A diffusers `StableDiffusionXLPipeline` repo (model_index.json)."""
    parts = tiny_sdxl_components(folder, seed, width)
    StableDiffusionXLPipeline(**parts, force_zeros_for_empty_prompt=True).save_pretrained(folder)
    return folder


def diffusers_sdxl_pipeline(model, sampler: str) -> StableDiffusionXLPipeline:
    """diffusers' StableDiffusionXLPipeline on a loaded `sdxl` model's components and sampler."""
    pipe = StableDiffusionXLPipeline(
        vae=model.autoencoder,
        text_encoder=model.text.model,
        tokenizer=model.text.tokenizer,
        text_encoder_2=model.text_2.model,
        tokenizer_2=model.text_2.tokenizer,
        unet=model.unet,
        scheduler=make_scheduler(sampler, model.scheduler_config),
        force_zeros_for_empty_prompt=model.zero_empty_negative,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- single-file checkpoints in the original layout ----------------------------------------------


def write_sd_single_file(root: Path, seed: int = 0, suffix: str = ".safetensors") -> tuple[Path, Path]:
    """A tiny SD 1.x checkpoint in the original LDM key layout, and the same model as a diffusers repo.

    The U-Net and KL autoencoder are CompVis' own layout (`compvis_checkpoints`, the text LDM's,
    which SD 1.x shares); the text encoder is Hugging Face CLIP under `cond_stage_model.transformer.`
    as SD 1.x's FrozenCLIPEmbedder saves it. The repo form is made by LDM Studio's own CompVis
    converter for the U-Net/autoencoder, so the two forms come from two independent converters.
    Returns (checkpoint file, diffusers repo).
    """
    from transformers import BertTokenizer

    from ldm_studio.core.models.convert.converter import convert_checkpoint
    from ldm_studio.testing import compvis_checkpoints as cc
    from ldm_studio.testing.tiny_models import write_vocab

    bert_vocab = root / "bert-tokenizer"
    bert_vocab.mkdir(parents=True, exist_ok=True)
    vocab_size = len(BertTokenizer(str(write_vocab(bert_vocab / "vocab.txt"))))
    config = cc.text_config(vocab_size=vocab_size, context=32)
    config_path, ckpt = cc.write_original(root / "compvis", config, seed=seed, ema=False)
    converted = convert_checkpoint(config_path, ckpt, root / "converted", tokenizer=bert_vocab).info.path

    repo = root / "repo"
    tokenizer = write_clip_tokenizer(repo / "tokenizer")
    text_encoder = tiny_clip(tokenizer, seed + 1, 32)
    unet = UNet2DConditionModel.from_pretrained(converted / "unet")
    vae = AutoencoderKL.from_pretrained(converted / "vae")
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=sd_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(repo)

    state = torch.load(ckpt, weights_only=True)["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith("cond_stage_model.")}
    # as FrozenCLIPEmbedder saved it (transformers 4 names: text_model.…)
    clip = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in text_encoder.state_dict().items()}
    state.update({f"cond_stage_model.transformer.{k}": v for k, v in clip.items()})
    file = root / f"tiny-sd15{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(file))
    else:
        torch.save({"state_dict": state, "global_step": 1}, file)
    return file, repo
