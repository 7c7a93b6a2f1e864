"""Checking a model folder before it is installed, and again on `verify`: every problem, one line each.

`read_model_info` stops at the first problem, which is right for loading; an import should tell the
user everything at once. Weight shapes are compared with the shapes the component's config builds,
on the meta device, so no weights are loaded into memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import LdmStudioError, ModelFolderError
from ldm_studio.core.families.registry import family_of_pipeline, get_family
from ldm_studio.core.models.model_folder import AUTOENCODER_FOLDERS, ModelInfo, read_model_info

WEIGHT_NAMES = ("diffusion_pytorch_model", "model", "pytorch_model")
LEGACY_ATTENTION = {"query", "key", "value", "proj_attn"}
MODEL_CLASSES = {
    "UNet2DModel": ("diffusers", "UNet2DModel"),
    "UNet2DConditionModel": ("diffusers", "UNet2DConditionModel"),
    "AutoencoderKL": ("diffusers", "AutoencoderKL"),
    "VQModel": ("diffusers", "VQModel"),
    "LDMBertModel": ("diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion", "LDMBertModel"),
    "CLIPTextModel": ("transformers", "CLIPTextModel"),  # Stable Diffusion's text encoders
    "CLIPTextModelWithProjection": ("transformers", "CLIPTextModelWithProjection"),
}
CLIP_CLASSES = ("CLIPTextModel", "CLIPTextModelWithProjection")


class InvalidModel(ModelFolderError):
    """A model folder with one or more problems; `problems` lists them, one line each."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(path, "cannot be used:\n  " + "\n  ".join(problems))
        self.problems = problems


def check_model_folder(folder: Path, shapes: bool = True) -> tuple[ModelInfo | None, list[str]]:
    """(info or None, problems). No problems means the folder can be installed and loaded."""
    first: str | None  # read_model_info's error, if it failed
    try:
        info = read_model_info(folder)
    except ModelFolderError as exc:
        info = None
        first = str(exc)
    else:
        first = None
    family = info.family if info else _guess_family(folder)
    if family is None:
        return None, [first or f"{folder}: unknown family"]
    problems: list[str] = []
    spec = get_family(family)
    assert spec is not None  # _guess_family returns registered names only
    components = list(spec.components)
    autoencoder = info.autoencoder if info else next((a for a in AUTOENCODER_FOLDERS if (folder / a).is_dir()), None)
    if autoencoder is None:
        problems.append(f"{folder}: missing component: no autoencoder folder ({' or '.join(AUTOENCODER_FOLDERS)})")
    else:
        components.append(autoencoder)
    for name in components:
        sub = folder / name
        if not sub.is_dir():
            problems.append(f"{sub}: missing component: a {family!r} model needs it")
            continue
        problems += _check_component(sub, name, shapes)
    if first and not problems:
        problems.append(first)
    return (info if not problems else None), problems


def require_valid(folder: Path, shapes: bool = True) -> ModelInfo:
    info, problems = check_model_folder(folder, shapes)
    if problems or info is None:
        raise InvalidModel(folder, problems or ["unreadable"])
    return info


def _guess_family(folder: Path) -> str | None:
    """The family a broken folder claims, so the other checks can still run."""
    for file, key in (("ldm_studio.json", "family"), ("model_index.json", "_class_name")):
        try:
            value = json.loads((folder / file).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, str) and get_family(value) is not None:
            return value
        found = family_of_pipeline(value if isinstance(value, str) else None)
        if found is not None:
            return found[0].name
    return None


def _check_component(sub: Path, name: str, shapes: bool) -> list[str]:
    if name == "scheduler":
        return [] if (sub / "scheduler_config.json").is_file() else [f"{sub}: missing scheduler_config.json"]
    if name.startswith("tokenizer"):
        ok = any((sub / f).is_file() for f in ("vocab.txt", "tokenizer.json", "vocab.json"))
        return [] if ok else [f"{sub}: missing vocab.txt (BERT), vocab.json (CLIP) or tokenizer.json"]
    config_file = sub / "config.json"
    if name == "cond_stage" and not config_file.exists():
        parts = sorted(p for p in sub.iterdir() if p.is_dir() and (p / "config.json").is_file())
        if parts:  # a multi-condition model keeps one encoder per input (cond_stage/class, cond_stage/map)
            return [problem for part in parts for problem in _check_component(part, name, shapes)]
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{config_file}: missing"]
    except (OSError, ValueError) as exc:
        return [f"{config_file}: not valid JSON ({exc})"]
    weights = _weights_file(sub)
    if weights is None:
        return [f"{sub}: missing weights (diffusion_pytorch_model.safetensors or .bin)"]
    if name == "cond_stage":
        try:
            from ldm_studio.core.models.cond_stages import load_cond_stage

            load_cond_stage(sub)
        except (LdmStudioError, RuntimeError, ValueError, KeyError) as exc:
            return [f"{sub}: {exc}"]
        return []
    if not shapes:
        return []
    return _check_shapes(config, weights)


def _weights_file(sub: Path) -> Path | None:
    """The component's weights: plain, else a variant (`*.fp16.safetensors`, what a GPU download fetches)."""
    for variant in ("", ".fp16", ".bf16"):
        for stem in WEIGHT_NAMES:
            for suffix in (".safetensors", ".bin"):
                if (sub / f"{stem}{variant}{suffix}").is_file():
                    return sub / f"{stem}{variant}{suffix}"
    return None


def _check_shapes(config: dict[str, Any], weights: Path) -> list[str]:
    """Compare each tensor's shape with what the config builds; list missing, extra and wrong ones."""
    cls_name = config.get("_class_name") or ("LDMBertModel" if config.get("model_type") == "ldmbert" else None)
    if cls_name is None and config.get("model_type") == "clip_text_model":
        cls_name = next((a for a in config.get("architectures") or () if a in CLIP_CLASSES), "CLIPTextModel")
    if cls_name not in MODEL_CLASSES:
        return [f"{weights.parent / 'config.json'}: unknown component class {cls_name!r}"]
    try:
        expected = _expected_shapes(cls_name, config)
    except Exception as exc:  # a config the class rejects
        return [f"{weights.parent / 'config.json'}: cannot build {cls_name} from it ({exc})"]
    try:
        actual = _stored_shapes(weights)
    except Exception as exc:
        return [f"{weights}: unreadable weights ({exc})"]
    if cls_name in CLIP_CLASSES:  # transformers 4 and 5 name the layers with and without "text_model."
        expected = {k.removeprefix("text_model."): v for k, v in expected.items()}
        actual = {k.removeprefix("text_model."): v for k, v in actual.items()}
    problems = []
    wrong = [f"{k} {tuple(actual[k])} != {tuple(v)}" for k, v in expected.items() if k in actual and actual[k] != v]
    # diffusers renames legacy attention weights (query/key/value/proj_attn) while loading: no
    # missing/extra report for such files, only wrong shapes of the names both sides share.
    legacy = any(k.rsplit(".", 2)[-2] in LEGACY_ATTENTION for k in actual if k.count(".") >= 1)
    missing = [] if legacy else [k for k in expected if k not in actual]
    extra = [] if legacy else [k for k in actual if k not in expected]
    if wrong:
        problems.append(f"{weights}: wrong shapes for {len(wrong)} tensor(s): {'; '.join(wrong[:3])}")
    if missing:
        problems.append(f"{weights}: {len(missing)} tensor(s) missing: {', '.join(missing[:5])}")
    if extra:
        problems.append(f"{weights}: {len(extra)} unexpected tensor(s): {', '.join(extra[:5])}")
    return problems


def _expected_shapes(cls_name: str, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    import importlib

    import torch

    module, attr = MODEL_CLASSES[cls_name]
    cls = getattr(importlib.import_module(module), attr)
    with torch.device("meta"):
        if cls_name == "LDMBertModel":
            from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig

            keys = set(LDMBertConfig().to_dict())
            model = cls(LDMBertConfig(**{k: v for k, v in config.items() if k in keys}))
        elif cls_name in CLIP_CLASSES:
            from transformers import CLIPTextConfig

            model = cls(CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"}))
        else:
            model = cls.from_config(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _stored_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    if weights.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
    import torch

    state = torch.load(weights, map_location="meta", weights_only=True, mmap=True)
    return {k: tuple(v.shape) for k, v in state.items()}
