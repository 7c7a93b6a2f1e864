"""A one-line summary of an image's recipe, for the status bar."""

from __future__ import annotations

import json

from ldm_studio.core.samplers import SAMPLERS


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
    parts = []
    if cond.get("prompt"):
        parts.append(repr(cond["prompt"]))
    elif cond.get("class_ids"):
        parts.append(f"class {cond['class_ids']}")
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
