"""Batch specs: rows written by hand (JSON, JSONL, CSV) or a sweep, expanded into image jobs.

Row fields are named like the `generate` options: prompt, negative, class, map, image, mask,
strength, feather, seed, steps, sampler, guidance, guidance_schedule, eta, batch, width, height (file
inputs relative to the spec file; a picture input sets the default size). A missing field takes the spec's `defaults`,
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
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import FileFormatError, LdmStudioError
from ldm_studio.core.files.untrusted import parse_json, read_text_bounded, short_repr, short_text
from ldm_studio.core.generation.condition_types import INPUTS
from ldm_studio.core.generation.conditions import condition_from_values, init_from_values
from ldm_studio.core.generation.image_inputs import default_size
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, check_guidance_cap, random_seed
from ldm_studio.core.models.model_folder import ModelInfo

SETTING_FIELDS = ("seed", "steps", "sampler", "guidance", "guidance_schedule", "eta", "batch", "width", "height")
FIELDS = (*INPUTS, *SETTING_FIELDS)  # the condition types' named inputs, then the settings
INT_FIELDS = {"seed", "steps", "batch", "width", "height"}
FLOAT_FIELDS = {"guidance", "eta"}
DEFAULT_TEMPLATE = "{index:05d}_{seed}_{prompt_slug}.png"
MAX_SPEC_BYTES = 16 << 20
MAX_NAME_BYTES = 200  # below every file system's 255, with room for the writer's temp prefix
MAX_FIELD_WIDTH = 64  # `{index:>300000000}` would build a 300 MB name before any check
TEMPLATE_FIELDS = ("index", "row", "seed", "prompt_slug", "steps", "sampler", "guidance")
PROBLEM = "_problem"  # a row that could not be read: its problem, reported like any bad row


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
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise FileFormatError(file, "a batch spec must be .json, .jsonl or .csv")
    text = read_text_bounded(file, MAX_SPEC_BYTES, "batch spec")
    if suffix == ".csv":
        return BatchSpec(file, _csv_rows(file, text))
    if suffix == ".jsonl":
        # a bad line is a bad row, reported by number; the other lines still run
        lines = enumerate(text.splitlines(), start=1)
        return BatchSpec(file, [Row(number, _jsonl_row(line)) for number, line in lines if line.strip()])
    return _json_spec(file, parse_json(file, text))


def _jsonl_row(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return {PROBLEM: f"is not valid JSON ({exc.msg} at column {exc.colno})"}
    except RecursionError:
        return {PROBLEM: "is nested too deeply"}
    return value if isinstance(value, dict) else {PROBLEM: f"must be a JSON object, not {short_repr(value, 60)}"}


def _csv_rows(file: Path, text: str) -> list[Row]:
    reader = csv.DictReader(text.splitlines())
    rows = []
    try:
        if not reader.fieldnames:
            raise FileFormatError(file, "has no header row")
        for record in reader:
            values = {k.strip(): v for k, v in record.items() if isinstance(k, str) and v not in (None, "")}
            rows.append(Row(reader.line_num, values))
    except csv.Error as exc:  # a NUL byte, a cell over csv's field size limit
        raise FileFormatError(file, f"line {reader.line_num}: {short_text(str(exc), 100)}") from None
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
    if not isinstance(template, str):
        raise FileFormatError(file, f"template must be text, not {short_repr(template, 40)}")
    check_template(file, template)
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
    if PROBLEM in row.values:
        raise ValueError(row.values[PROBLEM])
    if "_invalid" in row.values:
        raise ValueError(f"is not an object of fields: {short_repr(row.values['_invalid'], 60)}")
    values = {**spec.defaults, **row.values}
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}")
    typed = {name: _typed(name, value) for name, value in values.items()}
    inputs = {name: typed[name] for name in INPUTS if name in typed}
    for name, value in inputs.items():
        if INPUTS[name].path and value is not None:  # file inputs are relative to the spec file
            path = Path(str(value)).expanduser()
            inputs[name] = path if path.is_absolute() else spec.source.parent / path
    condition = condition_from_values(info, inputs)
    init = init_from_values(info, inputs)
    width, height = default_size(info, condition, init) or (info.resolution, info.resolution)
    d = info.defaults
    settings = SamplerSettings(
        sampler=typed.get("sampler", d.sampler),
        steps=typed.get("steps", d.steps),
        guidance=typed.get("guidance", d.guidance),
        eta=typed.get("eta", d.eta),
        # a sweep keeps one seed for every cell, so only the swept values differ between them
        seed=typed.get("seed", base_seed if spec.is_sweep else base_seed + row.number),
        batch_size=typed.get("batch", 1),
        width=typed.get("width", width),
        height=typed.get("height", height),
        guidance_schedule=str(typed.get("guidance_schedule") or ""),
    )
    for guidance in settings.guidance_values():
        check_guidance_cap(guidance)
    request = GenerationRequest(condition, settings, init)
    request.check_for(info)
    return request


def _typed(name: str, value: Any) -> Any:
    """CSV cells are text; JSON numbers may come as strings too: convert by field."""
    if name in INT_FIELDS and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {short_repr(value, 40)} is not an integer") from None
    if name in FLOAT_FIELDS and isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {short_repr(value, 40)} is not a number") from None
    return value


def slug(text: str, limit: int = 40) -> str:
    """File-name-safe lower-case words: "A Red Cat!" → "a-red-cat"."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "image"


def job_file_name(job: ImageJob, template: str = DEFAULT_TEMPLATE) -> str:
    """The output name of a job from the template's fields."""
    cond = job.request.condition
    label = cond.for_image(job.image_index).file_label()
    s = job.request.settings
    fields = {
        "index": job.index,
        "row": job.row,
        "seed": job.seed,
        "prompt_slug": slug(label),
        "steps": s.steps,
        "sampler": s.sampler,
        "guidance": s.guidance,
    }
    shown = short_repr(template, 60)
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        problem = short_text(f"{type(exc).__name__}: {exc}", 100)
        raise LdmStudioError(f"file name template {shown}: {problem}; fields: {', '.join(fields)}") from None
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name or not name.strip():
        raise LdmStudioError(f"file name template {shown} gives {short_repr(name, 60)}, which is not a plain file name")
    name = name if name.lower().endswith(".png") else name + ".png"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise LdmStudioError(f"file name template {shown} gives a name longer than {MAX_NAME_BYTES} bytes")
    return name


def check_template(file: object, template: str) -> None:
    """Refuse a template whose fields are unknown or padded absurdly wide, before formatting anything."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise FileFormatError(file, f"template {short_repr(template, 60)}: {exc}") from None
    for _text, field_name, spec, _conversion in parts:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS:
            raise FileFormatError(
                file, f"template field {short_repr(field_name, 40)} is unknown; known: {', '.join(TEMPLATE_FIELDS)}"
            )
        if "{" in (spec or ""):
            raise FileFormatError(file, f"template field {field_name}: nested fields are not supported")
        widths = [int(w) for w in re.findall(r"\d+", spec or "")]
        if any(w > MAX_FIELD_WIDTH for w in widths):
            raise FileFormatError(file, f"template field {field_name}: width over {MAX_FIELD_WIDTH} in {spec!r}")


def plan_file_names(jobs: list[ImageJob], template: str) -> list[str]:
    """Every job's file name, refusing a template that gives two images the same name.

    Checked once at plan time: a batch must never write one image over another (`{prompt_slug}.png`
    for three rows, or `{seed}.png` for rows whose seeds overlap).
    """
    names: list[str] = []
    first: dict[str, ImageJob] = {}
    for job in jobs:
        name = job_file_name(job, template)
        key = name.casefold()  # the same file on case-insensitive file systems
        if key in first:
            other = first[key]
            raise LdmStudioError(
                f"file name template {short_repr(template, 60)} gives images {other.index + 1} (row {other.row}) and "
                f"{job.index + 1} (row {job.row}) the same name {short_repr(name, 60)}: add {{index}} to it"
            )
        first[key] = job
        names.append(name)
    return names
