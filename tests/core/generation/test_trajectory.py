"""The denoising timeline: kept steps, the memory budget, branching (bit for bit), recipes, export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_studio.core.errors import RequestError
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.previews import PreviewPolicy
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.samplers import SAMPLER_NAMES
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.generation.trajectory import (
    MB,
    BranchOrigin,
    Trajectory,
    TrajectoryStore,
    branch_recipe_entry,
    branch_resume,
    export_frames,
    image_sha256,
    origin_from_recipe,
)


def request(prompt="a red cat", **settings) -> GenerationRequest:
    base = {"steps": 6, "width": 64, "height": 64, "seed": 11, "guidance": 3.0}
    base.update(settings)
    return GenerationRequest(TextCondition(prompt), SamplerSettings(**base))


def run(model, req, key=1, resume=None, preview=None) -> tuple[torch.Tensor, Trajectory]:
    trajectory = Trajectory(key, req)
    last = None
    for last in denoise(model, req, resume=resume, preview=preview):
        trajectory.record(last)
    return last.latents, trajectory


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_branch_with_nothing_changed_is_the_original_bit_for_bit(text_engine, sampler):
    """Every sampler: the kept scheduler history and generator state continue the run exactly."""
    model = text_engine.model
    req = request(sampler=sampler, eta=0.7 if sampler == "ddim" else 0.0)
    original, kept = run(model, req)
    for k in (0, 2, len(kept) - 2):
        branched, _ = run(model, req, resume=kept.resume_point(k))
        assert torch.equal(branched, original), f"{sampler} branched at step {k + 1}"


def test_branch_changes_the_image_and_a_new_seed_means_fresh_noise(text_engine):
    model = text_engine.model
    req = request(sampler="euler_a")
    original, kept = run(model, req)
    origin = BranchOrigin(req, 2)
    other_prompt = GenerationRequest(TextCondition("a blue dog"), req.settings)
    changed, _ = run(model, other_prompt, resume=branch_resume(model, origin, other_prompt, kept))
    assert not torch.equal(changed, original)
    new_seed = replace(req, settings=replace(req.settings, seed=99))
    point = branch_resume(model, origin, new_seed, kept)
    assert point.generators is None
    reseeded, _ = run(model, new_seed, resume=point)
    assert not torch.equal(reseeded, original)
    # the kept steps up to the branch point are shared: the composition is kept
    assert point.latents.shape == original.shape


def test_branch_of_a_batch_image_continues_that_image(text_engine):
    model = text_engine.model
    batch = request(batch_size=3, sampler="dpmpp_2m")
    originals, kept = run(model, batch)
    single = batch.for_image(1)
    branched, _ = run(model, single, resume=kept.resume_point(2, image=1))
    # batch vs single image differ by float rounding only (as the unbranched run does)
    assert (branched[0] - originals[1]).abs().max().item() <= 1e-5


def test_branch_without_the_kept_trajectory_reruns_the_parent_exactly(text_engine):
    model = text_engine.model
    req = request(sampler="dpmpp_2m")
    original, kept = run(model, req)
    origin = BranchOrigin(req, 3)
    rerun = branch_resume(model, origin, req, kept=None)
    from_kept = branch_resume(model, origin, req, kept=kept)
    assert torch.equal(rerun.latents, from_kept.latents)
    branched, _ = run(model, req, resume=rerun)
    assert torch.equal(branched, original)


def test_branch_must_keep_the_schedule(text_engine):
    model = text_engine.model
    req = request()
    _, kept = run(model, req)
    for change in ({"steps": 8}, {"sampler": "plms"}, {"width": 128}, {"batch_size": 2}):
        child = replace(req, settings=replace(req.settings, **change))
        with pytest.raises(RequestError, match=next(iter(change))):
            branch_resume(model, BranchOrigin(req, 2), child, kept)
    with pytest.raises(RequestError, match="branch step"):
        run(model, req, resume=replace(kept.resume_point(2), index=len(kept)))


def test_a_branch_recipe_names_its_parent_and_remakes_the_branch(text_engine, tmp_path):
    """A branch of a branch, saved, read back and re-made from the recipe alone (parents re-run)."""
    model = text_engine.model
    info = model.info
    parent = request(sampler="ddim")
    parent_latents, parent_kept = run(model, parent)
    parent_image = (model.decode(parent_latents).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    [parent_file] = save_images(parent_image, parent, info, tmp_path, device="cpu")
    parent_recipe = read_png_recipe(parent_file).recipe

    child = GenerationRequest(TextCondition("a blue dog"), replace(parent.settings, guidance=6.0))
    origin = BranchOrigin(parent, 2, 0, image_sha256(parent_image[0]))
    child_latents, child_kept = run(model, child, key=2, resume=branch_resume(model, origin, child, parent_kept))
    child_image = (model.decode(child_latents).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    entry = branch_recipe_entry(origin, child, parent_recipe)
    [child_file] = save_images(child_image, child, info, tmp_path, device="cpu", extra_recipe={"branch": entry})

    grandchild = GenerationRequest(TextCondition("a green bird"), child.settings)
    child_recipe = read_png_recipe(child_file).recipe
    g_origin = BranchOrigin(child, 4, 0, image_sha256(child_image[0]), origin)
    g_latents, _ = run(model, grandchild, resume=branch_resume(model, g_origin, grandchild, child_kept))
    g_entry = branch_recipe_entry(g_origin, grandchild, child_recipe)
    assert g_entry["changed"]["condition"][1]["prompt"] == "a green bird"
    [g_file] = save_images(
        np.zeros((1, 64, 64, 3), np.uint8), grandchild, info, tmp_path, device="cpu", extra_recipe={"branch": g_entry}
    )

    restored = read_png_recipe(g_file)
    assert restored.recipe["branch"]["step"] == 4
    assert restored.recipe["branch"]["parent_sha256"] == image_sha256(child_image[0])
    assert restored.recipe["branch"]["parent"]["branch"]["changed"]["guidance"] == [3.0, 6.0]
    again = origin_from_recipe(restored.recipe)
    assert again.parent_origin is not None and again.parent_origin.step == 2
    remade, _ = run(model, restored.request(), resume=branch_resume(model, again, restored.request()))
    assert torch.equal(remade, g_latents)


def test_kept_steps_hold_latents_x0_state_and_thumbnails(text_engine):
    model = text_engine.model
    req = request(batch_size=2, sampler="dpmpp_2m")
    _, kept = run(model, req, preview=PreviewPolicy("cheap"))
    assert len(kept) == kept.total == 6
    step = kept.step(3)
    assert step.latents.shape == step.x0.shape == (2, 4, 8, 8)
    assert step.latents.device.type == "cpu" and step.latents.dtype == model.dtype
    assert step.thumbnail.shape == (2, 8, 8, 3) and step.thumbnail.dtype == np.uint8
    assert len(step.generators) == 2 and "model_outputs" in step.scheduler
    # DPM++ 2M draws no noise after the start: one generator state per image for the whole run
    assert all(kept.step(i).generators[0] is step.generators[0] for i in range(len(kept)))
    shared = sum(g.nbytes for g in step.generators) * (len(kept) - 1)
    assert kept.nbytes == sum(kept.step(i).nbytes for i in range(len(kept))) - shared


def test_store_budget_drops_oldest_tensors_first_and_keeps_thumbnails(text_engine):
    model = text_engine.model
    req = request(steps=5)
    store = TrajectoryStore(budget_mb=1024)
    for key in range(1, 4):
        trajectory = store.start(key, req)
        for event in denoise(model, req, preview=PreviewPolicy("cheap")):
            trajectory.record(event)
    one_job = store.get(3).nbytes
    store.set_budget_mb((one_job * 2.5) / MB)
    assert store.nbytes <= store.budget
    assert not store.get(1).has_tensors and store.get(1).thumbnail(4) is not None
    assert store.get(2).has_tensors and store.get(3).has_tensors
    with pytest.raises(RequestError, match="no longer kept"):
        store.get(1).resume_point(2)
    # a budget below the thumbnails alone: the oldest trajectories go, the newest keeps its thumbnails
    store.set_budget_mb(1 / MB)
    assert store.jobs() == [3] and not store.get(3).has_tensors and len(store.get(3)) == 5


def test_budget_holds_while_jobs_run(text_engine):
    """Twenty jobs through a small store: never over budget after a step; every job still scrubbable."""
    model = text_engine.model
    req = request(steps=10)
    store = TrajectoryStore()
    first = store.start(0, req)
    for event in denoise(model, req, preview=PreviewPolicy("cheap")):
        first.record(event)
    store.set_budget_mb(3 * first.nbytes / MB)  # about three jobs' worth
    peak = 0
    for key in range(1, 20):
        trajectory = store.start(key, req)
        for event in denoise(model, req, preview=PreviewPolicy("cheap")):
            trajectory.record(event)
            peak = max(peak, store.nbytes)
    assert peak <= store.budget
    # the newest jobs keep their tensors, the older ones their thumbnails (all counted in the budget)
    with_tensors = [k for k in store.jobs() if store.get(k).has_tensors]
    assert with_tensors and with_tensors == store.jobs()[-len(with_tensors) :] and 19 in with_tensors
    assert not store.get(1).has_tensors and store.get(1).thumbnail(0) is not None


def test_export_gif_webp_and_png_strip(text_engine, tmp_path):
    _, kept = run(text_engine.model, request(steps=5), preview=PreviewPolicy("cheap"))
    frames = kept.frames(size=(64, 64))
    assert len(frames) == 5 and frames[0].shape == (64, 64, 3)
    for name in ("t.gif", "t.webp"):
        path = export_frames(frames, tmp_path / name)
        with Image.open(path) as image:
            assert image.is_animated and image.n_frames == 5 and image.size == (64, 64)
    with Image.open(export_frames(frames, tmp_path / "t.png")) as strip:
        assert strip.size == (5 * 64, 64)
    with pytest.raises(RequestError, match="mp4"):
        export_frames(frames, tmp_path / "t.mp4")
