"""Prompt and guidance schedules: the parser (our switches, A1111's prompt editing, errors) and the loop
(a switch at step k is a branch at step k with the new prompt, bit for bit, on every family with text)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ldm_studio.core.errors import RequestError
from ldm_studio.core.files.recipe import build_recipe, format_a1111, recipe_from_a1111, recipe_from_json
from ldm_studio.core.generation.conditions import condition_from_values
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.generation.schedules import parse_guidance, parse_prompt, prompt_a1111
from ldm_studio.core.generation.trajectory import BranchOrigin, Trajectory, branch_resume
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.family_models import TINY

# --- parser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps", "plan"),
    [
        ("a forest [0.4] a burning forest", 30, [(0, "a forest"), (12, "a burning forest")]),
        ("a forest [5] a burning forest", 30, [(0, "a forest"), (5, "a burning forest")]),
        ("a [0.25] b [0.5] c", 8, [(0, "a"), (2, "b"), (4, "c")]),
        ("a [red:blue:0.5] car", 10, [(0, "a red car"), (5, "a blue car")]),
        ("a [red:blue:3] car", 10, [(0, "a red car"), (3, "a blue car")]),
        ("[cat:0.5] on a mat", 10, [(0, "on a mat"), (5, "cat on a mat")]),  # [to:when]
        ("a [cat::2] mat", 10, [(0, "a cat mat"), (2, "a mat")]),  # [from::when]
        ("[[a:b:0.3]:c:0.6]", 10, [(0, "a"), (3, "b"), (6, "c")]),  # nested edits
        ("a [0.9] b", 4, [(0, "a"), (3, "b")]),  # int(0.9 * 4) = 3
        ("a [40] b", 10, [(0, "a")]),  # past the end: never switches
        ("plain [word] (x:1.2) text", 10, [(0, "plain [word] (x:1.2) text")]),  # A1111 emphasis: literal
        ("a [ b ] c [", 10, [(0, "a [ b ] c [")]),
        (r"escaped \[0.4\] stays", 10, [(0, r"escaped \[0.4\] stays")]),
    ],
)
def test_prompt_plans(text, steps, plan):
    assert parse_prompt(text).plan(steps) == plan


def test_an_unscheduled_prompt_is_used_exactly_as_typed():
    text = "  two  spaces\nand a newline "
    schedule = parse_prompt(text)
    assert not schedule.is_scheduled and schedule.at(3, 10) == text and schedule.hint(10) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a [cat|dog] b", "alternation"),
        ("a [cat:dog] b", "last part must be a step number"),
        ("[a:b:c:0.5]", "3 colons"),
        ("[a:[0.4]:0.5]", "cannot stand inside"),
        ("x [-1] y", "negative"),
    ],
)
def test_refused_forms_are_one_line_errors_naming_the_field(text, message):
    with pytest.raises(RequestError, match=message) as caught:
        TextCondition(text)
    assert str(caught.value).startswith("prompt:") and "\n" not in str(caught.value)
    with pytest.raises(RequestError, match=r"^negative:"):
        TextCondition("ok", text)


def test_hint_and_a1111_form():
    schedule = parse_prompt("a forest [0.4] a burning forest [0.8] ashes")
    assert schedule.hint(10) == "steps 1-4: a forest · 5-8: a burning forest · 9-10: ashes"
    written = schedule.a1111()
    assert written == "[[a forest:a burning forest:0.4]:ashes:0.8]"
    assert parse_prompt(written).plan(10) == schedule.plan(10)  # A1111's nesting reads back the same
    assert prompt_a1111("a [red:blue:0.5] car") == "a [red:blue:0.5] car"
    assert prompt_a1111("a (cat:1.2) [0.5] b") == "[a (cat:1.2):b:0.5]"
    assert prompt_a1111("ratio 1:2 [0.5] b") == "ratio 1:2 [0.5] b"  # not expressible: kept as typed


def test_guidance_schedule():
    schedule = parse_guidance("7.5 [0.5] 3 [8] 1")
    assert [schedule.at(i, 10) for i in range(10)] == [7.5] * 5 + [3.0] * 3 + [1.0] * 2
    for bad, message in (("7.5", "no \\[when\\]"), ("7.5 [0.5] x", "not a guidance value"), ("a [b:c:1]", "guidance")):
        with pytest.raises(RequestError, match=message):
            SamplerSettings(guidance_schedule=bad)
    settings = SamplerSettings(guidance=7.5, guidance_schedule="7.5 [0.5] 1")
    assert settings.guidance_at(9, 10) == 1.0 and settings.guidance_values() == (7.5, 1.0)


# --- recipes -----------------------------------------------------------------------------------------


def test_recipe_keeps_the_schedule_and_a1111_text_is_written_the_a1111_way(text_engine):
    info = text_engine.model.info
    request = GenerationRequest(
        TextCondition("a forest [0.4] a burning forest", "blurry [3] sharp"),
        SamplerSettings(steps=10, guidance=7.5, guidance_schedule="7.5 [0.5] 3", width=64, height=64),
    )
    recipe = build_recipe(request, info, 0, model_hash="abc", device="cpu")
    again = recipe_from_json(recipe)
    assert again.request() == request
    text = format_a1111(recipe)
    assert text.splitlines()[0] == "[a forest:a burning forest:0.4]"
    assert "Negative prompt: [blurry:sharp:3]" in text and 'CFG schedule: 7.5 [0.5] 3' in text
    restored = recipe_from_a1111(text)
    assert restored.settings is not None and restored.settings.guidance_schedule == "7.5 [0.5] 3"
    assert isinstance(restored.condition, TextCondition)
    assert parse_prompt(restored.condition.prompt).plan(10) == parse_prompt(request.condition.prompt).plan(10)


def test_a1111_text_with_prompt_editing_is_restored_and_alternation_is_reported():
    restored = recipe_from_a1111("a [red:blue:0.5] car\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64")
    assert restored.condition == TextCondition("a [red:blue:0.5] car")
    refused = recipe_from_a1111("a [cat|dog]\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64")
    assert refused.condition is None and any("alternation" in item for item in refused.not_restored)


# --- the loop ---------------------------------------------------------------------------------------


def _run(model, request, resume=None):
    trajectory = Trajectory(1, request)
    last = None
    for last in denoise(model, request, resume=resume):
        trajectory.record(last)
    return last.latents, trajectory


@pytest.fixture(scope="module", params=["text", "multi", "sd", "sdxl"])
def family(request, tmp_path_factory):
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    tiny = TINY[request.param]
    folder = tiny.write(tmp_path_factory.mktemp(request.param) / "model")
    engine = Engine(choose_device("cpu"))
    engine.load(folder, warm_up=False)
    return engine.model, read_model_info(folder), tiny.inputs(tmp_path_factory.mktemp("inputs")), tiny


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_a_switch_at_step_k_equals_a_branch_at_step_k_with_the_new_prompt(family, sampler):
    model, info, inputs, tiny = family
    settings = SamplerSettings(sampler=sampler, steps=5, guidance=3.0, seed=4, width=tiny.size, height=tiny.size)
    k = 3  # the first 3 steps use the first prompt: the branch continues after kept step index 2
    parent = GenerationRequest(condition_from_values(info, {**inputs, "prompt": "a red cat"}), settings)
    child = GenerationRequest(condition_from_values(info, {**inputs, "prompt": "a blue dog"}), settings)
    scheduled = GenerationRequest(
        condition_from_values(info, {**inputs, "prompt": f"a red cat [{k}] a blue dog"}), settings
    )
    _, kept = _run(model, parent)
    branched, _ = _run(model, child, branch_resume(model, BranchOrigin(parent, k - 1), child, kept))
    latents, _ = _run(model, scheduled)
    assert torch.equal(latents, branched)
    unchanged, _ = _run(model, parent)
    assert not torch.equal(latents, unchanged)


def test_each_distinct_prompt_is_encoded_once(text_engine, monkeypatch):
    model = text_engine.model
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda c, *a: seen.append(c.prompt) or encode(c, *a))
    request = GenerationRequest(
        TextCondition("a [cat:dog:2] [4] a [cat:dog:2]"), SamplerSettings(steps=6, width=64, height=64)
    )
    _run(model, request)
    assert seen == ["a cat", "a dog"]


def test_a_guidance_schedule_equals_a_branch_with_the_new_guidance(text_engine):
    model = text_engine.model
    settings = SamplerSettings(sampler="euler", steps=6, guidance=3.0, seed=2, width=64, height=64)
    parent = GenerationRequest(TextCondition("a red cat"), settings)
    child = replace(parent, settings=replace(settings, guidance=8.0))
    scheduled = replace(parent, settings=replace(settings, guidance_schedule="3 [4] 8"))
    _, kept = _run(model, parent)
    branched, _ = _run(model, child, branch_resume(model, BranchOrigin(parent, 3), child, kept))
    latents, _ = _run(model, scheduled)
    assert torch.equal(latents, branched)


# --- CLI and batch rows --------------------------------------------------------------------------------


def test_cli_generate_takes_a_prompt_schedule_and_a_guidance_schedule(tiny_text_model, text_engine, tmp_path, capsys):
    import json

    from PIL import Image

    from ldm_studio.cli import main
    from ldm_studio.core.files.recipe import RECIPE_KEY

    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "a red cat [2] a blue dog", "--seed", "3"]
    args += ["--steps", "4", "--sampler", "ddim", "--guidance-schedule", "4 [0.5] 2", "--width", "64", "--height", "64"]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    [path] = captured.out.split()
    assert "schedule: prompt: steps 1-2: a red cat · 3-4: a blue dog" in captured.err
    assert "schedule: guidance 1: 4 · 3: 2" in captured.err
    with Image.open(path) as image:
        recipe = json.loads(image.text[RECIPE_KEY])
        parameters = image.text["parameters"]
        pixels = np.asarray(image)
    assert recipe["condition"]["prompt"] == "a red cat [2] a blue dog"
    assert recipe["settings"]["guidance_schedule"] == "4 [0.5] 2" and recipe["settings"]["guidance"] == 4.0
    assert parameters.startswith("[a red cat:a blue dog:2]\n")
    # the same image as the loop run directly on the same request
    request = GenerationRequest(
        TextCondition("a red cat [2] a blue dog"),
        SamplerSettings(
            sampler="ddim", steps=4, guidance=4.0, guidance_schedule="4 [0.5] 2", seed=3, width=64, height=64
        ),
    )
    assert np.array_equal(pixels, text_engine.generate(request).images[0])
    bad = main([*args[:-4], "--guidance-schedule", "4 [0.5]", "--out", str(out), "--device", "cpu"])
    assert bad != 0 and "--guidance-schedule" in capsys.readouterr().err


def test_batch_rows_take_the_same_schedule_text(tiny_text_model, tmp_path):
    from ldm_studio.core.batch.spec import expand, read_spec
    from ldm_studio.core.models.model_folder import read_model_info

    spec_file = tmp_path / "rows.json"
    rows = [
        {"prompt": "a forest [0.4] a burning forest", "guidance_schedule": "5 [2] 1"},
        {"prompt": "a [cat|dog]"},
    ]
    spec_file.write_text(__import__("json").dumps({"defaults": {"steps": 5, "width": 64, "height": 64}, "rows": rows}))
    jobs, bad = expand(read_spec(spec_file), read_model_info(tiny_text_model), base_seed=1)
    [job] = jobs
    assert job.request.condition.prompt == "a forest [0.4] a burning forest"
    assert job.request.settings.guidance_schedule == "5 [2] 1"
    assert len(bad) == 1 and bad[0].row == 2 and "alternation" in bad[0].problem


def test_hostile_prompts_parse_quickly_or_fail_in_one_line():
    import time

    start = time.perf_counter()
    with pytest.raises(RequestError, match="nest more than"):
        TextCondition("[" * 4000 + "x" + "]" * 4000)
    TextCondition("[" * 9000)  # unmatched: literal text
    TextCondition("[a:b:0.5] " * 900)
    assert time.perf_counter() - start < 2.0


def test_fractions_count_the_requested_steps_also_when_ddim_runs_one_more(text_engine):
    """CompVis DDIM runs 7 loop steps for 6: [0.5] switches after step int(0.5 * 6) = 3, as the hint says."""
    model = text_engine.model
    settings = SamplerSettings(sampler="ddim", steps=6, guidance=3.0, seed=5, width=64, height=64)
    parent = GenerationRequest(TextCondition("a red cat"), settings)
    child = GenerationRequest(TextCondition("a blue dog"), settings)
    scheduled = GenerationRequest(TextCondition("a red cat [0.5] a blue dog"), settings)
    assert scheduled.condition.schedule_hints(6) == ["prompt: steps 1-3: a red cat · 4-6: a blue dog"]
    _, kept = _run(model, parent)
    assert len(kept) == 7
    branched, _ = _run(model, child, branch_resume(model, BranchOrigin(parent, 2), child, kept))
    latents, _ = _run(model, scheduled)
    assert torch.equal(latents, branched)
