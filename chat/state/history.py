"""Shared helpers for state modules: canonical JSON and the per-field change history (§6.4)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode_str = json.encoder.encode_basestring  # the C quoting json.dumps uses for ensure_ascii=False


def dumps(value: Any) -> str:
    """Canonical JSON: the same value always gives the same text (for equal dumps).

    Replay calls this for nearly every event, so plain strings and integers skip the
    general encoder; the text is the same as ``json.dumps(value, sort_keys=True, ...)``.
    """
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is int:
        return int.__repr__(value)
    return _ENCODER.encode(value)


def record_change(
    conn: sqlite3.Connection,
    event: Event,
    target_type: str,
    target_id: str,
    field: str,
    old: Any,
    new: Any,
    *,
    world_id: str = "",
) -> None:
    """Remember who changed which field of which item, when, from what to what.

    ``world_id`` is the item's world ("" for what belongs to no world: bots, messages)."""
    if old == new:
        return
    conn.execute(
        "INSERT OR REPLACE INTO item_history (event_id, target_type, target_id, field, old_value,"
        " new_value, actor, created_at, world_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.id,
            target_type,
            target_id,
            field,
            None if old is None else dumps(old),
            None if new is None else dumps(new),
            event.actor,
            event.created_at,
            world_id,
        ),
    )


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))
