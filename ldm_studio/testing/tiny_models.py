"""Tiny random-weight model folders in exactly the formats of the real checkpoints.

Like diffusers' `get_dummy_components`: every component is the real class with a few
channels, seeded, so tests run in seconds and never touch the network. `scale` lets the
benchmarks build the same architecture a bit larger.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig, LDMBertModel
from transformers import BertTokenizer

from ldm_studio.core.model_folder import Defaults, ModelInfo, write_model_info

WORDS = [
    "a",
    "photo",
    "of",
    "painting",
    "the",
    "an",
    "in",
    "on",
    "with",
    "and",
    "red",
    "green",
    "blue",
    "yellow",
    "white",
    "black",
    "cat",
    "dog",
    "forest",
    "tree",
    "sea",
    "beach",
    "sky",
    "mountain",
    "snow",
    "house",
    "car",
    "bird",
    "flower",
    "lake",
    "river",
    "city",
    "night",
    "sunset",
    "blurry",
    "ugly",
    "bad",
    "low",
    "quality",
]


def write_vocab(path: Path) -> Path:
    """A small BERT vocabulary: the special tokens, some words and a few sub-word pieces."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz")
    path.write_text("\n".join(special + WORDS + pieces) + "\n", encoding="utf-8")
    return path


def compvis_text_scheduler() -> DDIMScheduler:
    """The original CompVis DDIM for the text model (β 0.00085→0.012, scaled_linear)."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing="leading",
    )


def tiny_text_components(seed: int = 0, width: int = 32, vocab_dir: Path | None = None) -> dict:
    """U-Net, KL-f8 autoencoder, LDMBert, tokenizer and scheduler of a CompVis text LDM, tiny."""
    torch.manual_seed(seed)
    context = width
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(width, 2 * width),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=context,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )
    bert = LDMBertModel(
        LDMBertConfig(
            d_model=context,
            encoder_layers=2,
            encoder_attention_heads=2,
            head_dim=8,
            encoder_ffn_dim=2 * context,
            vocab_size=len(WORDS) + 60,
            max_position_embeddings=77,
        )
    ).eval()
    vocab_dir = vocab_dir or Path(__import__("tempfile").mkdtemp(prefix="ldm-vocab-"))
    tokenizer = BertTokenizer(str(write_vocab(vocab_dir / "vocab.txt")))
    return {"unet": unet, "vqvae": vae, "bert": bert, "tokenizer": tokenizer, "scheduler": compvis_text_scheduler()}


def write_text_model(folder: Path, seed: int = 0, width: int = 32, diffusers_only: bool = False) -> Path:
    """A model folder of the text family; `diffusers_only` writes a plain diffusers repo instead."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = tiny_text_components(seed, width, vocab_dir=folder)
    for name, part in parts.items():
        part.save_pretrained(folder / name)
    (folder / "vocab.txt").unlink()
    if diffusers_only:
        from diffusers import LDMTextToImagePipeline

        LDMTextToImagePipeline(**parts).save_pretrained(folder)
        return folder
    info = ModelInfo(
        path=folder,
        family="text",
        name=f"tiny-text-{seed}",
        resolution=64,
        latent_factor=8,
        latent_channels=4,
        scale_factor=0.18215,
        autoencoder="vqvae",
        autoencoder_kind="kl",
        defaults=Defaults(sampler="ddim", steps=10, guidance=5.0, eta=0.0),
        license="test weights, random",
        provenance={"made_by": "ldm_studio.testing.tiny_models", "seed": seed},
    )
    write_model_info(info)
    return folder
