"""The started app's heap, kept out of the garbage collector's full passes.

After start-up the process holds some hundreds of thousands of long-lived objects
(the modules, their classes and functions, pydantic's validators) that no turn frees.
Python's full collection walks all of them: one pass cost ~23 ms, and it fell inside
a turn about once every 150 turns (`docs/benchmarks.md`, "Session 22"). ``gc.freeze``
moves what exists now to a generation no collection walks; the young and middle
collections are unchanged, and what a turn allocates is still collected as before.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_heap() -> bool:
    """Collect once, then freeze what is left; once a process (a second runtime, as in
    the tests, would otherwise freeze the first one's garbage for good). True when this
    call froze the heap."""
    global _frozen
    if _frozen or not gc.isenabled():
        return False
    gc.collect()
    gc.freeze()
    _frozen = True
    return True
