"""Fixtures shared through `tests/qt_fixtures.py`."""

from qt_fixtures import controller, no_default_demo_model, pytest_collection_modifyitems, window  # noqa: F401
