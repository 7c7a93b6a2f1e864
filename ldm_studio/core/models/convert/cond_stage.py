"""The original conditioning encoders (`ldm/modules/encoders/modules.py`) → `cond_stage/` modules.

`ClassEmbedder`: `embedding.weight` [n_classes, embed_dim]. `SpatialRescaler`:
`channel_mapper.weight` [out, in, 1, 1] (and a bias only when `bias: true`). Both become the
same maths in `ldm_studio.core.models.cond_stages`.
"""

from __future__ import annotations

from pathlib import Path

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.models.cond_stages import ClassEmbedder, SpatialRescaler
from ldm_studio.core.models.convert.config import Target, check_params
from ldm_studio.core.models.convert.keys import KeyMap

CLASS_EMBEDDER = "ldm.modules.encoders.modules.ClassEmbedder"
SPATIAL_RESCALER = "ldm.modules.encoders.modules.SpatialRescaler"
BERT_EMBEDDER = "ldm.modules.encoders.modules.BERTEmbedder"


def build_class_embedder(target: Target, file: Path) -> ClassEmbedder:
    check_params(file, "cond_stage_config.params", target.params, {"embed_dim", "n_classes"}, {"key"})
    return ClassEmbedder(int(target.params.get("n_classes", 1000)), int(target.params["embed_dim"]))


def build_spatial_rescaler(target: Target, file: Path) -> SpatialRescaler:
    p = target.params
    known = {"n_stages", "method", "multiplier", "in_channels", "out_channels", "bias"}
    check_params(file, "cond_stage_config.params", p, known, set())
    try:
        return SpatialRescaler(
            n_stages=int(p.get("n_stages", 1)),
            method=str(p.get("method", "bilinear")),
            multiplier=float(p.get("multiplier", 0.5)),
            in_channels=int(p.get("in_channels", 3)),
            out_channels=None if p.get("out_channels") is None else int(p["out_channels"]),
            bias=bool(p.get("bias", False)),
        )
    except ValueError as exc:
        raise ConversionError(file, f"unsupported setting cond_stage_config.params.method ({exc})") from None


def map_class_embedder(keys: KeyMap) -> None:
    keys.move("embedding.weight", "embedding.weight")


def map_spatial_rescaler(keys: KeyMap, module: SpatialRescaler) -> None:
    if module.channel_mapper is not None:
        keys.move_prefix("channel_mapper", "channel_mapper")


def bert_config(target: Target, file: Path) -> dict:
    """LDMBert settings for a BERTEmbedder: x-transformers' attention is always 8 heads of 64."""
    p = target.params
    known = {"n_embed", "n_layer", "vocab_size", "max_seq_len", "use_tokenizer"}
    check_params(file, "cond_stage_config.params", p, known, {"device", "embedding_dropout"})
    if not p.get("use_tokenizer", True):
        raise ConversionError(file, "unsupported setting cond_stage_config.params.use_tokenizer = False")
    n_embed = int(p["n_embed"])
    return {
        "d_model": n_embed,
        "encoder_layers": int(p["n_layer"]),
        "encoder_attention_heads": 8,
        "head_dim": 64,
        "encoder_ffn_dim": 4 * n_embed,
        "vocab_size": int(p.get("vocab_size", 30522)),
        "max_position_embeddings": int(p.get("max_seq_len", 77)),
    }


def map_bert(keys: KeyMap, layers: int) -> None:
    """x-transformers TransformerWrapper (pre-norm encoder) → diffusers LDMBertModel names."""
    keys.move("transformer.token_emb.weight", "model.embed_tokens.weight")
    keys.move("transformer.pos_emb.emb.weight", "model.embed_positions.weight")
    for i in range(layers):
        a, f, dst = (
            f"transformer.attn_layers.layers.{2 * i}",
            f"transformer.attn_layers.layers.{2 * i + 1}",
            f"model.layers.{i}",
        )
        keys.move_prefix(f"{a}.0", f"{dst}.self_attn_layer_norm")
        for src_name, dst_name in (("to_q", "q_proj"), ("to_k", "k_proj"), ("to_v", "v_proj"), ("to_out", "out_proj")):
            keys.move_prefix(f"{a}.1.{src_name}", f"{dst}.self_attn.{dst_name}")
        keys.move_prefix(f"{f}.0", f"{dst}.final_layer_norm")
        keys.move_prefix(f"{f}.1.net.0.0", f"{dst}.fc1")
        keys.move_prefix(f"{f}.1.net.2", f"{dst}.fc2")
    keys.move_prefix("transformer.norm", "model.layer_norm")
    keys.move_prefix("transformer.to_logits", "to_logits")
