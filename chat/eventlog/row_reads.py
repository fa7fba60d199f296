"""The rows a context event reads, so a rewind leaves it alone when none may differ (§13).

A context event (``rewind``: a kind whose handlers read rows they do not write) is
visited by every rewind whose span holds it, wherever it falls. For the kinds named in
``INPUTS`` the rows it reads can be named from its payload and the rows' fixed columns:
when none of them is dirty (may differ from the original history at its moment, see
``cutoff``), its handlers would read what they read then and so write what they wrote,
and the rewind leaves it as it was, like a keyed event that wrote no dirty row. Rows of
the tables others read (bots, chats, entities, scenes) are tracked by the walk and equal
the original history at every moment unless dirty (a scene the turns changed), so only
dirty rows need looking at. A dirty row whose images say nothing (none has the row),
or of a table others read that the check does not name, counts as read; one of a table
its handlers neither read nor write (a relationship, a fact) does not.

An alternative chosen (``chat.state.chats``, ``chat.state.observations``) reads the
messages of its group (in the chat of the message it names: all chats here, which is
more), the observations of those messages (``memories`` by ``message_id``: deleted and
written again, so they are its writes too), the scene of that chat (who witnesses the
chosen one) and bots, entities and chats (names, retirement, the world). A message's
``alt_group`` and ``chat_id`` and an observation's ``message_id`` never change once the
row exists, so any image of a dirty row (now, or at the end of the original log) says
whether it is one of those. The group's members at its moment exist now or are dirty:
messages are removed only by the rewind itself, and only those the new history lacks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Protocol

from chat.eventlog.log import Event

Key = tuple[str, str]  # (table, key as noted)


class Walk(Protocol):
    """What a check sees of the walk (``cutoff.Refold``)."""

    conn: sqlite3.Connection

    def dirty_rows(self) -> list[Key]:
        """The rows that may differ from the original history at this point."""
        ...

    def fixed(self, key: Key, column: str) -> set:
        """The values ``column`` has in the row's images now and at the end of the
        original log (empty: no image has the row)."""
        ...


_ALTERNATIVE_COLUMNS = {"messages": "alt_group", "memories": "message_id", "scenes": "chat_id"}


def alternative_reads_dirty(walk: Walk, event: Event) -> bool:
    """True when a row an ``alternative_chosen`` reads may differ now (see the module)."""
    rows = walk.dirty_rows()
    if not rows:
        return False
    group = event.payload.get("alt_group")
    present = walk.conn.execute("SELECT id, chat_id FROM messages WHERE alt_group = ?", (group,)).fetchall()
    wanted = {"messages": {group}, "memories": {r[0] for r in present}, "scenes": {r[1] for r in present}}
    for key in rows:
        column = _ALTERNATIVE_COLUMNS.get(key[0])
        if column is None:
            if key[0] in ("bots", "entities", "chats", "worlds", "personas", "pins"):
                return True  # a row others read, changed: never so today, but it would count
            continue  # a table its handlers neither read nor write
        values = walk.fixed(key, column)
        if not values or values & wanted[key[0]]:
            return True
    return False


# The kinds whose reads are named by row, and the check of each: True when one may differ.
INPUTS: Mapping[str, Callable[[Walk, Event], bool]] = {"alternative_chosen": alternative_reads_dirty}


def _own_chat(_conn: sqlite3.Connection, event: Event) -> dict[str, set] | None:
    """A message posted reads its chat's row (the world) and scene (its witnesses); a
    chat created writes its own row and initial scene, and reads its row for its world
    when the payload names none (the event's chat, the same one as the services write)."""
    if event.kind == "message_posted":
        chats = {event.payload.get("chat_id"), event.chat_id}
    else:
        chats = {event.payload.get("id"), event.chat_id}
    chats.discard(None)
    return {"chats": chats, "scenes": chats}


def _chosen_chat(conn: sqlite3.Connection, event: Event) -> dict[str, set] | None:
    """An alternative chosen reads the row and the scene of its message's chat (the
    chosen one's witnesses and world). A message's chat never changes; one not there
    now is not there at the event's moment either (see the module), unless the rewind
    removed it: then every row, as the table-wide default."""
    row = conn.execute("SELECT chat_id FROM messages WHERE id = ?", (event.payload.get("message_id"),)).fetchone()
    return None if row is None else {"chats": {row[0]}, "scenes": {row[0]}}


def _event_chat(_conn: sqlite3.Connection, event: Event) -> dict[str, set] | None:
    """A world-scoped change (a relationship, a memory, a fact, a reflection) reads its
    chat's row for its world (``world_of``), when it names no world."""
    return {"chats": {c for c in (event.chat_id, event.payload.get("chat_id")) if c is not None}}


# Kinds that read only some rows of a table others read: table -> the key values of the
# rows (chats and scenes: the chat id). The walk brings only those (and the rows the event wrote)
# to their moment before refolding one, not every tracked row of the table.
ROWS: Mapping[str, Callable[[sqlite3.Connection, Event], dict[str, set] | None]] = {
    "message_posted": _own_chat,
    "chat_created": _own_chat,
    "alternative_chosen": _chosen_chat,
    **dict.fromkeys(
        ("edge_changed", "memory_added", "reflection_recorded", "world_fact_set", "world_fact_deleted"),
        _event_chat,
    ),
}
