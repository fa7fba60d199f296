"""Rewind in O(turn): refold only the rows the reverted turns touched (§4.6, §13).

The notes of recent changes (``undo``) say which rows (keys) each event wrote and
what each row held before. To revert turns whose first state-changing event is k:

1. seeds: the reverted turns' events from k on; their keys are the rows to recompute.
2. closure: every later event that wrote one of those keys joins (it must be
   refolded on the row's new history), and so do the keys it wrote, until nothing
   new joins. This is "the events that touch those keys", transitively.
3. context events: an event of a kind outside ``KEYED_KINDS`` (a bot revised, a scene
   changed, a manual edit, ...) joins too wherever it falls after k, because other
   handlers read its rows without writing them, so the closure by writes alone
   cannot see that an event refolded now would read them at the wrong moment.
   For the same reason, a restored row that other handlers read (``READ_ELSEWHERE``)
   sends the rewind to the whole-span refold, and a restored scene brings in every
   later event of its chat (whose messages' witnesses it decides).
4. restore each key's row to its image before k, then refold the joined events in
   log order, the reverted turns' own state-changing events left out.

Why that equals a replay without the turns: every event that writes a restored row
after k is refolded in order; the keyed kinds read only rows that they write
themselves (so those rows are restored and refolded in order) or rows that only
context events write (which are refolded too); rows outside the set keep what every
event after k saw. A refolded event that now writes a row it did not write before
(its reads changed) is checked afterwards: if another event after k also wrote that
row, the selective refold is rolled back and the caller refolds the whole span
(``undo.undo_to`` and every event since k), which is exact for any handler. So is a
span holding a kind in ``WHOLE_SPAN_KINDS`` (its handler acts on a row that may only
come to exist later). The property tests hold all of it to a replay without the turns.

The work is the keys the turns touched and the events touching them, not the log's
length or the number of events of other chats in between.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from chat.eventlog import undo
from chat.eventlog.log import Event, events_by_id

# Kinds whose handlers read only rows they also write, or rows only context kinds write.
KEYED_KINDS = frozenset({
    "message_posted", "memory_added", "edge_changed", "world_fact_set", "world_fact_deleted",
    "reflection_recorded", "turn_queued", "turn_started", "turn_completed", "turn_failed",
    "turns_reverted",
})  # fmt: skip
# Kinds whose handler may act on a row created only later (``memory_superseded`` checks
# that the newer memory exists): a span holding one is refolded whole.
WHOLE_SPAN_KINDS = frozenset({"memory_superseded"})
# Tables that handlers read without writing the row they read, so a changed row there
# changes what later events do without those events being among its writers: a bot's
# name and retirement (witnesses, observation lines), entities, pins (a pinned field
# is left alone), chats, worlds, personas. Such rows may be refolded (a bot revised in
# between is a context event), but must come out with the same history as before; if
# not, the rewind refolds the span. A scene (who witnesses a message) is read only by
# its own chat's messages: when the reverted turns changed it, that chat's later
# messages join (``message_posted`` is appended with its chat in ``chat_id``, see
# ``chat.eventlog.log``); other scenes refolded must keep their history.
READ_ELSEWHERE = frozenset({"bots", "entities", "pins", "chats", "worlds", "personas"})

BATCH = undo.BATCH


@dataclass(frozen=True)
class Plan:
    events: list[int]  # to refold, in log order (the reverted ones are skipped by the fold)
    keys: dict[str, set[str]]  # table -> keys of the rows to restore first
    watched: dict[str, set[str]]  # rows that must come out with the same history


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
    lifecycle: frozenset[str],
    context_kinds: set[str],
    first: int,
    until: int,
) -> Plan | None:
    """The events to refold and rows to restore to revert ``turn_ids`` (None: refold the span)."""
    seeds = _ids(
        conn,
        "SELECT id FROM events WHERE turn_id IN ({marks}) AND id >= ? AND id <= ?"
        f" AND kind NOT IN ({', '.join(repr(k) for k in sorted(lifecycle))})",
        sorted(turn_ids),
        first,
        until,
    )
    in_span = "SELECT id FROM events WHERE kind IN ({marks}) AND id >= ? AND id <= ?"
    if _ids(conn, in_span, sorted(WHOLE_SPAN_KINDS), first, until):
        return None
    context = _ids(conn, in_span, sorted(context_kinds), first, until)
    events = seeds | context
    keys: dict[str, set[str]] = {}
    # Scenes the reverted turns changed: the witnesses of their chat's later messages.
    changed_scenes = undo.written_keys(conn, ["scenes"], sorted(seeds)).get("scenes", set())
    if changed_scenes:
        chats = sorted(json.loads(key)[0] for key in changed_scenes)
        events |= _ids(conn, _CHAT_MESSAGES, chats, first, until)
    frontier = sorted(events)
    while frontier:
        fresh: dict[str, set[str]] = {}
        for table, found in undo.written_keys(conn, tables, frontier).items():
            new = found - keys.setdefault(table, set())
            if new:
                keys[table] |= new
                fresh[table] = new
        joined = undo.writers(conn, fresh, first - 1) - events
        events |= joined
        frontier = sorted(joined)
    watched = {t: k for t, k in keys.items() if t in READ_ELSEWHERE and k}
    if keys.get("scenes", set()) - changed_scenes:
        watched["scenes"] = keys["scenes"] - changed_scenes
    return Plan(sorted(events), {t: k for t, k in keys.items() if k}, watched)


_CHAT_MESSAGES = (
    "SELECT id FROM events WHERE chat_id IN ({marks}) AND id >= ? AND id <= ?"
    " AND kind = 'message_posted'"
)


def selective(
    conn: sqlite3.Connection,
    tables: list[str],
    the_plan: Plan,
    first: int,
    fold: Callable[[list[Event]], None],
) -> int | None:
    """Restore the plan's rows and refold its events; the rows restored, or None when a
    refolded event wrote a row that another event after ``first`` wrote, or a row that
    other handlers read without writing came out changed (``READ_ELSEWHERE``, scenes
    not changed by the turns themselves): then the caller must refold the whole span (``undo.undo_to(first - 1)`` still brings every row back,
    as the refolded events' notes hold the restored images).

    No savepoint to roll back to instead: inside one held open, every statement that
    touches the full-text index costs a flush of it (about 1 ms a row here).
    """
    watched = the_plan.watched
    before = undo.key_history(conn, watched, first - 1)
    restored = undo.restore_keys(conn, the_plan.keys, first - 1)
    undo.forget(conn, sorted(the_plan.keys), the_plan.events)  # they wrote only these tables
    fold(events_by_id(conn, the_plan.events))
    now = undo.written_keys(conn, tables, the_plan.events)
    extra = {t: k - the_plan.keys.get(t, set()) for t, k in now.items()}
    extra = {t: k for t, k in extra.items() if k}
    if any(t in READ_ELSEWHERE or t == "scenes" for t in extra) or (
        undo.key_history(conn, watched, first - 1) != before
    ):
        return None  # a row other events read without writing it changed
    if extra and undo.writers(conn, extra, first - 1) - set(the_plan.events):
        return None
    return restored
