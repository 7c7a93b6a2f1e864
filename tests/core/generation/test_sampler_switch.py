"""A branch that switches the sampler: the parent's timesteps continued by another update rule.

Reference runs are built by hand from diffusers' schedulers (not through `sampler_switch`), so
a wrong timestep, step index or latent scale shows as a difference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

from ldm_studio.core.errors import RequestError
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.samplers import make_scheduler
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.generation.trajectory import (
    BranchOrigin,
    Trajectory,
    branch_recipe_entry,
    branch_resume,
    origin_from_recipe,
)
from ldm_studio.core.models.demo_model import demo_model_path


def _run(model, request, resume=None):
    trajectory = Trajectory(1, request)
    last = None
    for last in denoise(model, request, resume=resume):
        trajectory.record(last)
    return last.latents, trajectory


def _request(sampler: str, prompt: str = "a red cat", steps: int = 6) -> GenerationRequest:
    return GenerationRequest(
        TextCondition(prompt), SamplerSettings(sampler=sampler, steps=steps, guidance=3.0, seed=7, width=64, height=64)
    )


@torch.inference_mode()
def _by_hand(model, child: GenerationRequest, scheduler, latents: torch.Tensor, first: int) -> torch.Tensor:
    """`scheduler` (its timesteps set) run from loop index `first` on `latents`, as diffusers' pipelines do."""
    cond = model.encode(child.condition, 1, True, child).batch(True)
    g = child.settings.guidance
    x = latents
    for i in range(first, len(scheduler.timesteps)):
        t = scheduler.timesteps[i]
        eps = model.predict_noise(scheduler.scale_model_input(torch.cat([x, x]), t), t, cond)
        uncond, c = eps.chunk(2)
        x = scheduler.step(uncond + g * (c - uncond), t, x).prev_sample
    return x


def _sigma_scale(scheduler, index: int) -> torch.Tensor:
    return (scheduler.sigmas[index] ** 2 + 1) ** 0.5


@pytest.mark.parametrize(("parent", "child"), [("ddim", "euler"), ("euler", "ddim"), ("ddim", "dpmpp_2m")])
def test_a_switched_branch_equals_the_new_sampler_run_by_hand_from_the_kept_latents(text_engine, parent, child):
    model = text_engine.model
    config = model.scheduler_config
    parent_req = _request(parent)
    _, kept = _run(model, parent_req)
    k = 2
    child_req = replace(_request(child, "a blue dog"), settings=replace(parent_req.settings, sampler=child))
    branched, _ = _run(model, child_req, branch_resume(model, BranchOrigin(parent_req, k), child_req, kept))

    timesteps = kept.timesteps
    latents = kept.step(k).latents
    first = k + 1
    if child == "euler":
        scheduler = EulerDiscreteScheduler.from_config(make_scheduler("euler", config).config)
        scheduler.set_timesteps(timesteps=timesteps.tolist())
        scheduler.set_begin_index(first)
        start = latents * _sigma_scale(scheduler, first)
    elif child == "dpmpp_2m":
        scheduler = DPMSolverMultistepScheduler.from_config(make_scheduler("dpmpp_2m", config).config)
        scheduler.set_timesteps(timesteps=timesteps.tolist())
        scheduler.set_begin_index(first)
        start = latents
    else:  # DDIM: diffusers' own "leading" list for the same step count is the parent Euler's list
        scheduler = DDIMScheduler.from_config(config)
        scheduler.set_timesteps(len(timesteps))
        assert torch.equal(scheduler.timesteps.float(), timesteps.float())
        euler = EulerDiscreteScheduler.from_config(config)
        euler.set_timesteps(len(timesteps))
        start = latents / _sigma_scale(euler, first)
    reference = _by_hand(model, child_req, scheduler, start, first)
    assert torch.equal(branched, reference)


def test_the_parent_steps_before_the_branch_are_kept_and_the_recipe_remakes_the_switch(text_engine, tmp_path):
    model = text_engine.model
    parent = _request("ddim")
    _, kept = _run(model, parent)
    child = replace(parent, settings=replace(parent.settings, sampler="euler"))
    origin = BranchOrigin(parent, 3)
    branched, child_kept = _run(model, child, branch_resume(model, origin, child, kept))
    assert len(child_kept) == len(kept) - 4 and torch.equal(child_kept.timesteps, kept.timesteps)

    entry = branch_recipe_entry(origin, child, {"version": 1, **_parent_recipe(model, parent)})
    assert entry["changed"]["sampler"] == ["ddim", "euler"]
    [file] = save_images(np.zeros((1, 64, 64, 3), np.uint8), child, model.info, tmp_path, device="cpu",
                         extra_recipe={"branch": entry})
    restored = read_png_recipe(file)
    assert restored.settings.sampler == "euler"
    again = origin_from_recipe(restored.recipe)
    remade, _ = _run(model, restored.request(), branch_resume(model, again, restored.request()))  # parent re-run
    assert torch.equal(remade, branched)


def _parent_recipe(model, request):
    from ldm_studio.core.files.recipe import build_recipe

    recipe = build_recipe(request, model.info, 0, model_hash="x", device="cpu")
    recipe.pop("version")
    return recipe


@pytest.mark.parametrize(
    ("parent", "child", "message"),
    [
        ("ddim", "plms", "cannot switch to PLMS"),
        ("ddim", "heun", "cannot switch to Heun"),
        ("ddim", "dpmpp_2m_karras", "DPM\\+\\+ 2M Karras"),
        ("ddim", "lcm", "LCM"),
        ("heun", "euler", "keeps Heun"),
        ("plms", "ddim", "keeps PLMS"),
    ],
)
def test_refused_switches_name_the_sampler(text_engine, parent, child, message):
    model = text_engine.model
    parent_req = _request(parent)
    child_req = replace(parent_req, settings=replace(parent_req.settings, sampler=child))
    with pytest.raises(RequestError, match=message):
        branch_resume(model, BranchOrigin(parent_req, 2), child_req)


def test_ddim_refuses_unevenly_spaced_parent_timesteps(text_engine):
    model = text_engine.model
    parent = replace(_request("euler"), settings=replace(_request("euler").settings, sampler="euler_trailing", steps=7))
    _, kept = _run(model, parent)
    child = replace(parent, settings=replace(parent.settings, sampler="ddim"))
    with pytest.raises(RequestError, match="equal strides"):
        _run(model, child, branch_resume(model, BranchOrigin(parent, 2), child, kept))


@pytest.mark.parametrize("child", ["euler_a", "unipc", "euler_trailing"])
def test_other_targets_continue_the_parent_timesteps(text_engine, child):
    model = text_engine.model
    parent = _request("dpmpp_2m")
    original, kept = _run(model, parent)
    switched = replace(parent, settings=replace(parent.settings, sampler=child))
    latents, trajectory = _run(model, switched, branch_resume(model, BranchOrigin(parent, 2), switched, kept))
    assert [s.timestep for s in trajectory.steps] == [float(t) for t in kept.timesteps[3:]]
    assert torch.isfinite(latents).all() and not torch.equal(latents, original)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


# Measured on the demo model ("a red ball on the beach", 30 DDIM steps, guidance 2; PSNR of the decoded image
# against the unswitched continuation), branch after step 16 / step 6:
#   seed 3: Euler 50.2 / 50.2 dB (DDIM with eta 0 is Euler in σ space), DPM++ 2M 40.9 / 39.0, UniPC 40.8 / 38.7,
#           Euler a 21.3 / 11.6 (fresh noise every step); another seed from the start: 8.9 dB
#   seed 8: Euler 49.8 / 49.8, DPM++ 2M 40.2 / 27.0, UniPC 40.0 / 25.8, Euler a 17.3 / 9.1; another seed 9.5 dB
@pytest.mark.slow
@pytest.mark.skipif(demo_model_path() is None, reason="this install has no demo model")
def test_a_switched_branch_is_a_plausible_continuation_on_the_demo_model():
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    engine = Engine(choose_device("cpu"))
    engine.load(demo_model_path(), warm_up=False)
    model = engine.model
    parent = GenerationRequest(
        TextCondition("a red ball on the beach"), SamplerSettings(sampler="ddim", steps=30, guidance=2.0, seed=3)
    )
    _, kept = _run(model, parent)
    origin = BranchOrigin(parent, 15)
    same, _ = _run(model, parent, branch_resume(model, origin, parent, kept))

    def image(latents):
        return (model.decode(latents).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)

    reference = image(same)
    for child, bound in (("euler", 45.0), ("dpmpp_2m", 35.0)):
        switched_req = replace(parent, settings=replace(parent.settings, sampler=child))
        switched, _ = _run(model, switched_req, branch_resume(model, origin, switched_req, kept))
        assert _psnr(image(switched), reference) > bound, child
    other, _ = _run(model, replace(parent, settings=replace(parent.settings, seed=103)))
    assert _psnr(image(other), reference) < 15.0
