"""Request values check themselves and name the field that is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
)
from ldm_studio.core.models.model_folder import read_model_info


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("steps", 2.5),
        ("guidance", -1.0),
        ("guidance", float("nan")),
        ("eta", -0.1),
        ("sampler", "k_lms_unknown"),
        ("batch_size", 0),
        ("seed", -1),
        ("seed", True),
        ("width", 0),
    ],
)
def test_invalid_settings_name_their_field(field, value):
    with pytest.raises(RequestError) as info:
        SamplerSettings(**{field: value})
    assert info.value.field == field
    assert field in str(info.value)


def test_size_must_be_a_multiple_of_the_latent_factor(tiny_text_model):
    info = read_model_info(tiny_text_model)
    GenerationRequest(TextCondition("x"), SamplerSettings(width=64, height=72)).check_for(info)
    with pytest.raises(RequestError, match="height: 60 is not a multiple of the model's latent factor 8"):
        GenerationRequest(TextCondition("x"), SamplerSettings(width=64, height=60)).check_for(info)


def test_condition_must_fit_the_family(tiny_text_model):
    info = read_model_info(tiny_text_model)
    with pytest.raises(RequestError) as err:
        GenerationRequest(ClassCondition((3,)), SamplerSettings(width=64, height=64)).check_for(info)
    assert err.value.field == "condition"


def test_conditions_validate_their_inputs():
    with pytest.raises(RequestError, match="prompt"):
        TextCondition(None)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="class"):
        ClassCondition(())
    with pytest.raises(RequestError, match="class"):
        ClassCondition((-1,))
    with pytest.raises(RequestError, match="map"):
        SemanticMapCondition(np.zeros((2, 2, 3), dtype=np.int64))
    with pytest.raises(RequestError, match="map"):
        SemanticMapCondition(np.zeros((2, 2), dtype=np.float32))
    assert ClassCondition((1,)).for_batch(3) == (1, 1, 1)


def test_semantic_map_is_frozen_copy():
    source = np.zeros((4, 4), dtype=np.uint8)
    cond = SemanticMapCondition(source)
    source[0, 0] = 5
    assert cond.label_map[0, 0] == 0
    assert not cond.label_map.flags.writeable
