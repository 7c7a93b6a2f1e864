"""Fixtures shared through `tests/model_fixtures.py`."""

from model_fixtures import tiny_models  # noqa: F401
