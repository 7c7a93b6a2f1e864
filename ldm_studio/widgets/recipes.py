"""A one-line summary of an image's recipe, for the status bar."""

from __future__ import annotations

import json

from ldm_studio.core.generation.samplers import SAMPLERS


def describe_recipe(text: str) -> str:
    """ "prompt · DDIM 50 steps · guidance 5 · seed 42", or "" when there is no readable recipe."""
    try:
        recipe = json.loads(text) if text else None
    except ValueError:
        return ""
    if not isinstance(recipe, dict):
        return ""
    cond = recipe.get("condition") or {}
    settings = recipe.get("settings") or {}
    if cond.get("kind") == "combined":  # a multi-input model's: one description of all its parts
        merged: dict = {}
        for part in cond.get("parts") or []:
            if isinstance(part, dict):
                merged.update({k: v for k, v in part.items() if k != "kind"}, **{f"has_{part.get('kind')}": True})
        cond = merged
    parts = []
    if cond.get("prompt"):
        parts.append(repr(cond["prompt"]))
    if cond.get("class_names"):
        parts.append(f"class {', '.join(map(str, cond['class_names']))}")
    elif cond.get("class_ids"):
        parts.append(f"class {cond['class_ids']}")
    if cond.get("has_semantic"):
        parts.append("a map")
    sampler = SAMPLERS.get(settings.get("sampler", ""))
    if sampler:
        parts.append(f"{sampler.label} {settings.get('steps')} steps")
    if "guidance" in settings:
        parts.append(f"guidance {settings['guidance']:g}")
    if "seed" in settings:
        parts.append(f"seed {settings['seed']}")
    model = (recipe.get("model") or {}).get("name")
    if model:
        parts.append(model)
    return " · ".join(parts)
