"""The contract every registered family keeps, run on each family's tiny model.

Like diffusers' PipelineTesterMixin: registering a family and its tiny builder
(`ldm_studio.testing.family_models`) is all it takes to be tested here.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ldm_studio.cli import main
from ldm_studio.core.batch.spec import BatchSpec, Row, row_request
from ldm_studio.core.errors import Cancelled
from ldm_studio.core.families.registry import families
from ldm_studio.core.files.outputs import save_images
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.conditions import condition_from_values
from ldm_studio.core.generation.previews import PreviewPolicy
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
from ldm_studio.core.generation.samplers import SAMPLER_NAMES
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.family_models import TINY

FAMILIES = sorted(families())


def test_every_registered_family_has_a_tiny_model():
    assert set(FAMILIES) <= set(TINY), f"no tiny builder for {sorted(set(FAMILIES) - set(TINY))}"


@pytest.fixture(scope="module", params=FAMILIES)
def loaded(request, tmp_path_factory):
    """(engine, info, named inputs) on the family's tiny model, loaded once per family."""
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    tiny = TINY[request.param]
    folder = tiny.write(tmp_path_factory.mktemp(request.param) / "model")
    scratch = tmp_path_factory.mktemp(f"{request.param}-inputs")
    engine = Engine(choose_device("cpu"))
    engine.load(folder, warm_up=False)
    return engine, read_model_info(folder), tiny.inputs(scratch), tiny


def make_request(info, inputs, tiny, **settings) -> GenerationRequest:
    base = {"steps": 2, "guidance": 2.0, "seed": 5, "width": tiny.size, "height": tiny.size}
    return GenerationRequest(condition_from_values(info, inputs), SamplerSettings(**{**base, **settings}))


def test_loads_as_its_registered_class(loaded):
    engine, info, _, _ = loaded
    spec = families()[info.family]
    assert isinstance(engine.model, spec.model_class)
    assert engine.model.info.family == spec.name
    assert all((info.path / part).is_dir() for part in spec.components)


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_samples_with_every_sampler(loaded, sampler):
    engine, info, inputs, tiny = loaded
    result = engine.generate(make_request(info, inputs, tiny, sampler=sampler))
    assert result.images.shape == (1, tiny.size, tiny.size, 3) and result.images.dtype == np.uint8
    assert result.images.std() > 0  # not a blank picture


def test_image_i_of_a_batch_is_image_seed_plus_i_alone(loaded):
    engine, info, inputs, tiny = loaded
    request = make_request(info, inputs, tiny, batch_size=2)
    batch = engine.generate(request).images
    for i in range(2):
        assert np.array_equal(batch[i], engine.generate(request.for_image(i)).images[0])


def test_cancel_stops_before_the_next_step(loaded):
    engine, info, inputs, tiny = loaded
    cancel = threading.Event()
    seen = []

    def on_step(event):
        seen.append(event.index)
        cancel.set()

    with pytest.raises(Cancelled):
        engine.generate(make_request(info, inputs, tiny, steps=5), cancel=cancel, on_step=on_step)
    assert seen == [0]


def test_recipe_round_trip_remakes_the_same_pixels(loaded, tmp_path):
    engine, info, inputs, tiny = loaded
    request = make_request(info, inputs, tiny, batch_size=2)
    images = engine.generate(request).images
    paths = save_images(images, request, info, tmp_path, device="cpu")
    restored = read_png_recipe(paths[1])
    again = restored.request()
    assert again.condition == request.for_image(1).condition
    assert np.array_equal(engine.generate(again).images[0], images[1])


def test_batch_row_round_trip(loaded, tmp_path):
    _, info, inputs, tiny = loaded
    row = Row(1, {**{k: (str(v) if hasattr(v, "parent") else v) for k, v in inputs.items()}, "steps": 2})
    spec = BatchSpec(source=tmp_path / "spec.json", rows=[row])
    request = row_request(row, spec, info, base_seed=0)
    assert request.condition == make_request(info, inputs, tiny).condition


def test_previews_every_step(loaded):
    engine, info, inputs, tiny = loaded
    events = []
    engine.generate(make_request(info, inputs, tiny, steps=3), preview=PreviewPolicy("cheap"), on_step=events.append)
    assert len(events) == 3 and all(e.preview is not None and e.preview.dtype == np.uint8 for e in events)


def test_cli_generate_writes_the_image(loaded, tmp_path, capsys):
    _, info, inputs, tiny = loaded
    args = ["generate", "--model", str(info.path), "--steps", "2", "--seed", "3", "--out", str(tmp_path), "--quiet"]
    args += ["--width", str(tiny.size), "--height", str(tiny.size)]
    for name, value in inputs.items():
        for item in value if isinstance(value, list) else [value]:
            args += [f"--{name}", str(item)]
    assert main(args) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 1 and read_png_recipe(written[0]).request().condition == make_request(
        info, inputs, tiny
    ).condition
