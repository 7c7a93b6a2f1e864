"""Tiny random-weight model folders in exactly the formats of the real checkpoints.

Like diffusers' `get_dummy_components`: every component is the real class with a few
channels, seeded, so tests run in seconds and never touch the network. `scale` lets the
benchmarks build the same architecture a bit larger.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, LDMTextToImagePipeline, UNet2DConditionModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig, LDMBertModel
from transformers import BertTokenizer

from ldm_studio.core.generation.samplers import compvis_ddim
from ldm_studio.core.models.model_folder import Defaults, ModelInfo, write_model_info

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
    return compvis_ddim(0.00085, 0.012)


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


# --- class, semantic and unconditional families -------------------------------------------


def compvis_scheduler(linear_start: float = 0.0015, linear_end: float = 0.0195) -> DDIMScheduler:
    """The original CompVis DDIM for a given `linear_start/linear_end` (scaled_linear betas)."""
    return compvis_ddim(linear_start, linear_end)


def tiny_vq_f4(seed: int = 0, codes: int = 64):
    """A VQ-f4 first stage with 3 latent channels (like the cin256/semantic models), tiny."""
    from diffusers import VQModel

    torch.manual_seed(seed)
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        latent_channels=3,
        num_vq_embeddings=codes,
        norm_num_groups=8,
        sample_size=32,
        scaling_factor=1.0,
    )


def _vq_f4_info(folder: Path, family: str, seed: int, defaults: Defaults, **extra) -> ModelInfo:
    """The ldm_studio.json facts of a tiny VQ-f4 model (32 px, 3 latent channels, scale 1)."""
    return ModelInfo(
        path=folder,
        family=family,
        name=f"tiny-{family}-{seed}",
        resolution=32,
        latent_factor=4,
        latent_channels=3,
        scale_factor=1.0,
        autoencoder="vqvae",
        autoencoder_kind="vq",
        defaults=defaults,
        license="test weights, random",
        provenance={"made_by": "ldm_studio.testing.tiny_models", "seed": seed},
        **extra,
    )


def _write_folder(folder: Path, parts: dict, info: ModelInfo) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.save_pretrained(folder / name)
    write_model_info(info)
    return folder


def write_class_model(folder: Path, seed: int = 0, classes: int = 1000, context: int = 16) -> Path:
    """A class-family folder: UNet2DConditionModel on a length-1 context from Embedding(classes + 1, D)."""
    from ldm_studio.core.models.cond_stages import ClassEmbedder, save_cond_stage

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=context,
        attention_head_dim=1,
        norm_num_groups=8,
    )
    embedder = ClassEmbedder(classes + 1, context)
    save_cond_stage(embedder, folder / "cond_stage")
    parts = {"unet": unet, "vqvae": tiny_vq_f4(seed), "scheduler": compvis_scheduler(0.0015, 0.0195)}
    info = _vq_f4_info(
        folder,
        "class",
        seed,
        Defaults(sampler="ddim", steps=4, guidance=3.0, eta=0.0),
        label_set="imagenet-1k",
        num_classes=classes,
        null_class=classes,
    )
    return _write_folder(folder, parts, info)


def write_semantic_model(folder: Path, seed: int = 0, labels: int = 182) -> Path:
    """A semantic-family folder: SpatialRescaler(2 stages, labels→3) concatenated to a VQ-f4 latent."""
    from diffusers import UNet2DModel

    from ldm_studio.core.models.cond_stages import SpatialRescaler, save_cond_stage

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=6,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        norm_num_groups=8,
    )
    save_cond_stage(SpatialRescaler(2, "bilinear", 0.5, labels, 3, bias=False), folder / "cond_stage")
    parts = {"unet": unet, "vqvae": tiny_vq_f4(seed), "scheduler": compvis_scheduler(0.0015, 0.0205)}
    info = _vq_f4_info(
        folder,
        "semantic",
        seed,
        Defaults(sampler="ddim", steps=4, guidance=1.0, eta=1.0),
        label_set="coco-stuff-182",
    )
    return _write_folder(folder, parts, info)


def write_uncond_model(folder: Path, seed: int = 0, diffusers_only: bool = False) -> Path:
    """An unconditional folder; `diffusers_only` writes an LDMPipeline repo like CompVis/ldm-celebahq-256,
    including its vqvae config's wrong `scaling_factor` (0.18215) that the model folder reader overrides."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vqvae = tiny_vq_f4(seed)
    scheduler = compvis_scheduler(0.0015, 0.0195)
    if diffusers_only:
        from diffusers import LDMPipeline

        vqvae.register_to_config(scaling_factor=0.18215)
        folder.mkdir(parents=True, exist_ok=True)
        LDMPipeline(vqvae=vqvae, unet=unet, scheduler=scheduler).save_pretrained(folder)
        return folder
    info = _vq_f4_info(
        folder,
        "uncond",
        seed,
        Defaults(sampler="ddim", steps=4, guidance=1.0, eta=0.0),
    )
    return _write_folder(folder, {"unet": unet, "vqvae": vqvae, "scheduler": scheduler}, info)


def diffusers_text_pipeline(model) -> LDMTextToImagePipeline:
    """diffusers' own LDMTextToImagePipeline on a loaded text model's components: the reference
    the engine is compared with (tests) and timed against (bench)."""
    pipe = LDMTextToImagePipeline(
        vqvae=model.autoencoder,
        bert=model.bert,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=DDIMScheduler.from_config(model.scheduler_config),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- super-resolution and inpainting families ---------------------------------------------


def _tiny_concat_unet(in_channels: int, seed: int):
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        norm_num_groups=8,
    )


def write_superres_model(folder: Path, seed: int = 0, diffusers_only: bool = False) -> Path:
    """A superres folder (bsr_sr structure: VQ-f4, U-Net on latent + RGB); `diffusers_only` writes an
    LDMSuperResolutionPipeline repo like CompVis/ldm-super-resolution-4x-openimages, with its vqvae
    config's unused `scaling_factor` 0.18215."""
    unet = _tiny_concat_unet(6, seed)
    vqvae = tiny_vq_f4(seed)
    scheduler = compvis_scheduler(0.0015, 0.0155)
    if diffusers_only:
        from diffusers import LDMSuperResolutionPipeline

        vqvae.register_to_config(scaling_factor=0.18215)
        folder.mkdir(parents=True, exist_ok=True)
        LDMSuperResolutionPipeline(vqvae=vqvae, unet=unet, scheduler=scheduler).save_pretrained(folder)
        return folder
    info = _vq_f4_info(folder, "superres", seed, Defaults(sampler="ddim", steps=4, guidance=1.0, eta=1.0))
    return _write_folder(folder, {"unet": unet, "vqvae": vqvae, "scheduler": scheduler}, info)


def write_inpaint_model(folder: Path, seed: int = 0) -> Path:
    """An inpaint folder (inpainting_big structure: VQ-f4, U-Net on latent + masked-image latent + mask)."""
    unet = _tiny_concat_unet(7, seed)
    parts = {"unet": unet, "vqvae": tiny_vq_f4(seed), "scheduler": compvis_scheduler(0.0015, 0.0205)}
    info = _vq_f4_info(folder, "inpaint", seed, Defaults(sampler="ddim", steps=4, guidance=1.0, eta=0.0))
    return _write_folder(folder, parts, info)
