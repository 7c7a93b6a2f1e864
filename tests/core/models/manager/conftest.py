"""Fixtures shared through `tests/manager_fixtures.py`."""

from manager_fixtures import hub_model_folder, online, original_pair, original_zip, server, store_is_empty  # noqa: F401
