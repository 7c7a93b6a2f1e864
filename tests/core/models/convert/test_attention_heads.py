"""Head counts of the original U-Net's attention layers, as CompVis/latent-diffusion a506df5 computes them.

At a506df5 (the released HEAD) `UNetModel.__init__` has `#num_heads = 1` commented out in legacy
mode (commit 71ebe40): with `num_head_channels == -1` a SpatialTransformer has `num_heads` heads
of `ch // num_heads`, and an AttentionBlock `num_heads` heads in the input and middle blocks and
`num_heads_upsample` in the output blocks; its fused qkv is laid out per head (QKVAttentionLegacy).
The older a80ed79 forced one head; these tests fail if the converter regresses to that.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel, UNet2DModel

from ldm_studio.core.models.convert import convert_checkpoint
from ldm_studio.core.models.convert.config import Target
from ldm_studio.core.models.convert.unet import read_layout
from ldm_studio.core.models.unet_heads import apply_attention_heads
from ldm_studio.testing import compvis_checkpoints as cc
from ldm_studio.testing import compvis_reference as ref


def _unet_params(config):
    return config["model"]["params"]["unet_config"]["params"]


def test_heads_walk_the_a506df5_constructor():
    semantic = _unet_params(cc.semantic_config())  # num_heads 8, legacy default, mid attention only
    assert ref.attention_heads(semantic) == {"middle_block.1": 8}
    assert ref.attention_heads(semantic, one_head_legacy=True) == {"middle_block.1": 1}  # the old a80ed79
    spatial = {**_unet_params(cc.class_config()), "num_heads": 4}  # legacy SpatialTransformer keeps num_heads
    assert set(ref.attention_heads(spatial).values()) == {4}
    assert set(ref.attention_heads({**spatial, "legacy": False}).values()) == {4}
    blocks = {**_unet_params(cc.uncond_config()), "num_heads": 4, "num_heads_upsample": 2}
    del blocks["num_head_channels"]  # legacy AttentionBlocks: num_heads going down, num_heads_upsample going up
    heads = ref.attention_heads(blocks)
    assert heads["input_blocks.3.1"] == heads["middle_block.1"] == 4
    assert heads["output_blocks.0.1"] == heads["output_blocks.1.1"] == 2
    by_channels = ref.attention_heads(_unet_params(cc.uncond_config()))  # num_head_channels 16
    assert by_channels["input_blocks.3.1"] == by_channels["middle_block.1"] == 64 // 16


@pytest.mark.parametrize(
    "params",
    [
        _unet_params(cc.semantic_config()),
        _unet_params(cc.churches_config()),
        _unet_params(cc.inpaint_config()),
        {**_unet_params(cc.class_config()), "num_heads": 4},
        _unet_params(cc.text_config(64)),
        {**{k: v for k, v in _unet_params(cc.uncond_config()).items() if k != "num_head_channels"}, "num_heads": 4,
         "num_heads_upsample": 2},
    ],
)
def test_converter_heads_equal_the_reference_walk(params):
    layout = read_layout(Target(cc.UNET, params), Path("config.yaml"))
    walked = sorted(ref.attention_heads(params).values())
    assert sorted(heads for heads, _ in layout.attention_layers().values()) == walked


def _convert(tmp_path, config, seed=3):
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=seed)
    report = convert_checkpoint(config_path, ckpt, tmp_path / "out")
    folder = report.info.path / "unet"
    kind = json.loads((folder / "config.json").read_text())["_class_name"]
    cls = UNet2DConditionModel if kind == "UNet2DConditionModel" else UNet2DModel
    unet = cls.from_pretrained(folder).double().eval()
    apply_attention_heads(unet)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    return unet, ref.sampling_unet(state, config["model"]["params"])


def _inputs(p, context_len=0):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, p["in_channels"], 8, 8, generator=gen, dtype=torch.float64)
    ctx = None
    if context_len:
        ctx = torch.randn(2, context_len, p["context_dim"], generator=gen, dtype=torch.float64)
    return x, torch.tensor([999, 21]), ctx


def test_semantic_middle_attention_has_num_heads_heads(tmp_path):
    """The map painter's real model: a506df5 gives the middle AttentionBlock 8 heads, split head by head."""
    config = cc.semantic_config()
    p = _unet_params(config)
    unet, sd = _convert(tmp_path, config)
    assert unet.mid_block.attentions[0].heads == 8
    x, t, _ = _inputs(p)
    with torch.no_grad():
        got = unet(x, t).sample
    assert (got - ref.unet_forward(sd, p, x, t)).abs().max() < 1e-4
    one_head = ref.unet_forward(sd, p, x, t, heads=ref.attention_heads(p, one_head_legacy=True))
    assert (got - one_head).abs().max() > 1e-3  # the regression to a80ed79's single head is visible


def test_legacy_spatial_transformer_keeps_num_heads(tmp_path):
    config = cc.class_config()
    p = _unet_params(config)
    p["num_heads"] = 4
    unet, sd = _convert(tmp_path, config)
    assert {m.heads for n, m in unet.named_modules() if n.endswith(("attn1", "attn2"))} == {4}
    x, t, ctx = _inputs(p, context_len=1)
    with torch.no_grad():
        got = unet(x, t, encoder_hidden_states=ctx).sample
    assert (got - ref.unet_forward(sd, p, x, t, ctx)).abs().max() < 1e-4
    one_head = ref.unet_forward(sd, p, x, t, ctx, heads=ref.attention_heads(p, one_head_legacy=True))
    assert (got - one_head).abs().max() > 1e-3


def test_different_heads_up_and_down_are_kept_per_layer(tmp_path):
    """num_heads 4 going down, num_heads_upsample 2 going up: head sizes differ, so they are set per layer."""
    config = cc.uncond_config()
    p = _unet_params(config)
    del p["num_head_channels"]
    p.update(num_heads=4, num_heads_upsample=2)
    unet, sd = _convert(tmp_path, config)
    assert unet.down_blocks[1].attentions[0].heads == unet.mid_block.attentions[0].heads == 4
    assert unet.up_blocks[0].attentions[0].heads == 2
    x, t, _ = _inputs(p)
    with torch.no_grad():
        got = unet(x, t).sample
    assert (got - ref.unet_forward(sd, p, x, t)).abs().max() < 1e-4


def test_heads_survive_the_model_loader(tmp_path):
    """A plain diffusers load gives one head per layer; LDM Studio's loader applies the recorded counts."""
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model

    config_path, ckpt = cc.write_original(tmp_path / "orig", cc.churches_config(), seed=2)
    folder = convert_checkpoint(config_path, ckpt, tmp_path / "out").info.path
    assert UNet2DModel.from_pretrained(folder / "unet").mid_block.attentions[0].heads == 1
    model = load_model(folder, choose_device("cpu"))
    assert model.unet.mid_block.attentions[0].heads == 8
    assert model.unet.down_blocks[0].attentions[0].heads == 8


@pytest.mark.parametrize("new_order", [False, True])
def test_qkv_is_split_head_by_head_in_either_order(tmp_path, new_order):
    """QKVAttentionLegacy lays the fused qkv out as (heads, q/k/v, dim); QKVAttention as (q/k/v, heads, dim)."""
    config = cc.uncond_config()
    p = _unet_params(config)
    del p["num_head_channels"]
    p.update(num_heads=4, use_new_attention_order=new_order)
    unet, sd = _convert(tmp_path, config)
    x, t, _ = _inputs(p)
    with torch.no_grad():
        got = unet(x, t).sample
    assert (got - ref.unet_forward(sd, p, x, t)).abs().max() < 1e-4
    other = ref.unet_forward(sd, {**p, "use_new_attention_order": not new_order}, x, t)
    assert (got - other).abs().max() > 1e-3  # the two layouts differ once there are several heads


def test_channels_that_do_not_split_into_the_heads_are_refused(tmp_path):
    from ldm_studio.core.errors import ConversionError

    config = cc.uncond_config()
    p = _unet_params(config)
    del p["num_head_channels"]
    p["num_heads"] = 3  # 64 attended channels: QKVAttentionLegacy would assert
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=1)
    with pytest.raises(ConversionError, match=r"num_heads = 3 \(64 channels do not split into 3 heads\)"):
        convert_checkpoint(config_path, ckpt, tmp_path / "out")
