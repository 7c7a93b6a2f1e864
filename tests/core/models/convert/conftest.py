"""Fixtures shared through `tests/model_fixtures.py`."""

from model_fixtures import converted, originals, tokenizer_dir, vocab_size  # noqa: F401
