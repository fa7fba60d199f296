"""The last word on pins (§6.2), inside the write that appends a turn's world changes.

Extraction checks pins when it reads the proposal, but its events are appended
later, after reflection's model call, in the commit with ``turn_completed``. A
person who edits (and so pins) a field in that gap must still win: this runs
inside the writer's transaction, against the state that commit will change, and
turns every change to a field pinned since into a ``proposal_dropped`` entry.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import NewEvent
from chat.memory.sentiment import SOURCE as SENTIMENT
from chat.state.chapters import get_chapter
from chat.state.edges import edge_key
from chat.state.manual_edit import is_pinned as _is_pinned
from chat.state.worlds import chat_world

ENTITY_FIELDS = ("name", "kind", "aliases", "description", "facts")


def drop_newly_pinned(conn: sqlite3.Connection, events: list[NewEvent]) -> list[NewEvent]:
    """``events`` with model changes to pinned fields removed, each removal logged. The
    nudge from the tone of the user's words (`chat.memory.sentiment`, actor ``system``)
    obeys pins too: a person who set an affinity by hand expects it to stay."""
    kept: list[NewEvent] = []
    for event in events:
        if event.actor != "model" and event.payload.get("source") != SENTIMENT:
            kept.append(event)
            continue
        world_id = event.payload.get("world_id") or chat_world(conn, event.chat_id) or "default"

        def is_pinned(_conn: sqlite3.Connection, *target: str, world: str = world_id) -> bool:
            return _is_pinned(_conn, *target, world_id=world)

        payload, dropped = _without_pinned(conn, event.kind, dict(event.payload), is_pinned)
        for reason, proposal in dropped:
            kept.append(_dropped(event, reason, proposal))
        if payload is not None:
            kept.append(NewEvent(event.kind, payload, event.chat_id, event.turn_id, event.actor))
    return kept


def _without_pinned(
    conn: sqlite3.Connection, kind: str, payload: dict[str, Any], is_pinned: Any
) -> tuple[dict[str, Any] | None, list[tuple[str, Any]]]:
    """The payload left once pinned fields are taken out (None: nothing left to do)."""
    dropped: list[tuple[str, Any]] = []
    if kind == "world_fact_set":
        if is_pinned(conn, "world", payload["key"], "value"):
            dropped.append((f"world fact {payload['key']!r} was pinned by a manual edit", payload))
            return None, dropped
        return payload, dropped
    if kind == "edge_changed":
        key = edge_key(payload["src"], payload["dst"])
        for name, field, empty in (
            ("affinity", "affinity_delta", 0),
            ("trust", "trust_delta", 0),
            ("label", "label", None),
            ("notes", "notes", None),
        ):
            if payload.get(field) not in (None, 0) and is_pinned(conn, "edge", key, name):
                dropped.append((f"edge {key}.{name} was pinned by a manual edit", {field: payload[field]}))
                payload[field] = empty
        changes = payload["affinity_delta"] or payload["trust_delta"] or payload.get("label") or payload.get("notes")
        return (payload if changes or not dropped else None), dropped
    if kind == "chapter_written" and get_chapter(conn, payload["id"]) is not None:
        if is_pinned(conn, "chapter", payload["id"], "text"):  # never over a person's edit
            dropped.append((f"chapter {payload['id']} was pinned by a manual edit", {"text": payload["text"]}))
            return None, dropped
        return payload, dropped
    if kind == "entity_updated":
        return _strip(conn, "entity", payload["id"], payload, ENTITY_FIELDS, "id", dropped, is_pinned)
    if kind == "scene_changed":
        return _strip(
            conn, "scene", payload["chat_id"], payload, ("location", "present"), "chat_id", dropped,
            is_pinned,
        )  # fmt: skip
    return payload, dropped


def _strip(
    conn: sqlite3.Connection,
    target_type: str,
    target_id: str,
    payload: dict[str, Any],
    fields: tuple[str, ...],
    id_field: str,
    dropped: list[tuple[str, Any]],
    is_pinned: Any,
) -> tuple[dict[str, Any] | None, list[tuple[str, Any]]]:
    for name in fields:
        if payload.get(name) is not None and is_pinned(conn, target_type, target_id, name):
            dropped.append((f"{target_type} {target_id}.{name} was pinned by a manual edit", {name: payload[name]}))
            payload[name] = None
    left = any(payload.get(name) is not None for name in fields if name != id_field)
    return (payload if left or not dropped else None), dropped


def _dropped(event: NewEvent, reason: str, proposal: Any) -> NewEvent:
    return NewEvent(
        "proposal_dropped",
        {"reason": reason[:1000], "proposal": proposal},
        chat_id=event.chat_id,
        turn_id=event.turn_id,
        actor=event.actor,
    )
