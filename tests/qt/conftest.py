"""Fixtures shared through `tests/qt_fixtures.py`."""

from qt_fixtures import (  # noqa: F401
    controller,
    loaded_controller,
    no_default_demo_model,
    pytest_collection_modifyitems,
)
