"""The Qt-free engine of LDM Studio: requests, model families, the sampling loop, previews.

Nothing under this package may import Qt; `tests/core/test_no_qt.py` enforces it.
"""
