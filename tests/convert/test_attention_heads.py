"""Head counts of the original U-Net's attention layers, including `UNetModel`'s `legacy` flag.

With `legacy` (the default) the original constructor overrides the heads: a SpatialTransformer
gets one head of all channels, and an AttentionBlock without `num_head_channels` gets one head
in the input and middle blocks and `num_heads_upsample` (default `num_heads`) in the output
blocks. The semantic-synthesis models (num_heads 8, attention only in the middle block) thus
have a single-head middle attention; splitting it into 8 heads changes the output.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from diffusers import UNet2DConditionModel, UNet2DModel

from ldm_studio.core.convert import convert_checkpoint
from ldm_studio.core.errors import ConversionError
from ldm_studio.testing import compvis_checkpoints as cc
from ldm_studio.testing import compvis_reference as ref


def _unet_params(config):
    return config["model"]["params"]["unet_config"]["params"]


def test_heads_walk_the_original_constructor():
    semantic = _unet_params(cc.semantic_config())  # num_heads 8, legacy default, mid attention only
    assert ref.attention_heads(semantic) == {"middle_block.1": 1}
    spatial = {**_unet_params(cc.class_config()), "num_heads": 4}  # legacy: one head whatever num_heads
    assert set(ref.attention_heads(spatial).values()) == {1}
    assert set(ref.attention_heads({**spatial, "legacy": False}).values()) == {4}
    blocks = {**_unet_params(cc.uncond_config()), "num_heads": 4}
    del blocks["num_head_channels"]  # legacy AttentionBlocks: 1 head going down, num_heads going up
    heads = ref.attention_heads(blocks)
    assert heads["input_blocks.3.1"] == heads["middle_block.1"] == 1
    assert heads["output_blocks.0.1"] == heads["output_blocks.1.1"] == 4
    by_channels = ref.attention_heads(_unet_params(cc.uncond_config()))  # num_head_channels 16
    assert by_channels["input_blocks.3.1"] == by_channels["middle_block.1"] == 64 // 16


def _convert(tmp_path, config, seed=3):
    config_path, ckpt = cc.write_original(tmp_path / "orig", config, seed=seed)
    report = convert_checkpoint(config_path, ckpt, tmp_path / "out")
    folder = report.info.path / "unet"
    kind = json.loads((folder / "config.json").read_text())["_class_name"]
    cls = UNet2DConditionModel if kind == "UNet2DConditionModel" else UNet2DModel
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    return cls.from_pretrained(folder).double().eval(), ref.sampling_unet(state, config["model"]["params"])


def _inputs(p, context_len=0):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, p["in_channels"], 8, 8, generator=gen, dtype=torch.float64)
    ctx = None
    if context_len:
        ctx = torch.randn(2, context_len, p["context_dim"], generator=gen, dtype=torch.float64)
    return x, torch.tensor([999, 21]), ctx


def test_semantic_middle_attention_is_single_head(tmp_path):
    config = cc.semantic_config()
    p = _unet_params(config)
    unet, sd = _convert(tmp_path, config)
    assert unet.mid_block.attentions[0].heads == 1
    x, t, _ = _inputs(p)
    with torch.no_grad():
        got = unet(x, t).sample
    assert (got - ref.unet_forward(sd, p, x, t)).abs().max() < 1e-4
    eight_heads = ref.unet_forward(sd, {**p, "legacy": False}, x, t)  # the misreading: num_heads 8 used as is
    assert (got - eight_heads).abs().max() > 1e-3


def test_legacy_spatial_transformer_has_one_head_whatever_num_heads(tmp_path):
    config = cc.class_config()
    p = _unet_params(config)
    p["num_heads"] = 4
    unet, sd = _convert(tmp_path, config)
    assert {m.heads for n, m in unet.named_modules() if n.endswith(("attn1", "attn2"))} == {1}
    x, t, ctx = _inputs(p, context_len=1)
    with torch.no_grad():
        got = unet(x, t, encoder_hidden_states=ctx).sample
    assert (got - ref.unet_forward(sd, p, x, t, ctx)).abs().max() < 1e-4
    four_heads = ref.unet_forward(sd, {**p, "legacy": False}, x, t, ctx)
    assert (got - four_heads).abs().max() > 1e-3


def test_non_legacy_spatial_transformer_keeps_num_heads(tmp_path):
    config = cc.class_config()
    p = _unet_params(config)
    p.update(num_heads=4, legacy=False)
    unet, sd = _convert(tmp_path, config)
    assert {m.heads for n, m in unet.named_modules() if n.endswith(("attn1", "attn2"))} == {4}
    x, t, ctx = _inputs(p, context_len=3)
    with torch.no_grad():
        got = unet(x, t, encoder_hidden_states=ctx).sample
    assert (got - ref.unet_forward(sd, p, x, t, ctx)).abs().max() < 1e-4


def test_legacy_blocks_with_different_heads_up_and_down_are_refused(tmp_path):
    config = cc.uncond_config()
    p = _unet_params(config)
    del p["num_head_channels"]
    p["num_heads"] = 4  # 1 head in input/middle blocks, 4 in output blocks: no single diffusers head size
    config_path, ckpt = cc.write_original(tmp_path / "orig", yaml.safe_load(yaml.safe_dump(config)), seed=1)
    with pytest.raises(ConversionError, match="num_heads"):
        convert_checkpoint(config_path, ckpt, tmp_path / "out")
