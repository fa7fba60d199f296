"""Payload fields that the event row's own columns hold (§9.2, §13).

A ``message_posted`` names its chat, and a turn's lifecycle events (``turn_queued``,
``turn_started``, ``turn_completed``, ``turn_failed``) name their turn (and
``turn_queued`` its chat), in the payload and again in the row's ``chat_id`` and
``turn_id`` columns, which the rewind and the indexes need. ~200 bytes a turn were the
same ids twice. A field equal to its column is left out of the stored JSON
(``leave_out``) and put back when the row is read (``PUT_BACK``, ``with_columns``: every
reader of events through chat/eventlog/log.py, a log export and its import, and a turn's
plan, which reads its ``turn_queued`` JSON itself). Rows written before, with the fields stored, read the same;
a field that differs from its column (or whose column is empty) stays in the JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat.eventlog.recalled import recalled_ids

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


def _message(data: dict[str, Any], chat_id: str | None, _turn_id: str | None) -> dict[str, Any]:
    if "retrieved_memory_ids" in data:  # whole ids (chat/eventlog/recalled.py)
        data["retrieved_memory_ids"] = recalled_ids(data)
    if "chat_id" not in data and chat_id is not None:
        data["chat_id"] = chat_id
    return data


def _turn(data: dict[str, Any], _chat_id: str | None, turn_id: str | None) -> dict[str, Any]:
    if "id" not in data and turn_id is not None:
        data["id"] = turn_id
    return data


def _queued(data: dict[str, Any], chat_id: str | None, turn_id: str | None) -> dict[str, Any]:
    if "chat_id" not in data and chat_id is not None:
        data["chat_id"] = chat_id
    if "id" not in data and turn_id is not None:
        data["id"] = turn_id
    return data


PUT_BACK: dict[str, Callable[[dict[str, Any], str | None, str | None], dict[str, Any]]] = {
    "message_posted": _message,
    "turn_queued": _queued,
    **dict.fromkeys(("turn_started", "turn_completed", "turn_failed"), _turn),
}
"""kind -> what puts back a stored payload's fields: those its columns hold, and a reply's
recalled ids whole. One call for the kinds that need it and none for the others, and in
place (the put-back field comes last): every event of a replay is read through here, and
a new dict in the written order cost ~10 % of reading a row (measured on 20k rows)."""


def with_columns(kind: str, data: dict[str, Any], chat_id: str | None, turn_id: str | None) -> dict[str, Any]:
    """``data`` (a stored payload, parsed, changed in place) with what ``PUT_BACK`` puts back."""
    put = PUT_BACK.get(kind)
    return data if put is None else put(data, chat_id, turn_id)
