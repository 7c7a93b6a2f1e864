"""Fixtures of the demo-model tests: an untrained demo-architecture folder and the shipped model's engine."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.core.models.demo_model import demo_model_path


@pytest.fixture(scope="session")
def untrained_multi_model(tmp_path_factory):
    """A "multi" model folder with the demo architecture and random weights (encode/shape tests)."""
    from ldm_studio.core.models.model_folder import write_model_info
    from ldm_studio.demo import architecture as arch
    from ldm_studio.demo.export import demo_model_info, save_components

    folder = tmp_path_factory.mktemp("models") / "untrained-multi"
    torch.manual_seed(0)
    tokenizer = arch.build_tokenizer(tmp_path_factory.mktemp("vocab"))
    cond = arch.Conditioner(len(tokenizer.vocab))
    with torch.no_grad():  # a rescaler that is not all zeros, so map features are visible
        cond.rescaler.channel_mapper.weight.normal_()
    save_components(folder, arch.build_vae(), arch.build_unet(), cond, tokenizer, scale=1.0)
    write_model_info(demo_model_info(folder, 1.0, {"made_by": "tests/demo/conftest.py"}, "test weights, random"))
    return folder


@pytest.fixture(scope="session")
def untrained_multi(untrained_multi_model):
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    engine = Engine(choose_device("cpu"))
    engine.load(untrained_multi_model, warm_up=False)
    return engine


@pytest.fixture(scope="session")
def demo_engine():
    """The shipped demo model on the CPU; the tests that need it skip when it is not installed."""
    path = demo_model_path()
    if path is None:
        pytest.skip("the shipped demo model (resources/demo_model) is absent: run `ldm-studio train-demo`")
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    engine = Engine(choose_device("cpu"))
    engine.load(path)
    return engine
