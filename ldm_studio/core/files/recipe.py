"""Recipes: everything needed to make an image again, stored inside its PNG.

Each PNG carries two text chunks:

- `parameters`, in the format AUTOMATIC1111's "PNG Info" reads (prompt, `Negative prompt:`,
  then `Steps: N, Sampler: ..., CFG scale: ..., Seed: ..., Size: WxH, Model hash: ..., Model: ...`),
  so other tools and image sites show it;
- `ldm_studio`, the complete JSON recipe: model name and content hash, family, every
  conditioning input (a semantic map embedded as an indexed PNG), the image-to-image start
  (`init`: strength, the input picture as a PNG copy ≤ 512 px with its original size and
  sha256, the mask), sampler settings, the image's own seed and batch index, device, dtype
  and library versions. A1111's `Denoising strength` carries the strength.

A recipe describes one image: image i of a batch is remade by seed + i with batch size 1
(the sampling loop draws each image's noise from its own generator).
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import diffusers
import torch

from ldm_studio import __version__
from ldm_studio.core.errors import FileFormatError, LdmStudioError
from ldm_studio.core.files.untrusted import parse_json, read_png_text, short_text
from ldm_studio.core.generation.condition_types import condition_a1111, condition_from_json, condition_to_json
from ldm_studio.core.generation.image_inputs import InitImage
from ldm_studio.core.generation.requests import (
    MAX_PROMPT_CHARS,
    ClassCondition,
    Condition,
    GenerationRequest,
    SamplerSettings,
    TextCondition,
)
from ldm_studio.core.generation.samplers import sampler_by_label, sampler_label
from ldm_studio.core.models.model_folder import ModelInfo

RECIPE_KEY = "ldm_studio"
A1111_KEY = "parameters"
RECIPE_VERSION = 1


def build_recipe(
    request: GenerationRequest, info: ModelInfo, index: int, *, model_hash: str, device: str
) -> dict[str, Any]:
    """The JSON recipe of image `index` of `request`."""
    single = request.for_image(index)
    condition, settings = single.condition, single.settings
    recipe = {
        "version": RECIPE_VERSION,
        "model": {"name": info.name, "hash": model_hash, "family": info.family, "path": str(info.path)},
        "condition": condition_to_json(condition, info.class_names),
        "settings": asdict(settings),
        "batch": {"index": index, "size": request.settings.batch_size, "seed": request.settings.seed},
        "device": device,
        "versions": {
            "ldm_studio": __version__,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "python": platform.python_version(),
        },
    }
    if single.init is not None:
        recipe["init"] = single.init.to_json()
    return recipe


# --- AUTOMATIC1111 "parameters" --------------------------------------------------------------


def format_a1111(recipe: dict[str, Any]) -> str:
    """The `parameters` text of a recipe, as AUTOMATIC1111 writes it (the condition gives its part)."""
    s = recipe["settings"]
    text = condition_a1111(recipe["condition"])
    prompt, negative = text.prompt, text.negative
    fields = {
        "Steps": s["steps"],
        "Sampler": sampler_label(s["sampler"]),
        "CFG scale": _number(s["guidance"]),
        "Seed": s["seed"],
        "Size": f"{s['width']}x{s['height']}",
        "Model hash": recipe["model"]["hash"],
        "Model": recipe["model"]["name"],
    }
    if s.get("eta"):
        fields["Eta"] = _number(s["eta"])
    if s.get("guidance_schedule"):  # ours: A1111 has one CFG scale (it reads back here)
        fields["CFG schedule"] = s["guidance_schedule"]
    if recipe.get("init"):
        fields["Denoising strength"] = _number(recipe["init"]["strength"])
        if recipe["init"].get("feather"):
            fields["Mask blur"] = str(recipe["init"]["feather"])  # A1111's name for the soft mask edge
    fields.update(text.fields)
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in fields.items()))
    return "\n".join(lines)


def parse_a1111(text: str) -> dict[str, Any]:
    """Parse a `parameters` text: {"prompt", "negative", "fields": {name: value}}.

    The last line holding `Steps: <number>` is the settings line; lines before it are the prompt,
    up to a line starting `Negative prompt:`, after which they are the negative prompt. Linear in
    the text's length (a hostile PNG may carry a megabyte of it).
    """
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines:
        settings = _a1111_fields(lines[-1])
        if settings.get("Steps", "")[:1].isdigit():
            lines.pop()
        else:
            settings = {}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:") :].strip()
        target.append(line)
    prompt, negative = "\n".join(prompt_lines).strip(), "\n".join(negative_lines).strip()
    return {"prompt": prompt, "negative": negative, "fields": settings}


def _a1111_fields(line: str) -> dict[str, str]:
    """`Key: value, Key: "quoted, value", ...` in one left-to-right pass; pieces without a key are skipped."""
    fields: dict[str, str] = {}
    i, n = 0, len(line)
    colon = -1
    while i < n:
        if colon < i:
            colon = line.find(":", i)
            if colon < 0:
                break
        comma = line.find(",", i, colon)
        if comma >= 0:  # a piece without "Key:" before the next colon
            i = comma + 1
            continue
        key = line[i:colon].strip()
        j = colon + 1
        while j < n and line[j].isspace():
            j += 1
        if j < n and line[j] == '"':
            k = j + 1
            while k < n and line[k] != '"':
                k += 2 if line[k] == "\\" else 1
            value = line[j : k + 1]
            end = line.find(",", k + 1)
            with contextlib.suppress(ValueError):  # a malformed quote: keep the text as it is
                value = json.loads(value)
        else:
            end = line.find(",", j)
            value = line[j : end if end >= 0 else n].strip()
        if key and all(c.isalnum() or c in " _" for c in key):
            fields[key] = value if isinstance(value, str) else str(value)
        i = n if end < 0 else end + 1
    return fields


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if any(c in text for c in ',:\n"') else text


def _number(value: float) -> str:
    return f"{float(value):g}"


# --- reading a PNG back ----------------------------------------------------------------------


@dataclass
class RestoredRecipe:
    """What a PNG's metadata gives back: settings and condition it could restore, and what not."""

    source: str  # "ldm_studio" or "a1111"
    condition: Condition | None
    settings: SamplerSettings | None
    model_name: str | None = None
    model_hash: str | None = None
    recipe: dict[str, Any] | None = None
    not_restored: list[str] = field(default_factory=list)
    init: InitImage | None = None  # the image-to-image start (our recipes embed its picture)
    strength: float | None = None  # the strength, also when only A1111's `Denoising strength` gives it

    def request(self) -> GenerationRequest:
        if self.condition is None or self.settings is None:
            raise LdmStudioError("this image's metadata does not describe a complete request")
        return GenerationRequest(self.condition, self.settings, self.init)


def read_png_recipe(path: str | Path) -> RestoredRecipe:
    """The recipe in a PNG (ours first, else an A1111 `parameters` chunk); FileFormatError naming the file."""
    file = Path(path)
    text = read_png_text(file)  # the chunks only: no pixel is decoded, whatever the declared size
    if RECIPE_KEY in text:
        try:
            return recipe_from_json(parse_json(file, text[RECIPE_KEY], "its ldm_studio chunk"))
        except FileFormatError as exc:
            problem = exc.problem if exc.path == file else str(exc)
            raise FileFormatError(file, f"has a malformed LDM Studio recipe ({problem})") from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, LdmStudioError) as exc:
            problem = short_text(f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc))
            raise FileFormatError(file, f"has a malformed LDM Studio recipe ({problem})") from None
    if A1111_KEY in text:
        return recipe_from_a1111(text[A1111_KEY])
    raise FileFormatError(file, "carries no generation metadata (no ldm_studio or parameters chunk)")


def recipe_from_json(recipe: dict[str, Any]) -> RestoredRecipe:
    if not isinstance(recipe, dict):
        raise TypeError("recipe is not a JSON object")
    if recipe.get("version") != RECIPE_VERSION:
        raise ValueError(f"recipe version {recipe.get('version')!r} is not {RECIPE_VERSION}")
    if not isinstance(recipe.get("settings"), dict):
        raise TypeError("settings is not a JSON object")
    settings = SamplerSettings(**recipe["settings"])
    model = recipe.get("model", {})
    if not isinstance(model, dict):
        raise TypeError("model is not a JSON object")
    if not isinstance(recipe.get("condition"), dict):
        raise TypeError("condition is not a JSON object")
    init = InitImage.from_json(recipe["init"]) if recipe.get("init") else None
    not_restored = []
    if init is not None and init.original_size is not None:
        width, height = init.original_size
        not_restored.append(f"the input picture at its original {width}x{height} (the recipe holds a smaller copy)")
    return RestoredRecipe(
        "ldm_studio",
        condition_from_json(recipe["condition"]),
        settings,
        _text_or_none(model.get("name")),
        _text_or_none(model.get("hash")),
        recipe,
        not_restored,
        init,
        None if init is None else init.strength,
    )


def _text_or_none(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def recipe_from_a1111(text: str) -> RestoredRecipe:
    """Map an A1111 `parameters` text onto our settings as far as it goes; list the rest."""
    parsed = parse_a1111(text)
    fields = dict(parsed["fields"])
    values: dict[str, Any] = {}
    not_restored: list[str] = []
    converters = {
        "Steps": ("steps", int),
        "CFG scale": ("guidance", float),
        "Seed": ("seed", int),
        "Eta": ("eta", float),
        "CFG schedule": ("guidance_schedule", str),
    }
    for key, (name, convert) in converters.items():
        if key in fields:
            try:
                values[name] = convert(fields.pop(key))
            except ValueError:
                not_restored.append(f"{key} (not a number)")
    if "Sampler" in fields:
        label = fields.pop("Sampler")
        try:
            values["sampler"] = sampler_by_label(label)
        except KeyError:
            not_restored.append(f"Sampler {label!r} (not one of ours)")
    if "Size" in fields:
        match = re.fullmatch(r"(\d+)x(\d+)", fields.pop("Size").strip())
        if match:
            values["width"], values["height"] = int(match[1]), int(match[2])
    strength = None
    if "Denoising strength" in fields:
        value = fields.pop("Denoising strength")
        try:
            strength = float(value)
            if not 0.0 <= strength <= 1.0:
                raise ValueError(value)
        except ValueError:
            strength = None
            not_restored.append(f"Denoising strength {value!r} (not a number from 0 to 1)")
        else:
            not_restored.append("the input picture (A1111 text does not hold it)")
    condition: Condition | None = None
    if "Class" in fields:
        try:
            condition = ClassCondition(tuple(int(c) for c in fields.pop("Class").split("|")))
        except (ValueError, LdmStudioError):
            not_restored.append("Class")
    elif parsed["prompt"] or parsed["negative"]:
        prompt, negative = parsed["prompt"], parsed["negative"]
        for label, value in (("prompt", prompt), ("negative prompt", negative)):
            if len(value) > MAX_PROMPT_CHARS:
                not_restored.append(f"the {label} after its first {MAX_PROMPT_CHARS} of {len(value)} characters")
        try:
            condition = TextCondition(prompt[:MAX_PROMPT_CHARS], negative[:MAX_PROMPT_CHARS])
        except LdmStudioError as exc:  # a schedule form LDM Studio does not run (A1111's alternation)
            not_restored.append(f"the prompts ({exc})")
    model_name = fields.pop("Model", None)
    model_hash = fields.pop("Model hash", None)
    not_restored.extend(f"{key}: {value}" for key, value in fields.items())
    try:
        settings = SamplerSettings(**values)
    except LdmStudioError as exc:
        not_restored.append(str(exc))
        settings = None
    return RestoredRecipe("a1111", condition, settings, model_name, model_hash, None, not_restored, None, strength)


def recipe_chunks(recipe: dict[str, Any]) -> dict[str, str]:
    """The PNG text chunks for a recipe: A1111 `parameters` and our JSON."""
    return {A1111_KEY: format_a1111(recipe), RECIPE_KEY: json.dumps(recipe, sort_keys=True)}
