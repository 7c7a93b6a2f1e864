"""The demo model's parts, built from standard diffusers/transformers classes so the app loads them as usual.

Sizes are chosen to train on two CPU cores in about an hour: a KL-f4 (or VQ-f4) autoencoder with 3
latent channels (64×64 images → 16×16 latents), a U-Net with 32/64/128 channels and
cross-attention at 8×8 and in the middle, a 2-layer LDMBert over the scene vocabulary, a
class embedding and the CompVis SpatialRescaler (182 one-hot labels → 3 channels at 16×16).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, VQModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig, LDMBertModel
from transformers import BertTokenizer

from ldm_studio.core.generation.samplers import compvis_ddim
from ldm_studio.core.models.cond_stages import ClassEmbedder, SpatialRescaler
from ldm_studio.demo.scenes import SCENE_CLASSES, SIZE, vocabulary

LATENT_CHANNELS = 3
LATENT_FACTOR = 4
CONTEXT_DIM = 64
MAX_TOKENS = 16
NUM_LABELS = 182  # COCO-Stuff-182: the map's one-hot channels
MAP_CHANNELS = 3
NULL_CLASS = len(SCENE_CLASSES)  # the last embedding row: "no class"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BETA_START, BETA_END = 0.0015, 0.0195  # the CompVis f4 models' schedule


def build_vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=16,
        sample_size=SIZE,
        mid_block_add_attention=False,
    )


def build_vq(codes: int = 1024) -> VQModel:
    """The VQ-regularised alternative (as CompVis' VQ-f4: 3-channel latents, quantised in the decoder)."""
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        vq_embed_dim=LATENT_CHANNELS,
        num_vq_embeddings=codes,
        norm_num_groups=16,
        sample_size=SIZE,
        scaling_factor=1.0,
        mid_block_add_attention=False,
    )


def build_autoencoder(kind: str) -> AutoencoderKL | VQModel:
    """`kind` "kl" or "vq" (the trainer supports both; the shipped model uses the one named in its folder)."""
    if kind == "kl":
        return build_vae()
    if kind == "vq":
        return build_vq()
    raise ValueError(f"autoencoder kind must be 'kl' or 'vq', not {kind!r}")


def build_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=SIZE // LATENT_FACTOR,
        in_channels=LATENT_CHANNELS + MAP_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=(32, 64, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CONTEXT_DIM,
        attention_head_dim=4,
        norm_num_groups=16,
    )


def write_vocab(path: Path) -> Path:
    """The tokenizer's vocab.txt: BERT's special tokens, then every caption word."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*SPECIAL_TOKENS, *vocabulary()]) + "\n", encoding="utf-8")
    return path


def build_tokenizer(folder: Path) -> BertTokenizer:
    tokenizer = BertTokenizer(str(write_vocab(folder / "vocab.txt")), do_lower_case=True)
    tokenizer.model_max_length = MAX_TOKENS
    return tokenizer


def build_text_encoder(vocab_size: int) -> LDMBertModel:
    config = LDMBertConfig(
        vocab_size=vocab_size,
        max_position_embeddings=MAX_TOKENS,
        encoder_layers=2,
        encoder_ffn_dim=2 * CONTEXT_DIM,
        encoder_attention_heads=4,
        head_dim=CONTEXT_DIM // 4,
        d_model=CONTEXT_DIM,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=0,
    )
    return LDMBertModel(config)


def build_class_embedder() -> ClassEmbedder:
    return ClassEmbedder(n_classes=len(SCENE_CLASSES) + 1, embed_dim=CONTEXT_DIM)


def build_rescaler() -> SpatialRescaler:
    stages = {4: 2, 8: 3}[LATENT_FACTOR]
    return SpatialRescaler(n_stages=stages, method="bilinear", multiplier=0.5, in_channels=NUM_LABELS, out_channels=3)


def build_scheduler() -> DDIMScheduler:
    """The original CompVis DDIM settings, with the f4 models' β range."""
    return compvis_ddim(BETA_START, BETA_END)


def map_features_fast(rescaler: SpatialRescaler, labels: torch.Tensor) -> torch.Tensor:
    """SpatialRescaler(one_hot(labels)) without building the one-hot: pick the 1×1 conv's columns, then resize.

    Interpolation is linear per channel, so mixing channels first gives the same result
    (up to rounding) at 3/182 of the cost; training uses this, inference the real module.
    """
    weight = rescaler.channel_mapper.weight[:, :, 0, 0]  # (3, 182)
    x = weight.t()[labels].permute(0, 3, 1, 2)  # (B, 3, H, W)
    for _ in range(rescaler.n_stages):
        x = torch.nn.functional.interpolate(x, scale_factor=rescaler.multiplier, mode=rescaler.method)
    return x


class Conditioner(torch.nn.Module):
    """The trainable conditioning: LDMBert, class embedding and map rescaler, trained with the U-Net."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.bert = build_text_encoder(vocab_size)
        self.classes = build_class_embedder()
        self.rescaler = build_rescaler()

    def forward(
        self, ids: torch.Tensor, class_ids: torch.Tensor, maps: torch.Tensor, keep_map: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.cat([self.classes(class_ids), self.bert(ids)[0]], dim=1)
        concat = map_features_fast(self.rescaler, maps) * keep_map[:, None, None, None]
        return context, concat
