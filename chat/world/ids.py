"""Ids for chats, messages, turns and memories: unique, URL-safe and sorting by time.

An id is written into the event that creates the thing, so replaying the log
always yields the same ids; nothing here needs to be deterministic itself.
"""

from __future__ import annotations

import itertools
import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count()


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def new_id(prefix: str) -> str:
    """``<prefix>-<time><counter><random>``, e.g. ``msg-0lx3k9a2f1c7e3b9a4``.

    The millisecond time first makes ids sort roughly by creation; the process
    counter and random tail keep two ids made in the same millisecond apart.
    """
    stamp = _base36(time.time_ns() // 1_000_000, 9)
    count = _base36(next(_counter) % 36**3, 3)
    return f"{prefix}-{stamp}{count}{secrets.token_hex(3)}"
