"""Fixtures for the class/semantic/uncond families and the CompVis converter: tiny models built in code."""

from __future__ import annotations

import pytest

from ldm_studio.testing import compvis_checkpoints as cc


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Diffusers-format model folders of the class, semantic and unconditional families."""
    from ldm_studio.testing.tiny_models import write_class_model, write_semantic_model, write_uncond_model

    root = tmp_path_factory.mktemp("family-models")
    return {
        "class": write_class_model(root / "class"),
        "semantic": write_semantic_model(root / "semantic"),
        "uncond": write_uncond_model(root / "uncond"),
        "celebahq": write_uncond_model(root / "celebahq-like", diffusers_only=True),
    }


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A small BERT vocabulary standing in for bert-base-uncased (never downloaded)."""
    from ldm_studio.testing.tiny_models import write_vocab

    folder = tmp_path_factory.mktemp("tokenizer")
    write_vocab(folder / "vocab.txt")
    return folder


@pytest.fixture(scope="session")
def vocab_size(tokenizer_dir):
    from transformers import BertTokenizer

    return len(BertTokenizer(str(tokenizer_dir / "vocab.txt")))


@pytest.fixture(scope="session")
def originals(tmp_path_factory, vocab_size):
    """Original-format (config.yaml, model.ckpt) pairs per family."""
    root = tmp_path_factory.mktemp("originals")
    configs = {
        "class": cc.class_config(),
        "semantic": cc.semantic_config(),
        "uncond": cc.uncond_config(),
        "uncond_scale_shift": cc.uncond_config(scale_shift=True),
        "text": cc.text_config(vocab_size),
    }
    return {name: (cfg, *cc.write_original(root / name, cfg, seed=i)) for i, (name, cfg) in enumerate(configs.items())}


@pytest.fixture(scope="session")
def converted(tmp_path_factory, originals, tokenizer_dir):
    """Each original converted once: name -> ConversionReport."""
    from ldm_studio.core.models.convert import convert_checkpoint

    root = tmp_path_factory.mktemp("converted")
    return {
        name: convert_checkpoint(config_path, ckpt, root / name, tokenizer=tokenizer_dir if name == "text" else None)
        for name, (_cfg, config_path, ckpt) in originals.items()
    }
