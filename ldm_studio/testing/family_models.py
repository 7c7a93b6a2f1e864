"""One tiny random-weight model per registered family, with inputs to condition it on.

The family contract suite (`tests/core/families/test_family_contract.py`) runs the same tests
on every family registered here, as diffusers' pipeline tester mixin does for pipelines: a
new family registers its tiny builder with `tiny_family` and gets them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Builder = Callable[[Path], Path]
InputsFn = Callable[[Path], dict[str, Any]]  # named inputs (prompt, class, map, …) given a scratch folder


@dataclass(frozen=True)
class TinyFamily:
    """How to write a tiny model of a family, and named inputs that condition it."""

    family: str
    write: Builder
    inputs: InputsFn
    size: int  # pixels: small, a multiple of the latent factor


TINY: dict[str, TinyFamily] = {}


def tiny_family(entry: TinyFamily) -> TinyFamily:
    TINY[entry.family] = entry
    return entry


def _map_file(folder: Path, size: int = 16) -> Path:
    from ldm_studio.core.maps.semantic_maps import write_map_file

    indices = np.full((size, size), 148, dtype=np.int64)  # sky (COCO-Stuff 182)
    indices[size // 2 :] = 153  # sand
    path = folder / "map.png"
    write_map_file(path, indices, "coco-stuff-182")
    return path


def _picture(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    path = folder / name
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _mask(folder: Path, size: int) -> Path:
    from PIL import Image

    mask = np.zeros((size, size), dtype=np.uint8)
    mask[:, size // 2 :] = 255  # repaint the right half
    path = folder / "mask.png"
    Image.fromarray(mask).save(path)
    return path


def _write_superres(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_superres_model

    return write_superres_model(folder)


def _write_inpaint(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_inpaint_model

    return write_inpaint_model(folder)


def _write_sd(folder: Path) -> Path:
    from ldm_studio.testing.tiny_sd import write_sd_model

    return write_sd_model(folder)


def _write_sdxl(folder: Path) -> Path:
    from ldm_studio.testing.tiny_sd import write_sdxl_model

    return write_sdxl_model(folder)


def _write_text(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_text_model

    return write_text_model(folder)


def _write_class(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_class_model

    return write_class_model(folder, classes=10)


def _write_semantic(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_semantic_model

    return write_semantic_model(folder)


def _write_uncond(folder: Path) -> Path:
    from ldm_studio.testing.tiny_models import write_uncond_model

    return write_uncond_model(folder)


def write_multi_model(folder: Path) -> Path:
    """A "multi" folder: the demo model's architecture with random weights."""
    import torch

    from ldm_studio.core.models.model_folder import write_model_info
    from ldm_studio.demo import architecture as arch
    from ldm_studio.demo.export import demo_model_info, save_components

    torch.manual_seed(0)
    tokenizer = arch.build_tokenizer(folder.parent / f"{folder.name}-vocab")
    cond = arch.Conditioner(len(tokenizer.vocab))
    with torch.no_grad():  # a rescaler that is not all zeros, so map features are visible
        cond.rescaler.channel_mapper.weight.normal_()
    save_components(folder, arch.build_vae(), arch.build_unet(), cond, tokenizer, scale=1.0)
    write_model_info(demo_model_info(folder, 1.0, {"made_by": "ldm_studio.testing"}, "test weights, random"))
    return folder


tiny_family(TinyFamily("text", _write_text, lambda _: {"prompt": "a red cat", "negative": "blurry"}, 32))
tiny_family(TinyFamily("class", _write_class, lambda _: {"class": ["3"]}, 32))
tiny_family(TinyFamily("semantic", _write_semantic, lambda scratch: {"map": _map_file(scratch)}, 32))
tiny_family(TinyFamily("uncond", _write_uncond, lambda _: {}, 32))
tiny_family(
    TinyFamily(
        "multi",
        write_multi_model,
        lambda scratch: {"prompt": "a sandy beach", "class": ["beach"], "map": _map_file(scratch)},
        32,
    )
)
tiny_family(TinyFamily("superres", _write_superres, lambda scratch: {"image": _picture(scratch, "low.png", 8)}, 32))
tiny_family(
    TinyFamily(
        "inpaint",
        _write_inpaint,
        lambda scratch: {"image": _picture(scratch, "photo.png", 32), "mask": _mask(scratch, 32)},
        32,
    )
)
tiny_family(TinyFamily("sd", _write_sd, lambda _: {"prompt": "a photo of a cat", "negative": "blurry"}, 64))
tiny_family(TinyFamily("sdxl", _write_sdxl, lambda _: {"prompt": "a photo of a cat", "negative": "blurry"}, 64))
