"""Payload fields that the event row's own columns hold (§9.2, §13).

A ``message_posted`` names its chat, and a turn's lifecycle events (``turn_queued``,
``turn_started``, ``turn_completed``, ``turn_failed``) name their turn (and
``turn_queued`` its chat), in the payload and again in the row's ``chat_id`` and
``turn_id`` columns, which the rewind and the indexes need. ~200 bytes a turn were the
same ids twice. A field equal to its column is left out of the stored JSON
(``leave_out``) and put back when the row is read (``with_columns``: every reader of
events through chat/eventlog/log.py, a log export's import, and the few that read a
payload's JSON themselves). Rows written before, with the fields stored, read the same;
a field that differs from its column (or whose column is empty) stays in the JSON.
"""

from __future__ import annotations

from typing import Any

FROM_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "message_posted": (("chat_id", "chat_id"),),
    "turn_queued": (("id", "turn_id"), ("chat_id", "chat_id")),
    "turn_started": (("id", "turn_id"),),
    "turn_completed": (("id", "turn_id"),),
    "turn_failed": (("id", "turn_id"),),
}
"""kind -> (payload field, the column that holds it)."""

_NONE: frozenset[str] = frozenset()


def leave_out(kind: str, payload: Any, chat_id: str | None, turn_id: str | None) -> frozenset[str]:
    """The fields of ``payload`` to leave out of its stored JSON: those equal to their column."""
    fields = FROM_COLUMNS.get(kind)
    if not fields or not isinstance(payload, dict):
        return _NONE
    columns = {"chat_id": chat_id, "turn_id": turn_id}
    return frozenset(
        field for field, column in fields
        if columns[column] is not None and payload.get(field) == columns[column]
    )  # fmt: skip


def with_columns(kind: str, data: dict[str, Any], chat_id: str | None, turn_id: str | None) -> dict[str, Any]:
    """``data`` (a stored payload, parsed) with the fields its columns hold put back where
    they were written: first, or after the payload's ``id``."""
    fields = FROM_COLUMNS.get(kind)
    if not fields:
        return data
    columns = {"chat_id": chat_id, "turn_id": turn_id}
    missing = {field: columns[column] for field, column in fields if field not in data and columns[column] is not None}
    if not missing:
        return data
    return {"id": data["id"], **missing, **data} if "id" in data else {**missing, **data}
