"""Stable Diffusion single-file checkpoints (`.safetensors`, `.ckpt`) as people download them.

diffusers' single-file loader converts the original (LDM/SGM) key layout, but it needs the
architecture's diffusers configs and CLIP tokenizer files, which it would fetch from the hub.
They ship in `resources/sd_configs/` (one JSON of configs + CLIP's BPE merges) and are laid out
once as a local config folder, so a single file loads with no network at all. The architecture
is detected from the checkpoint's keys and reported. A `.ckpt` is read through `safe_load`
(never plain unpickling) and handed to diffusers as safetensors.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import CheckpointError, ModelFolderError
from ldm_studio.resources_path import resource_path

CONFIGS = "sd_configs"  # under the shipped resources
MAX_BPE_PIECE = 256  # CLIP's vocabulary: 256 byte symbols, the same with "</w>", the merges, BOS, EOS
CLIP_BOS, CLIP_EOS = "<|startoftext|>", "<|endoftext|>"


@dataclass(frozen=True)
class Architecture:
    """A Stable Diffusion architecture a single file can be (`sd1`, `sd2`, `sd2-v`, `sdxl`)."""

    name: str
    title: str
    family: str
    pipeline: str
    components: dict[str, dict[str, Any]]


@lru_cache(maxsize=1)
def architectures() -> dict[str, Architecture]:
    text = resource_path(CONFIGS, "architectures.json").read_text(encoding="utf-8")
    data = json.loads(text)["architectures"]
    return {n: Architecture(n, a["title"], a["family"], a["pipeline"], a["components"]) for n, a in data.items()}


def detect_architecture(keys: Iterable[str], file: Path | None = None) -> str:
    """The architecture of a checkpoint from its key names: SDXL has two SGM embedders, SD 2.x an
    OpenCLIP text tower, SD 1.x a Hugging Face CLIP. SD 2.x is read as the 768-v model (as diffusers
    does): the keys cannot tell ε from v; `architecture="sd2"` picks the 512 ε base model."""
    names = list(keys)
    if any(k.startswith("conditioner.embedders.1.") for k in names):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in names):
        return "sd2-v"
    if any(k.startswith("cond_stage_model.transformer.") for k in names):
        return "sd1"
    where = file if file is not None else "checkpoint"
    raise CheckpointError(
        where, "not a Stable Diffusion 1.x/2.x/XL checkpoint (no CLIP text encoder keys); an LDM needs its --config"
    )


def is_stable_diffusion_file(path: Path) -> bool:
    """Whether a `.safetensors` file holds a Stable Diffusion checkpoint (keys only, nothing loaded)."""
    if path.suffix.lower() != ".safetensors":
        return False
    try:
        detect_architecture(safetensors_keys(path), path)
    except CheckpointError:
        return False
    return True


def safetensors_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(path, f"cannot read as safetensors: {exc}") from exc


# --- the local config folder --------------------------------------------------------------------------


def clip_tokenizer_files(folder: Path, pad_token: str) -> None:
    """CLIP's `vocab.json` and `merges.txt` (from the shipped merges) and its tokenizer settings."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = resource_path(CONFIGS, "clip_merges.txt.gz").read_bytes()
    merges_text = gzip.decompress(raw).decode("utf-8")
    merges = [line.split() for line in merges_text.splitlines()[1:] if line]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [CLIP_BOS, CLIP_EOS]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), "utf-8")
    (folder / "merges.txt").write_text(merges_text, encoding="utf-8")
    settings = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": CLIP_BOS,
        "eos_token": CLIP_EOS,
        "unk_token": CLIP_EOS,
        "pad_token": pad_token,
        "do_lower_case": True,
        "errors": "replace",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    special = {k: settings[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=1), encoding="utf-8")


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible map of the 256 bytes to printable characters (the BPE alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(MAX_BPE_PIECE):
        if b not in printable:
            printable.append(b)
            codes.append(MAX_BPE_PIECE + extra)
            extra += 1
    return dict(zip(printable, [chr(c) for c in codes], strict=True))


def write_config_folder(arch: Architecture, folder: Path) -> Path:
    """A diffusers repo without weights for `arch`: model_index.json, component configs, tokenizers."""
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"_class_name": arch.pipeline}
    for name, config in arch.components.items():
        sub = folder / name
        if name.startswith("tokenizer"):
            clip_tokenizer_files(sub, config["pad_token"])
            index[name] = ["transformers", "CLIPTokenizer"]
            continue
        sub.mkdir(parents=True, exist_ok=True)
        if name.startswith("text_encoder"):
            cls = config.get("architectures", ["CLIPTextModel"])[0]
            (sub / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
            index[name] = ["transformers", cls]
        elif name == "scheduler":
            (sub / "scheduler_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
            index[name] = ["diffusers", config["_class_name"]]
        else:
            (sub / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
            index[name] = ["diffusers", config["_class_name"]]
    if arch.family == "sd":
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
    else:
        index.update(force_zeros_for_empty_prompt=True)
    (folder / "model_index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return folder


def config_folder(name: str) -> Path:
    """The local config folder of architecture `name`, written once into the user cache."""
    from ldm_studio.core.files.store import user_cache_dir

    arch = architectures()[name]
    folder = user_cache_dir() / "sd_configs" / name
    if not (folder / "model_index.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        try:
            write_config_folder(arch, tmp / name)
            shutil.rmtree(folder, ignore_errors=True)  # a half-written one from an interrupted run
            with contextlib.suppress(OSError):  # another process may have put it there meanwhile
                (tmp / name).rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "model_index.json").is_file():
            raise ModelFolderError(folder, "could not write the Stable Diffusion config folder")
    return folder


# --- loading ---------------------------------------------------------------------------------------


@dataclass
class SingleFile:
    """A loaded single-file checkpoint: the diffusers pipeline and what it was taken to be."""

    pipeline: Any
    architecture: str
    family: str
    title: str


def load_single_file(
    path: str | Path,
    *,
    architecture: str | None = None,
    config: str | Path | None = None,
    report: Callable[[str], None] | None = None,
) -> SingleFile:
    """Load a Stable Diffusion `.safetensors`/`.ckpt` with diffusers' single-file loader, offline.

    `architecture` overrides the detection; `config` is a diffusers config folder to use instead
    of the shipped one (a fine-tune with another shape). `report` hears the detected architecture.
    """
    import diffusers
    import torch
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    file = Path(path).expanduser()
    if not file.is_file():
        raise CheckpointError(file, "no such file")
    tensors_file, cleanup = _as_safetensors(file)
    try:
        name = architecture or detect_architecture(safetensors_keys(tensors_file), file)
        if name not in architectures():
            raise CheckpointError(file, f"unknown architecture {name!r}; known: {', '.join(architectures())}")
        arch = architectures()[name]
        folder = Path(config) if config is not None else config_folder(name)
        if not (folder / "model_index.json").is_file():
            raise ModelFolderError(folder, "is not a diffusers config folder (no model_index.json)")
        if report is not None:
            how = "given" if architecture else "detected from its keys"
            report(f"{file.name}: {arch.title} ({how})")
        pipeline_class = getattr(diffusers, arch.pipeline)
        try:
            pipe = pipeline_class.from_single_file(
                str(tensors_file), config=str(folder), local_files_only=True, torch_dtype=torch.float32
            )
        except (OSError, ValueError, KeyError, RuntimeError, TypeError, SingleFileComponentError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(file, f"cannot load as {arch.title}: {first}") from exc
    finally:
        cleanup()
    return SingleFile(pipe, name, arch.family, arch.title)


def _as_safetensors(file: Path) -> tuple[Path, Callable[[], None]]:
    """The file itself, or a `.ckpt` read through `safe_load` and written as a temporary safetensors."""
    if file.suffix.lower() == ".safetensors":
        return file, lambda: None
    from safetensors.torch import save_file

    from ldm_studio.core.models.safe_load import read_checkpoint

    checkpoint = read_checkpoint(file)
    state = {k: v.detach().contiguous().clone() for k, v in checkpoint.state_dict.items() if hasattr(v, "detach")}
    tmp = Path(tempfile.mkdtemp(prefix="ldm-ckpt-")) / (file.stem + ".safetensors")
    save_file(state, str(tmp))

    def cleanup() -> None:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()

    return tmp, cleanup


def save_single_file(loaded: SingleFile, out: Path, *, name: str, source: Path, sha256: str | None = None) -> Path:
    """Write a loaded single file as a model folder (diffusers parts + ldm_studio.json)."""
    from ldm_studio.core.families.registry import get_family
    from ldm_studio.core.models.model_folder import read_model_info, write_model_info

    loaded.pipeline.save_pretrained(out, safe_serialization=True)
    info = read_model_info(out)  # read as the plain diffusers repo it now is
    spec = get_family(loaded.family)
    assert spec is not None
    from dataclasses import replace

    provenance = {"format": "single-file", "architecture": loaded.architecture, "source": source.name}
    if sha256:
        provenance["sha256"] = sha256
    info = replace(info, name=name, provenance=provenance)
    write_model_info(info)
    return out
