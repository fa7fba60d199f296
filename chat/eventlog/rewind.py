"""Rewind in O(turn): refold only what the reverted turns changed (§4.6, §13).

The notes of recent changes (``undo``) say which rows (keys) each event wrote and
what each row held before. To revert turns whose first state-changing event is k:

1. seeds: the reverted turns' events from k on; the rows they wrote may now differ.
2. context events: an event of a kind outside ``KEYED_KINDS`` (an alternative chosen)
   is visited wherever it falls after k: its handler may read rows it does not write,
   so the notes cannot say whether its inputs changed. It is refolded unless its kind
   names the rows it reads (``row_reads.INPUTS``) and none of them may differ. A scene
   the turns changed brings in every later message of its chat (whose witnesses it
   decides).
3. tracked rows: a row of a table that handlers read without writing it
   (``READ_ELSEWHERE``, scenes) that any event after k changed is brought to its image
   of the moment (from the notes) before a refolded event that reads it
   (``chat.eventlog.tracked``: by table, ``READS``, and where the kind names them by
   row, ``row_reads.ROWS``), so every refolded event finds it as it was then. Such a
   row must come out as it was at every step, else the rewind refolds the whole span;
   a scene the turns changed is the exception (its chat's messages are refolded).
4. ``chat.eventlog.cutoff`` walks from there in log order: an event is refolded when it
   is one of the above or wrote a row that may differ now (dirty); each row it wrote is
   then compared with the original history just after it. A row that comes out as it
   was stops its chain there (the early cut-off): a reply that recalled a memory the
   turns also recalled writes the same ``last_retrieved_at`` and nothing follows from it.
   A row that differs brings in its next writer, and so on.

Why that equals a replay without the turns: the keyed kinds read only rows that they
write themselves (put to their image before the event, which a row outside the dirty
set still has in the new history) or tracked rows (as they were at the moment). So an
event of a keyed kind that wrote no dirty row would write what it wrote: leaving it
alone is exact, and a row outside the dirty set holds the original history's value.
What the notes cannot show is an event that read a row and wrote nothing: a refolded
event that now writes a row it did not write before is checked (if that row changed
since k, the refold is undone and the caller refolds the whole span: ``undo.undo_to``
and every event since k, exact for any handler), and so is a row that is back in the
new history after the turns had removed it (a later delete of it found nothing and
left no note). So is a span holding a kind in ``WHOLE_SPAN_KINDS`` (its handler acts
on a row that may only come to exist later). The property tests hold all of it to a
replay without the turns.

The work is the rows the turns changed and the events those changes reach, not the
log's length or the number of events of other chats in between, nor (since the
cut-off) every later event that merely touched the same rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from chat.eventlog import undo
from chat.eventlog.cutoff import BY_MESSAGE_KINDS, Refold, Start
from chat.eventlog.log import Event
from chat.eventlog.projected import LIFECYCLE_KINDS, STATE_CHANGING_SQL
from chat.eventlog.row_reads import INPUTS, ROWS

# Kinds whose handlers read only rows they also write, or rows of READ_ELSEWHERE tables
# and scenes (which the rewind keeps in step). A scene change reads its scene and chat; a
# bot revised its bot and the bot's entities; a manual edit its target, the entities an
# edge joins and the chat's world. A message edited or deleted reads its message and
# changes the message's observations that exist (``cutoff.BY_MESSAGE_KINDS``). A chat
# created reads its bots, their entities in its world, the world and its persona (tracked)
# and, for a bot new there, the bot's edge to `you` and its book there, which it writes.
# An alternative chosen is not one (it reads the other messages of its group): it is a
# context event whose reads are named by row (``row_reads.INPUTS``).
KEYED_KINDS = frozenset({
    "message_posted", "memory_added", "edge_changed", "world_fact_set", "world_fact_deleted",
    "reflection_recorded", "scene_changed", "bot_revised", "manual_edit", "chat_created",
    *LIFECYCLE_KINDS, *BY_MESSAGE_KINDS,
})  # fmt: skip
# Kinds whose handler may act on a row created only later (``memory_superseded`` checks
# that the newer memory exists): a span holding one is refolded whole. So is a span
# holding a manual edit of a memory's ``superseded_by`` (it applies only while the newer
# memory exists, a row it reads without writing: `_SUPERSEDE_EDITS`).
WHOLE_SPAN_KINDS = frozenset({"memory_superseded"})
_SUPERSEDE_EDITS = (
    "SELECT 1 FROM events WHERE kind = 'manual_edit' AND id >= ? AND id <= ?"
    " AND json_extract(payload, '$.target_type') = 'memory'"
    " AND json_extract(payload, '$.field') = 'superseded_by' LIMIT 1"
)
# Tables that handlers read without writing the row they read, so a changed row there
# changes what later events do without those events being among its writers: a bot's
# name and retirement (witnesses, observation lines), entities, pins (a pinned field
# is left alone), chats, worlds, personas; and scenes (who witnesses a message, read by
# its own chat's messages: ``message_posted`` is appended with its chat in ``chat_id``,
# see ``chat.eventlog.log``). Their rows are tracked (see above).
READ_ELSEWHERE = frozenset({"bots", "entities", "pins", "chats", "worlds", "personas"})
# The tables of READ_ELSEWHERE and scenes that a kind's handlers read or write (a chat's
# world, who witnesses a message), for the kinds a rewind refolds most: only those
# tracked rows are brought to their moment before such an event is refolded. A kind not
# named here reads them all. test_rewind_reads.py fails on a handler reading one that
# its kind does not name.
_CHAT_WORLD = frozenset({"chats"})
READS: dict[str, frozenset[str]] = {
    # a message's observation line names "you" by the persona of its chat's world
    "message_posted": frozenset({"bots", "chats", "entities", "personas", "scenes"}),
    "alternative_chosen": frozenset({"bots", "chats", "entities", "personas", "scenes"}),
    "chat_created": frozenset({"bots", "chats", "entities", "personas", "scenes", "worlds"}),
    **dict.fromkeys(
        ("edge_changed", "memory_added", "reflection_recorded", "world_fact_set", "world_fact_deleted"),
        _CHAT_WORLD,
    ),
    **dict.fromkeys(LIFECYCLE_KINDS, frozenset()),
}

BATCH = undo.BATCH


def _ids(conn: sqlite3.Connection, sql: str, values: list[str], *tail: int) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        marks = ",".join("?" for _ in chunk)
        found.update(row[0] for row in conn.execute(sql.format(marks=marks), (*chunk, *tail)))
    return found


def plan(
    conn: sqlite3.Connection,
    tables: list[str],
    turn_ids: set[str],
    context_kinds: set[str],
    first: int,
    until: int,
) -> Start | None:
    """Where to start reverting ``turn_ids`` (None: refold the span)."""
    seeds = _ids(
        conn,
        f"SELECT id FROM events WHERE turn_id IN ({{marks}}) AND id >= ? AND id <= ? AND {STATE_CHANGING_SQL}",
        sorted(turn_ids),
        first,
        until,
    )
    in_span = "SELECT id FROM events WHERE kind IN ({marks}) AND id >= ? AND id <= ?"
    if _ids(conn, in_span, sorted(WHOLE_SPAN_KINDS), first, until):
        return None
    if conn.execute(_SUPERSEDE_EDITS, (first, until)).fetchone() is not None:
        return None
    forced = _ids(conn, in_span, sorted(context_kinds), first, until)
    # Scenes the reverted turns changed: the witnesses of their chat's later messages.
    changed_scenes = undo.written_keys(conn, ["scenes"], sorted(seeds)).get("scenes", set())
    if changed_scenes:
        chats = sorted(json.loads(key)[0] for key in changed_scenes)
        forced |= _ids(conn, _CHAT_MESSAGES, chats, first, until)
    guarded = READ_ELSEWHERE | {"scenes"}
    tracked = undo.keys_between(conn, sorted(t for t in tables if t in guarded), first, until)
    sticky = {("scenes", key) for key in changed_scenes}
    return Start(seeds, forced, tracked | sticky, sticky, guarded, until + 1, READS, INPUTS, ROWS)


_CHAT_MESSAGES = (
    "SELECT id FROM events WHERE chat_id IN ({marks}) AND id >= ? AND id <= ?"
    " AND kind = 'message_posted'"
)


def selective(
    conn: sqlite3.Connection,
    tables: list[str],
    start: Start,
    first: int,
    fold: Callable[[list[Event]], None],
) -> tuple[int, int] | None:
    """Revert from ``start`` (see ``chat.eventlog.cutoff``): (rows put back, events refolded),
    or None when the caller must refold the whole span (``undo.undo_to(first - 1)`` then
    still brings every row back: the original notes stay until the rewind succeeds).

    No savepoint to roll back to instead: inside one held open, every statement that
    touches the full-text index costs a flush of it (about 1 ms a row here).
    """
    return Refold(conn, tables, start, first, fold).run()
