"""A one-slot, latest-wins box for previews passed from the engine thread to the GUI.

The worker must never wait for the GUI, and a slow GUI must not build up a queue of stale
images: the worker overwrites the slot and only signals when the slot was empty, so at most
one "preview ready" event is ever pending in the GUI's event queue.
"""

from __future__ import annotations

import threading

from ldm_studio.qt.reports import Frame


class PreviewMailbox:
    """Thread-safe latest-only slot; `put` says whether the reader needs a new notification."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: Frame | None = None

    def put(self, item: Frame) -> bool:
        with self._lock:
            was_empty = self._item is None
            if was_empty or item.decoded or not self._item.decoded or self._item.job != item.job:
                self._item = item
        return was_empty

    def take(self) -> Frame | None:
        with self._lock:
            item, self._item = self._item, None
        return item
