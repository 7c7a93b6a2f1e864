"""The one sampling loop: equivalence with diffusers, seeds, samplers, cancel, guidance inputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ldm_studio.core.errors import Cancelled
from ldm_studio.core.generation.previews import PreviewPolicy
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.samplers import SAMPLER_NAMES
from ldm_studio.core.generation.sampling import denoise, generators_for, initial_noise, sample
from ldm_studio.testing.tiny_models import diffusers_text_pipeline


def request(prompt="a red cat", negative="", **settings) -> GenerationRequest:
    base = {"steps": 6, "width": 64, "height": 64, "seed": 11}
    base.update(settings)
    return GenerationRequest(TextCondition(prompt, negative), SamplerSettings(**base))


@pytest.mark.parametrize("guidance", [1.0, 5.0])
def test_engine_equals_diffusers_ldm_pipeline(text_engine, guidance):
    model = text_engine.model
    req = request(guidance=guidance, steps=8, batch_size=2, sampler="ddim")
    ours = sample(model, req)

    pipe = diffusers_text_pipeline(model)
    noise = initial_noise(model.latent_shape(req), generators_for(req.settings.seed, 2), model.device, model.dtype)
    theirs = pipe(
        ["a red cat"] * 2,
        height=64,
        width=64,
        num_inference_steps=8,
        guidance_scale=guidance,
        eta=0.0,
        latents=noise,
        output_type="pt",
    ).images
    assert ours.shape == theirs.shape == (2, 3, 64, 64)
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_same_seed_same_image(text_engine):
    a = sample(text_engine.model, request(seed=5))
    b = sample(text_engine.model, request(seed=5))
    c = sample(text_engine.model, request(seed=6))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


@pytest.mark.parametrize(("sampler", "eta"), [("ddim", 0.0), ("ddim", 1.0), ("euler_a", 0.0), ("dpmpp_2m", 0.0)])
def test_batch_image_i_equals_single_image_with_seed_plus_i(text_engine, sampler, eta):
    """Per-image generators make image i independent of the batch, ancestral samplers included."""
    model = text_engine.model
    batch = sample(model, request(seed=100, batch_size=4, sampler=sampler, eta=eta, guidance=3.0))
    for i in range(4):
        single = sample(model, request(seed=100 + i, batch_size=1, sampler=sampler, eta=eta, guidance=3.0))
        assert (batch[i] - single[0]).abs().max().item() <= 1e-5, f"image {i}"


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs_to_the_end(text_engine, sampler):
    events = list(denoise(text_engine.model, request(sampler=sampler, steps=4, eta=0.3)))
    assert events, sampler
    assert [e.index for e in events] == list(range(events[0].total))
    assert events[-1].is_last
    for e in events:
        assert e.x0.shape == e.latents.shape == (1, 4, 8, 8)
        assert torch.isfinite(e.x0).all() and torch.isfinite(e.latents).all()
    image = text_engine.model.decode(events[-1].latents)
    assert torch.isfinite(image).all()


def test_cancel_stops_within_one_step(text_engine):
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled) as info:
        for event in denoise(text_engine.model, request(steps=10), cancel=cancel):
            seen.append(event.index)
            if event.index == 2:
                cancel.set()
    assert seen == [0, 1, 2]
    assert info.value.step == 3


def test_negative_prompt_changes_the_image(text_engine):
    plain = sample(text_engine.model, request(guidance=5.0))
    negative = sample(text_engine.model, request(guidance=5.0, negative="blurry ugly"))
    assert (plain - negative).abs().max() > 1e-3


def test_negative_prompt_replaces_the_empty_prompt(text_engine):
    """With guidance, negative "" is exactly the original unconditional input."""
    model = text_engine.model
    cond = model.encode(TextCondition("a cat", ""), 1, True, request())
    assert torch.equal(cond.uncond.context, model.embed(""))
    cond = model.encode(TextCondition("a cat", "a dog"), 1, True, request())
    assert torch.equal(cond.uncond.context, model.embed("a dog"))


def test_guidance_one_skips_the_unconditional_half(text_engine, monkeypatch):
    model = text_engine.model
    batches = []
    original = model.predict_noise

    def spy(x, t, cond):
        batches.append(x.shape[0])
        return original(x, t, cond)

    monkeypatch.setattr(model, "predict_noise", spy)
    list(denoise(model, request(guidance=1.0, steps=2, batch_size=2)))
    list(denoise(model, request(guidance=4.0, steps=2, batch_size=2)))
    assert batches == [1, 1, 1, 1, 2, 2, 2, 2]  # on the CPU: image by image, each with its guidance pair
    batches.clear()
    monkeypatch.setattr(type(model), "batch_invariant", property(lambda self: False))  # as on a GPU
    list(denoise(model, request(guidance=1.0, steps=2, batch_size=2)))
    list(denoise(model, request(guidance=4.0, steps=2, batch_size=2)))
    assert batches == [2, 2, 4, 4]


def test_image_of_a_batch_is_bit_identical_to_it_alone(text_engine):
    """Kernels choose their blocking by batch size; the CPU path runs image by image so recipes remake exactly."""
    req = request(guidance=5.0, steps=3, batch_size=3)
    batch = text_engine.generate(req).images
    for i in range(3):
        assert np.array_equal(batch[i], text_engine.generate(req.for_image(i)).images[0])


def test_every_step_carries_x0_and_previews_follow_the_policy(text_engine):
    events = list(denoise(text_engine.model, request(steps=5), preview=PreviewPolicy("cheap", every=2)))
    rendered = [e.index for e in events if e.preview is not None]
    assert rendered == [1, 3, 4]
    assert events[1].preview.shape == (1, 8, 8, 3)
    full = list(denoise(text_engine.model, request(steps=2), preview=PreviewPolicy("full")))
    assert full[0].preview.shape == (1, 64, 64, 3)
    none = list(denoise(text_engine.model, request(steps=2), preview=PreviewPolicy("none")))
    assert all(e.preview is None for e in none)


@pytest.mark.parametrize("steps", [20, 30, 7, 3])
def test_ddim_uses_the_original_compvis_timesteps(steps):
    """range(0, 1000, 1000 // S) + 1, descending: 31 steps for S=30 as in the original sampler."""
    from ldm_studio.core.generation.samplers import make_scheduler, set_timesteps
    from ldm_studio.testing.tiny_models import compvis_text_scheduler

    scheduler = make_scheduler("ddim", dict(compvis_text_scheduler().config))
    set_timesteps(scheduler, steps)
    expected = [t + 1 for t in range(0, 1000, 1000 // steps)][::-1]
    assert scheduler.timesteps.tolist() == [t for t in expected if t < 1000]
    # each step moves by 1000 // S, and the last one lands on alphas_cumprod[0]
    prev = scheduler.timesteps[-1].item() - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    assert prev < 0 and scheduler.final_alpha_cumprod == scheduler.alphas_cumprod[0]


def test_low_memory_decode_matches_and_is_the_out_of_memory_retry(text_engine, monkeypatch):
    """An out-of-memory decode is retried one image at a time (tiled for KL); the pixels barely move."""
    model = text_engine.model
    latents = next(iter(denoise(model, request(steps=1, batch_size=2)))).latents
    full = model.decode(latents)
    low = model.decode(latents, low_memory=True)
    assert (full - low).abs().max() < 1e-4  # 64 px is below the tile size: tiling is a no-op here

    real = model.decode
    calls = []

    def fails_once(z, low_memory=False):
        calls.append(low_memory)
        if not low_memory:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(z, low_memory=True)

    monkeypatch.setattr(model, "decode", fails_once)
    assert torch.equal(text_engine.decode(latents), low)
    assert calls == [False, True]


def test_loop_runs_in_inference_mode_with_host_timesteps(text_engine, monkeypatch):
    """No per-step device reads: the scheduler's timesteps stay on the host, the U-Net's are moved once."""
    from ldm_studio.core.generation import sampling

    asked = []
    real = sampling.set_timesteps
    monkeypatch.setattr(sampling, "set_timesteps", lambda s, n, device=None: asked.append(device) or real(s, n, device))
    request = GenerationRequest(TextCondition("a cat"), SamplerSettings(steps=2, width=64, height=64, seed=1))
    events = list(sampling.denoise(text_engine.model, request))
    assert asked == ["cpu"]
    assert all(e.latents.is_inference() and isinstance(e.timestep, float) for e in events)
    assert not torch.is_inference_mode_enabled()  # not leaked to the caller between steps


def test_device_previews_hand_out_the_newest_landed_copy_without_waiting():
    class Copy:
        def __init__(self, value, landed):
            self.host, self.landed = torch.full((1,), value), landed

        def ready(self):
            return self.landed

    policy = PreviewPolicy("cheap")
    policy._pending = [Copy(1, True), Copy(2, True), Copy(3, False)]
    assert policy._latest_landed().tolist() == [2]  # 1 is older than 2: dropped
    assert policy._latest_landed() is None  # 3 has not landed: nothing, and no wait
    policy._pending[0].landed = True
    assert policy._latest_landed().tolist() == [3] and policy._pending == []
