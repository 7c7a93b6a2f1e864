"""A model component read straight from its folder's one safetensors file, without `from_pretrained`.

diffusers' and transformers' `from_pretrained` spend about 0.15-0.2 s of CPU per component on
fixed work (variant and shard lookup, key-renaming rules, hooks, quantisation checks): on the
demo model, more than reading its weights, and a tenth of `ldm-studio generate`'s time
outside the imports. When a folder is the simple case (a config and exactly one
`.safetensors` file whose keys are exactly the module's), this builds the module on the meta
device (no initialisation) and assigns the file's tensors, which is what `from_pretrained`
ends up doing. Anything else (several or sharded weight files, `.bin` pickles, renamed or
missing keys, buffers the file does not hold, modules kept in float32) returns None and the
caller uses `from_pretrained`. The tensors are the file's, so the outputs are bit-identical
(tests/core/families/test_fast_load.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def load_direct(cls: Any, folder: Path, dtype: torch.dtype) -> Any | None:
    """`cls` from `folder` in `dtype` (on the CPU), or None when only `from_pretrained` can load it."""
    weights = _single_weights_file(folder)
    if weights is None or getattr(cls, "_keep_in_fp32_modules", None):
        return None
    import torch
    from safetensors.torch import load_file

    with torch.device("meta"):
        model = _empty_model(cls, folder)
    if model is None:
        return None
    try:
        model.load_state_dict(load_file(weights), strict=True, assign=True)
    except RuntimeError:  # renamed, missing or unexpected keys, other shapes: from_pretrained's business
        return None
    if any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        return None  # a buffer the file does not hold (from_pretrained initialises it)
    tensors = itertools.chain(model.parameters(), model.buffers())
    if any(t.is_floating_point() and t.dtype != dtype for t in tensors):  # a plain cast: nothing is kept in float32
        torch.nn.Module.to(model, dtype)
    return model


def _single_weights_file(folder: Path) -> Path | None:
    """The folder's only weights file when it is one `.safetensors` (no variants, shards or pickles)."""
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt", ".pth")]
    if len(files) != 1 or files[0].suffix != ".safetensors" or any(folder.glob("*.index.json")):
        return None
    return files[0]


def _empty_model(cls: Any, folder: Path) -> Any | None:
    """The module with its folder's config (on the current default device), or None for an unknown kind."""
    if hasattr(cls, "load_config") and hasattr(cls, "from_config"):  # a diffusers ModelMixin
        config = cls.load_config(folder)
        model = cls.from_config(config)
        model.register_to_config(_name_or_path=folder)  # as from_pretrained records it
        return model
    config_class = getattr(cls, "config_class", None)  # a transformers PreTrainedModel
    if any(getattr(cls, flag, False) for flag in ("_supports_sdpa", "_supports_flash_attn", "_supports_flex_attn")):
        return None  # from_pretrained chooses its attention kernel, a plain constructor may choose another
    if config_class is not None and hasattr(config_class, "from_pretrained"):
        return cls(config_class.from_pretrained(folder, local_files_only=True))
    return None
