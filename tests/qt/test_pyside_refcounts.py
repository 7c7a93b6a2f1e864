"""The pinned PySide6 must not lose references to True/None on signal emits and void calls.

PySide6 6.12.0 on Python 3.11 loses one reference to True per `Signal.emit()` and one to
None per void method call; the interpreter aborts ("bool_dealloc") after a few thousand
emits, i.e. a few long generations. 6.11.3 does not: it is pinned in pyproject.toml, and
this test fails if a PySide6 with the leak is installed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel


class Emitter(QObject):
    ping = Signal(int)


def test_emits_and_void_calls_keep_the_singletons_reference_counts(qtbot):
    emitter, label = Emitter(), QLabel()
    qtbot.addWidget(label)
    for i in range(200):  # warm-up: caches settle
        emitter.ping.emit(i)
        label.setIndent(i % 3)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(500):
        emitter.ping.emit(i)
        label.setIndent(i % 3)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after[0] >= before[0] - 50 and after[1] >= before[1] - 50, f"lost references: {before} -> {after}"
