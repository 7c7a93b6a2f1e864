"""Per-layer attention head counts of a converted `UNet2DModel`, applied after loading.

diffusers' `UNet2DModel` has one `attention_head_dim` for every block, but the original
CompVis U-Net (a506df5) with `num_heads` and no `num_head_channels` gives each attention layer
`num_heads` heads whatever its width, so head sizes differ between blocks (LSUN-Churches,
inpainting_big). The converter then writes one head per layer into the standard config and the
real counts into the hidden config entry `_ldm_attention_heads` (diffusers keeps entries that
start with "_" through save and load). Heads change no weight shape, only how q/k/v are split,
so setting them on the loaded `Attention` modules reproduces the original exactly.
"""

from __future__ import annotations

from typing import Any

HEADS_KEY = "_ldm_attention_heads"


def apply_attention_heads(model: Any) -> None:
    """Set the recorded head counts on `model`'s attention modules (no-op without the entry)."""
    heads = getattr(model, "config", {}).get(HEADS_KEY) if hasattr(model, "config") else None
    if not heads:
        return
    modules = dict(model.named_modules())
    for name, count in heads.items():
        attn = modules.get(name)
        inner = getattr(attn, "inner_dim", None)
        if attn is None or inner is None or not isinstance(count, int) or count <= 0 or inner % count:
            raise ValueError(f"unet config {HEADS_KEY}: {name!r} cannot have {count!r} heads")
        attn.heads = count
        attn.sliceable_head_dim = count
        if getattr(attn, "scale_qk", True):
            attn.scale = (inner // count) ** -0.5
