"""Batch specs: rows written by hand (JSON, JSONL, CSV) or a sweep, expanded into image jobs.

Row fields are named like the `generate` options: prompt, negative, class, map, seed, steps,
sampler, guidance, eta, batch, width, height. A missing field takes the spec's `defaults`,
then the model's. A sweep (`{"sweep": {"prompt": [...], "seed": [...], ...}}`) is the
product of its axes, like an X/Y plot; it also gets a contact sheet.

Expansion never stops at a bad row: it records the row number and the problem, and the
other rows still run.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldm_studio.core.conditions import condition_from_inputs
from ldm_studio.core.errors import FileFormatError, LdmStudioError
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import (
    GenerationRequest,
    SamplerSettings,
    check_guidance_cap,
    condition_for_image,
    random_seed,
)

FIELDS = (
    *("prompt", "negative", "class", "map"),
    *("seed", "steps", "sampler", "guidance", "eta", "batch", "width", "height"),
)
INT_FIELDS = {"seed", "steps", "batch", "width", "height"}
FLOAT_FIELDS = {"guidance", "eta"}
DEFAULT_TEMPLATE = "{index:05d}_{seed}_{prompt_slug}.png"


@dataclass(frozen=True)
class Row:
    """One row of a spec; `number` is what a person sees (1-based line/row/item)."""

    number: int
    values: dict[str, Any]
    axes: dict[str, Any] = field(default_factory=dict)  # the swept values of this row (sweeps)


@dataclass
class BatchSpec:
    """The parsed spec file: rows, shared defaults, and the sweep's axes when it is one."""

    source: Path
    rows: list[Row]
    defaults: dict[str, Any] = field(default_factory=dict)
    sweep_axes: dict[str, list[Any]] = field(default_factory=dict)
    template: str = DEFAULT_TEMPLATE

    @property
    def is_sweep(self) -> bool:
        return bool(self.sweep_axes)


@dataclass(frozen=True)
class ImageJob:
    """One output image: image `image_index` of row `row`'s request (its seed is request seed + image_index)."""

    index: int
    row: int
    request: GenerationRequest
    image_index: int
    axes: tuple[tuple[str, Any], ...] = ()

    @property
    def seed(self) -> int:
        return self.request.settings.seed + self.image_index

    def single_request(self) -> GenerationRequest:
        """This image alone: batch 1, its own seed and class (reproduces the same pixels)."""
        return self.request.for_image(self.image_index)


@dataclass(frozen=True)
class BadRow:
    row: int
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem}"


def read_spec(path: str | Path) -> BatchSpec:
    """Parse a spec file by its suffix (.json, .jsonl, .csv); FileFormatError naming the file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileFormatError(file, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(file, f"cannot be read ({exc})") from None
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return BatchSpec(file, _csv_rows(file, text))
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append(Row(number, _json_object(file, line, f"line {number}")))
        return BatchSpec(file, rows)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(file, f"is not valid JSON ({exc})") from None
        return _json_spec(file, data)
    raise FileFormatError(file, "a batch spec must be .json, .jsonl or .csv")


def _json_object(file: Path, text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(file, f"{where} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FileFormatError(file, f"{where} must be a JSON object")
    return value


def _csv_rows(file: Path, text: str) -> list[Row]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise FileFormatError(file, "has no header row")
    rows = []
    for record in reader:
        values = {k.strip(): v for k, v in record.items() if k is not None and v not in (None, "")}
        rows.append(Row(reader.line_num, values))
    return rows


def _json_spec(file: Path, data: Any) -> BatchSpec:
    if isinstance(data, list):
        rows = [Row(i, item if isinstance(item, dict) else {"_invalid": item}) for i, item in enumerate(data, 1)]
        return BatchSpec(file, rows)
    if not isinstance(data, dict):
        raise FileFormatError(file, "must hold a list of rows or an object with rows or sweep")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise FileFormatError(file, "defaults must be an object")
    template = data.get("template", DEFAULT_TEMPLATE)
    if "sweep" in data:
        axes = data["sweep"]
        if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
            raise FileFormatError(file, 'sweep must be an object of non-empty lists, e.g. {"seed": [1, 2]}')
        unknown = set(axes) - set(FIELDS)
        if unknown:
            raise FileFormatError(file, f"sweep over unknown field(s): {', '.join(sorted(unknown))}")
        names = list(axes)
        rows = [
            Row(i, dict(zip(names, combo, strict=True)), dict(zip(names, combo, strict=True)))
            for i, combo in enumerate(itertools.product(*axes.values()), start=1)
        ]
        return BatchSpec(file, rows, defaults, {k: list(v) for k, v in axes.items()}, template)
    rows_data = data.get("rows")
    if not isinstance(rows_data, list):
        raise FileFormatError(file, 'needs "rows" (a list) or "sweep" (an object of lists)')
    rows = [Row(i, item if isinstance(item, dict) else {"_invalid": item}) for i, item in enumerate(rows_data, 1)]
    return BatchSpec(file, rows, defaults, {}, template)


def expand(spec: BatchSpec, info: ModelInfo, base_seed: int | None = None) -> tuple[list[ImageJob], list[BadRow]]:
    """Rows → image jobs in order, plus the rows that could not be used and why.

    A row without a seed gets `base_seed + row number` (in a sweep: `base_seed` for every
    cell), so a plan is reproducible from the spec and the base seed alone (the runner stores
    both for a resume).
    """
    base = random_seed() if base_seed is None else base_seed
    jobs: list[ImageJob] = []
    bad: list[BadRow] = []
    for row in spec.rows:
        try:
            request = row_request(row, spec, info, base)
        except (LdmStudioError, ValueError, TypeError) as exc:
            bad.append(BadRow(row.number, str(exc)))
            continue
        axes = tuple(row.axes.items())
        for image_index in range(request.settings.batch_size):
            jobs.append(ImageJob(len(jobs), row.number, request, image_index, axes))
    return jobs, bad


def row_request(row: Row, spec: BatchSpec, info: ModelInfo, base_seed: int) -> GenerationRequest:
    if "_invalid" in row.values:
        raise ValueError(f"is not an object of fields: {row.values['_invalid']!r}")
    values = {**spec.defaults, **row.values}
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}")
    typed = {name: _typed(name, value) for name, value in values.items()}
    map_path = typed.get("map")
    if map_path is not None:
        map_path = Path(str(map_path)).expanduser()
        if not map_path.is_absolute():
            map_path = spec.source.parent / map_path
    classes = typed.get("class")
    condition = condition_from_inputs(
        info,
        prompt=typed.get("prompt"),
        negative=typed.get("negative", ""),
        classes=None if classes is None else (classes if isinstance(classes, list) else [classes]),
        map_path=map_path,
    )
    d = info.defaults
    settings = SamplerSettings(
        sampler=typed.get("sampler", d.sampler),
        steps=typed.get("steps", d.steps),
        guidance=typed.get("guidance", d.guidance),
        eta=typed.get("eta", d.eta),
        # a sweep keeps one seed for every cell, so only the swept values differ between them
        seed=typed.get("seed", base_seed if spec.is_sweep else base_seed + row.number),
        batch_size=typed.get("batch", 1),
        width=typed.get("width", info.resolution),
        height=typed.get("height", info.resolution),
    )
    check_guidance_cap(settings.guidance)
    request = GenerationRequest(condition, settings)
    request.check_for(info)
    return request


def _typed(name: str, value: Any) -> Any:
    """CSV cells are text; JSON numbers may come as strings too: convert by field."""
    if name in INT_FIELDS and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not an integer") from None
    if name in FLOAT_FIELDS and isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
    return value


def slug(text: str, limit: int = 40) -> str:
    """File-name-safe lower-case words: "A Red Cat!" → "a-red-cat"."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "image"


def _slug_words(cond: Any, image_index: int) -> str:
    """What an image shows, for its file name: the prompt, the class, "map" (each part of a combined input)."""
    words = []
    for part in cond.parts() if hasattr(cond, "parts") else (cond,):
        if getattr(part, "prompt", None):
            words.append(part.prompt)
        elif hasattr(part, "class_ids"):
            words.append(f"class-{condition_for_image(part, image_index).class_ids[0]}")
        elif hasattr(part, "label_map"):
            words.append("map")
    return " ".join(words)


def job_file_name(job: ImageJob, template: str = DEFAULT_TEMPLATE) -> str:
    """The output name of a job from the template's fields."""
    cond = job.request.condition
    label = _slug_words(cond, job.image_index)
    s = job.request.settings
    fields = {
        "index": job.index,
        "row": job.row,
        "seed": job.seed,
        "prompt_slug": slug(label or type(cond).__name__.removesuffix("Condition")),
        "steps": s.steps,
        "sampler": s.sampler,
        "guidance": s.guidance,
    }
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise LdmStudioError(f"file name template {template!r}: {exc!r}; fields: {', '.join(fields)}") from None
    if "/" in name or "\\" in name or name.startswith("."):
        raise LdmStudioError(f"file name template {template!r} gives {name!r}, which is not a plain file name")
    return name if name.lower().endswith(".png") else name + ".png"
