"""The started app's heap is frozen once a process (chat/runtime/heap.py, session 22)."""

from __future__ import annotations

import gc

from chat.runtime import heap


def test_the_heap_is_frozen_once_and_later_objects_are_still_collected() -> None:
    saved = heap._frozen
    heap._frozen = False
    try:
        assert heap.freeze_startup_heap() is True
        assert gc.get_freeze_count() > 0
        assert heap.freeze_startup_heap() is False  # a second runtime freezes nothing more

        class Node:
            def __init__(self) -> None:
                self.me = self  # a cycle: only the collector frees it

        alive = Node()
        gc.collect()
        assert any(o is alive for o in gc.get_objects())  # tracked, not frozen
        del alive
        assert gc.collect() > 0
    finally:
        gc.unfreeze()
        heap._frozen = saved
