"""Putting a PNG's recipe back into the panels (File ▸ Open Image… and drag-and-drop).

The core reads the metadata (`read_png_recipe`); this module sets every widget it can and
returns what it could not, so the window can say so in one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.recipe import RestoredRecipe
from ldm_studio.core.generation.control_inputs import ControlNetCondition
from ldm_studio.core.generation.region_types import RegionalCondition
from ldm_studio.core.generation.requests import Condition, SamplerSettings
from ldm_studio.core.generation.samplers import SAMPLERS
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.core.models.model_hash import model_hash
from ldm_studio.widgets.condition_editors import restore_into
from ldm_studio.widgets.conditioning_panel import ConditioningPanel
from ldm_studio.widgets.sampler_panel import SamplerPanel


@dataclass
class RestoreResult:
    """What was put back, and one line per thing that was not (for the status message)."""

    restored: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # inputs the recipe leaves unset that were set
    model_note: str = ""

    def message(self, name: str) -> str:
        source = f"{name}: restored {', '.join(self.restored) or 'nothing'}"
        parts = [source]
        if self.cleared:
            parts.append(f"cleared {', '.join(self.cleared)} (not in the recipe)")
        if self.not_restored:
            parts.append(f"not restored: {'; '.join(self.not_restored)}")
        if self.model_note:
            parts.append(self.model_note)
        return ". ".join(parts)


def apply_recipe(
    recipe: RestoredRecipe, conditioning: ConditioningPanel, sampler: SamplerPanel, info: ModelInfo | None
) -> RestoreResult:
    """Set the panels from `recipe`; values a widget cannot hold are reported, never silently changed."""
    result = RestoreResult(not_restored=list(recipe.not_restored))
    if recipe.condition is not None:
        _apply_condition(recipe.condition, conditioning, result)
    conditioning.image.restore_init(recipe.init, recipe.strength)  # no start picture: the tab is cleared
    if recipe.init is not None:
        result.restored.append("input picture" + (" and mask" if recipe.init.mask is not None else ""))
    if recipe.settings is not None:
        _apply_settings(recipe.settings, sampler, result)
    result.model_note = model_difference(recipe, info)
    return result


def _apply_condition(condition: Condition, panel: ConditioningPanel, result: RestoreResult) -> None:
    """Each part into its editor; editors the recipe does not use are reset (no stale inputs)."""
    parts = condition.parts()
    used = {type(part) for part in parts}
    for part in parts:
        editor = panel.editor(type(part))
        if editor is None:
            result.not_restored.append(f"{type(part).__name__} input")
            continue
        problem = restore_into(editor, part)
        if problem is not None:
            result.not_restored.append(problem)
        elif editor.restored_name:
            result.restored.append(editor.restored_name)
    for kind, editor in panel.editors.items():
        # a stale input from before would steer the remake away from the image (the map: one Undo away)
        if kind not in used and kind in panel.shown() and editor.condition(required=False) is not None:
            editor.reset()
            result.cleared.append(editor.restored_name)
    # the map (where it is no part) and the region texts; under a ControlNet, the condition it steers
    regional = condition.base if isinstance(condition, ControlNetCondition) else condition
    if isinstance(regional, RegionalCondition):
        panel.map.restore_regions(regional)
        result.restored.append("region texts")
    else:
        panel.map.regions.reset()
    for restore in panel.restorers:  # add-ons beside the editors (a ControlNet and its map)
        done, missed = restore(condition)
        result.restored += done
        result.not_restored += missed
    spec = panel.spec
    if spec is not None and not any(spec.accepts(part) for part in parts) and not spec.accepts(condition):
        kinds = "/".join(sorted(part.kind for part in parts))
        result.not_restored.append(f"the image's {kinds} input is set, but the loaded model is {spec.name}")


def _apply_settings(settings: SamplerSettings, panel: SamplerPanel, result: RestoreResult) -> None:
    index = panel.sampler.findData(settings.sampler)
    if index >= 0:
        panel.sampler.setCurrentIndex(index)
    else:
        result.not_restored.append(f"sampler {settings.sampler!r}")
    panel.random_seed.setChecked(False)
    checks = [
        ("steps", panel.steps, settings.steps),
        ("guidance", panel.guidance, settings.guidance),
        ("eta", panel.eta, settings.eta),
        ("seed", panel.seed, settings.seed),
        ("width", panel.width_box, settings.width),
        ("height", panel.height_box, settings.height),
        ("batch", panel.batch, settings.batch_size),
    ]
    for name, widget, value in checks:
        widget.setValue(value)
        if abs(float(widget.value()) - float(value)) > 1e-6:
            result.not_restored.append(f"{name} {value:g} (out of this panel's range)")
        else:
            result.restored.append(name)
    panel.guidance_schedule.setText(settings.guidance_schedule)
    if settings.guidance_schedule:
        result.restored.append("guidance schedule")
    if index >= 0:
        result.restored.insert(0, f"sampler ({SAMPLERS[settings.sampler].label})")


def model_difference(recipe: RestoredRecipe, info: ModelInfo | None) -> str:
    """A note when the image names another model than the loaded one ("" when they match or say nothing)."""
    if not (recipe.model_name or recipe.model_hash):
        return ""
    named = recipe.model_name or recipe.model_hash
    if info is None:
        return f"The image was made with {named}; no model is loaded."
    if recipe.model_hash:
        try:
            loaded_hash = model_hash(info.path)
        except (OSError, LdmStudioError):
            loaded_hash = None
        if loaded_hash is not None and _same_hash(recipe.model_hash, loaded_hash):
            return ""
        return f"The image was made with {named} (hash {recipe.model_hash}); the loaded model {info.name} differs."
    if recipe.model_name != info.name:
        return f"The image was made with {named}; the loaded model is {info.name}."
    return ""


def _same_hash(a: str, b: str) -> bool:
    """A1111 writes a short prefix of the hash: compare on the shorter one."""
    a, b = a.strip().lower(), b.strip().lower()
    n = min(len(a), len(b))
    return n >= 8 and a[:n] == b[:n]
