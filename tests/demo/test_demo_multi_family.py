"""The "multi" family: every input alone, together or not at all, each missing one replaced by its null input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families import get_family
from ldm_studio.core.families.ldm_multi import MultiConditionModel
from ldm_studio.core.generation.conditions import condition_from_inputs
from ldm_studio.core.generation.requests import (
    ClassCondition,
    CombinedCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.demo import architecture as arch
from ldm_studio.demo.scenes import LABELS, generate_scenes

SEA, SAND = LABELS["sea"], LABELS["sand"]
TOKENS = 1 + arch.MAX_TOKENS


def half_map() -> np.ndarray:
    m = np.full((64, 64), SEA, dtype=np.int64)
    m[:, 32:] = SAND
    return m


def request(condition, batch: int = 2, guidance: float = 4.0) -> GenerationRequest:
    return GenerationRequest(
        condition, SamplerSettings(steps=2, guidance=guidance, batch_size=batch, width=64, height=64, seed=0)
    )


def encode(engine, condition, batch: int = 2, guided: bool = True):
    return engine.model.encode(condition, batch, guided, request(condition, batch))


def test_family_is_registered_with_its_components(untrained_multi_model):
    assert get_family("multi").model_class is MultiConditionModel
    assert get_family("multi").components == ("unet", "scheduler", "bert", "tokenizer", "cond_stage")
    info = read_model_info(untrained_multi_model)
    assert info.family == "multi" and info.null_class == 8 and info.class_names[3] == "snowfield"
    assert info.latent_factor == 4 and info.latent_channels == 3 and info.resolution == 64


def test_all_three_together_shapes(untrained_multi):
    c = CombinedCondition(TextCondition("a snowy field"), ClassCondition((3,)), SemanticMapCondition(half_map()))
    out = encode(untrained_multi, c, batch=3)
    assert out.cond.context.shape == (3, TOKENS, arch.CONTEXT_DIM)
    assert out.cond.concat.shape == (3, 3, 16, 16)
    assert out.uncond.context.shape == out.cond.context.shape and out.uncond.concat.shape == out.cond.concat.shape


def test_unconditional_input_is_all_three_null(untrained_multi):
    model = untrained_multi.model
    c = CombinedCondition(TextCondition("a snowy field"), ClassCondition((3,)), SemanticMapCondition(half_map()))
    un = encode(untrained_multi, c).uncond
    assert torch.equal(un.concat, torch.zeros_like(un.concat))
    assert torch.allclose(un.context[:, :1], model.embed_classes([8, 8]))
    assert torch.allclose(un.context[:, 1:], model.embed_text("").expand(2, -1, -1))
    none = encode(untrained_multi, UnconditionalCondition()).cond
    assert torch.equal(none.context, un.context) and torch.equal(none.concat, un.concat)


@pytest.mark.parametrize("part", ["text", "label", "semantic"])
def test_each_input_alone_sets_only_its_own_part(untrained_multi, part):
    model = untrained_multi.model
    inputs = {"text": TextCondition("a dense forest"), "label": ClassCondition((1,)), "semantic": None}
    inputs["semantic"] = SemanticMapCondition(half_map())
    alone = inputs[part]
    cond = encode(untrained_multi, alone).cond
    same_as_combined = encode(untrained_multi, CombinedCondition(**{part: alone})).cond
    assert torch.equal(cond.context, same_as_combined.context) and torch.equal(cond.concat, same_as_combined.concat)
    null = encode(untrained_multi, UnconditionalCondition()).cond
    differs = {
        "label": not torch.allclose(cond.context[:, :1], null.context[:, :1]),
        "text": not torch.allclose(cond.context[:, 1:], null.context[:, 1:]),
        "semantic": not torch.allclose(cond.concat, null.concat),
    }
    assert differs == {k: k == part for k in differs}
    assert model.has_unconditional


def test_negative_prompt_replaces_the_empty_prompt(untrained_multi):
    model = untrained_multi.model
    un = encode(untrained_multi, TextCondition("a lake", negative="sand")).uncond
    assert torch.allclose(un.context[:, 1:], model.embed_text("sand").expand(2, -1, -1))


def test_unguided_has_no_uncond_and_classes_per_image(untrained_multi):
    model = untrained_multi.model
    out = encode(untrained_multi, ClassCondition((0, 5)), batch=2, guided=False)
    assert out.uncond is None
    assert torch.allclose(out.cond.context[:, 0], model.embed_classes([0, 5])[:, 0])


def test_bad_inputs_are_named(untrained_multi):
    with pytest.raises(RequestError, match="class"):
        encode(untrained_multi, ClassCondition((8,)))
    with pytest.raises(RequestError, match="map"):
        encode(untrained_multi, SemanticMapCondition(half_map(), label_set="ade20k-150"))
    with pytest.raises(RequestError, match="map"):
        encode(untrained_multi, SemanticMapCondition(np.full((8, 8), 190)))


def test_inference_map_features_match_the_training_shortcut(untrained_multi):
    model = untrained_multi.model
    maps = generate_scenes(4, seed=2).maps
    fast = arch.map_features_fast(model.rescaler, torch.from_numpy(maps))
    real = torch.cat([model.map_features(m, 64, 64) for m in maps])
    assert torch.allclose(fast, real, atol=1e-5)


def test_conditions_from_named_inputs(untrained_multi_model, tmp_path):
    from PIL import Image

    info = read_model_info(untrained_multi_model)
    path = tmp_path / "map.png"
    Image.fromarray(half_map().astype(np.uint8), mode="L").save(path)
    c = condition_from_inputs(info, prompt="a lake", classes=["snowfield"], map_path=path)
    assert isinstance(c, CombinedCondition) and c.label.class_ids == (3,) and c.text.prompt == "a lake"
    assert np.array_equal(c.semantic.label_map, half_map())
    assert isinstance(condition_from_inputs(info), UnconditionalCondition)


@pytest.mark.parametrize(
    "condition",
    [
        UnconditionalCondition(),
        TextCondition("a calm lake"),
        ClassCondition((2,)),
        SemanticMapCondition(half_map()),
        CombinedCondition(TextCondition("a lake"), ClassCondition((4,)), SemanticMapCondition(half_map())),
    ],
)
def test_engine_generates_from_any_subset(untrained_multi, condition):
    result = untrained_multi.generate(request(condition, batch=1))
    assert result.images.shape == (1, 64, 64, 3) and result.images.dtype == np.uint8


def test_default_condition_runs(untrained_multi):
    model = untrained_multi.model
    result = untrained_multi.generate(request(model.default_condition(), batch=1))
    assert result.images.shape == (1, 64, 64, 3)
