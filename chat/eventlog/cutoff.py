"""The rewind's refold in log order, cut off where a row comes out as it was (§4.6, §13).

``chat.eventlog.rewind`` says which events start a rewind (the reverted turns' own,
the context events) and which rows others read (``tracked``). This module walks the
events from there in log order, one at a time, and keeps one set: ``dirty``, the rows
that may differ from the original history at the current point. Every row outside it
holds what it held in the original history then, or its end value when no event still
to come reads it. For an event ``e``:

1. It is refolded when it starts the rewind or wrote a dirty row originally; else its
   inputs (the rows it writes, and tracked rows) are as they were, so it would write
   what it wrote: it is left alone.
2. Each row it wrote that is not dirty is put to its image before ``e`` (from ``e``'s
   own note), so ``e`` refolds on the value it had then, which the row still has in
   the new history. Dirty rows already hold their new value.
3. After the refold each row it wrote, before or now, is compared with its image after
   ``e`` in the original history (the next event's note, or the end value). Equal: the
   row is as it was from here on unless a dirty row changes it later, so it leaves
   ``dirty`` and goes back to its end value (the early cut-off: a reply that recalled a
   memory writes the same ``last_retrieved_at``, and the chain stops). Different: it is
   dirty, and its next writer in the original history joins.

A tracked row is brought to its image of the moment (from the notes) before each
refold whose kind reads its table (``Start.reads``; all of them for a kind not named),
so it need not have its writers refolded; a row no refold reads is never moved. It
must come out as it was wherever one is refolded. A sticky row (a scene the turns
changed) is tracked and dirty throughout: its every writer is refolded in order.

A row the refold writes that ``e`` never wrote (its reads changed) must have held the
same value since ``first``, else the refold started from the wrong image: the rewind
gives up, as it does when a tracked row comes out different or a row is back that the
turns had removed. The caller then undoes every change since ``first`` from the notes
(the original notes stay until the end, so the earliest note of each row still holds
its image before ``first``) and refolds the whole span.

Notes: the events refolded get new notes (their seq numbers above ``mark``); at the
end each keeps its original notes of a row where the new ones are the same, else the
new ones (``undo.settle``). Notes are ordered by event id, then seq.
"""

from __future__ import annotations

import bisect
import heapq
import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chat.eventlog import undo
from chat.eventlog.log import Event, events_by_id
from chat.eventlog.row_reads import Walk
from chat.eventlog.tracked import Image, Key, Tracked

# A row that is back in the new history (a reverted event had removed it) may change
# what a later event does that found it gone and so wrote nothing (a fact deleted again,
# an edit of it): no note says so, and the rewind refolds the whole span. Except a
# memory: an event names only memories that exist when it is appended (recall picks
# them from the projection, an edit is checked against it).
_NAMED_ONLY_WHEN_PRESENT = frozenset({"memories"})
# Kinds that change a message's observations by their message id, whichever exist then
# (``UPDATE memories ... WHERE message_id = ?``): a memory of a message that exists now
# and did not then (back, or a witness more) brings in the later ones of its chat.
BY_MESSAGE_KINDS = ("message_edited", "message_deleted")
_BY_MESSAGE = (
    "SELECT id FROM events WHERE id > ? AND id < ? AND kind IN ('message_edited', 'message_deleted')"
    " AND (chat_id IS NULL OR chat_id = (SELECT chat_id FROM messages WHERE id = ?))"
)
_CHUNK = 32  # a row's original notes read at once (``Refold._next``)


@dataclass(frozen=True)
class Start:
    """Where a rewind starts: what ``rewind.plan`` found."""

    seeds: set[int]  # the reverted turns' state-changing events (the fold skips them)
    forced: set[int]  # refolded whatever they wrote: context events, messages of changed scenes
    tracked: set[Key]  # rows others read: kept at their value of the moment, step by step
    sticky: set[Key]  # tracked rows that may differ (scenes the turns changed): dirty throughout
    guarded: frozenset[str]  # the tables of rows others read (their every row here is tracked)
    until: int  # one past the log's last event: the walk's end, exclusive
    # The guarded tables each kind's handler reads (``rewind.READS``); a kind not named
    # reads all of them. Only those tracked rows are brought to their moment before it.
    reads: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Context kinds whose reads are named by row (``row_reads.INPUTS``): one is refolded
    # only when its check finds a dirty row among them, or it wrote a dirty row.
    inputs: Mapping[str, Callable[[Walk, Event], bool]] = field(default_factory=dict)
    # Kinds that read only some rows of a guarded table (``row_reads.ROWS``): table ->
    # the key values of the rows read (a one-column key), or None where it cannot say.
    rows: Mapping[str, Callable[[sqlite3.Connection, Event], Mapping[str, set] | None]] = field(
        default_factory=dict
    )


class _Table:
    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.name = name
        self.columns = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]  # noqa: S608
        self.keys = undo.key_columns(conn, name)
        shadow = f"undo_{name}"
        self.images = images = ", ".join(f'"v_{c}"' for c in self.columns)
        names = ", ".join(f'"{c}"' for c in self.columns)
        self.where = " AND ".join(f"{undo.quoted(c)} = ?" for c in self.keys)
        self.select = f"SELECT {names} FROM {name} WHERE {self.where}"  # noqa: S608
        self.notes_of = (
            f"SELECT k, op, {images} FROM {shadow} WHERE event_id = ? AND seq <= ? ORDER BY seq"  # noqa: S608
        )
        self.new_notes_of = (
            f"SELECT k, op, {images} FROM {shadow} WHERE event_id = ? AND seq > ? ORDER BY seq"  # noqa: S608
        )
        self.next_notes = (
            f"SELECT event_id, op, {images} FROM {shadow} WHERE k = ? AND event_id > ? AND seq <= ?"  # noqa: S608
            f" ORDER BY event_id, seq LIMIT {_CHUNK}"
        )
        self.since = f"SELECT 1 FROM {shadow} WHERE event_id >= ? AND seq <= ? LIMIT 1"  # noqa: S608
        self.mark = conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {shadow}").fetchone()[0]  # noqa: S608


def _image(op: str, values: tuple) -> Image:
    """A note's image of the row before its event: none when the event inserted it."""
    return None if op == "i" else tuple(values)


class Refold(Tracked):
    """One rewind's ordered refold; ``run`` returns (rows put back, events refolded) or None."""

    def __init__(
        self, conn: sqlite3.Connection, tables: list[str], start: Start, first: int,
        fold: Callable[[list[Event]], None],
    ) -> None:  # fmt: skip
        self.conn, self.start, self.first, self.fold = conn, start, first, fold
        self.until = start.until
        self.tables = {name: _Table(conn, name) for name in tables}
        self.dirty: set[Key] = set()
        self.end: dict[Key, Image] = {}  # each touched row's value at the end of the original log
        self.queue: list[int] = []
        self.queued: set[int] = set()
        self.done: dict[int, set[str]] = {}  # event refolded -> tables of its original notes
        self.track()
        self.parsed: dict[Key, list] = {}
        # What the walk knows of each row now (read, or put by it); a refold's rows are
        # dropped from it (its new notes name every row it wrote): no re-reading.
        self.held: dict[Key, Image] = {}
        # Each row's original notes after some event, in log order: (after, notes, all
        # of them). The original notes do not change during the walk (new ones have seq
        # above ``mark``), so a row's history is read a chunk at a time, not a note a step.
        self.notes: dict[Key, tuple[int, list[tuple[int, Image]], bool]] = {}
        self.forced = set(start.forced)  # grows: see ``_by_message``
        # The original notes of the walk's events lie in the tables with a note since
        # ``first`` (a third of them stay quiet); a refold's new notes may lie in any.
        noted = [
            t for t in self.tables.values() if conn.execute(t.since, (first, t.mark)).fetchone()
        ]
        self.written = {
            new: " UNION ALL ".join(
                f"SELECT '{t.name}', k FROM undo_{t.name} WHERE event_id = ?1"  # noqa: S608
                f" AND seq {'>' if new else '<='} {int(t.mark)}"
                for t in (self.tables.values() if new else noted)
            )
            or "SELECT NULL, NULL WHERE ?1 IS NULL"
            for new in (False, True)
        }

    def run(self) -> tuple[int, int] | None:
        undo.recording(self.conn, None)
        for key in sorted(self.start.tracked):  # behind ``first``: put when first read
            if key not in self.start.sticky:
                self.lag_from(key, self.first - 1)
                continue
            nxt = self._next(key, self.first - 1)
            if nxt is not None:
                self._put(key, nxt[1], remember=True)
                self._push(nxt[0])
        self.dirty |= self.start.sticky
        for event_id in self.start.seeds | self.start.forced:
            self._push(event_id)
        while self.queue:
            event_id = heapq.heappop(self.queue)
            if not self._step(event_id):
                self._give_up()
                return None
        self._catch_up(None)
        by_table: dict[str, list[int]] = {}
        for event_id, names in self.done.items():
            for name in names:
                by_table.setdefault(name, []).append(event_id)
        for name, event_ids in by_table.items():  # their original notes, or new ones the same
            refolded = any(event_id not in self.start.seeds for event_id in event_ids)
            undo.settle(self.conn, name, self.tables[name].mark, event_ids, refolded)
        return len(self.end), len(self.done)

    def _step(self, event_id: int) -> bool:
        """Refold one event if it must be; False when the rewind must refold the span."""
        before = self._keys(event_id, new=False)
        tracked = self.start.tracked
        chosen = event_id in self.start.seeds or event_id in self.forced
        if not chosen and not any(key in self.dirty for key in before):
            return True  # its inputs are as they were: it would write what it wrote
        written = {table for table, _k in before}
        if event_id in self.start.seeds:
            # A reverted turn's own event: the fold skips it (nothing to read it, nor to
            # fold, nor new notes); only the rows it wrote are brought to their moment.
            event = None
            self._catch_up(event_id - 1, written, {t: {k for k in before if k[0] == t} for t in written})
        else:
            event = events_by_id(self.conn, [event_id])
            kind = event[0].kind
            if chosen and not any(key in self.dirty for key in before):
                check = self.start.inputs.get(kind)
                if check is not None and not check(self, event[0]):
                    return True  # a context event none of whose reads may differ: as it was
            reads = self.start.reads.get(kind, self.start.guarded)
            self._catch_up(event_id - 1, reads | written, self._rows_read(event[0], before))
        todo = {key for key in before if key not in self.dirty and key not in tracked}
        for key, image in self._images(event_id, todo, new=False).items():
            self._put(key, image, remember=True)
        self.done[event_id] = written
        after: set[Key] = set()
        if event is not None:
            self.fold(event)
            after = self._keys(event_id, new=True)
        for key in after:
            self.held.pop(key, None)
        extra = after - before  # written now, not before: its reads changed
        for key, image in self._images(event_id, extra, new=True).items():
            if key[0] in self.start.guarded:
                return False
            if key not in self.dirty:
                if self._next(key, self.first - 1) is not None:
                    return False  # it changed since ``first``: the refold's base was wrong
                self.end.setdefault(key, image)
        for key in sorted(before | after):
            nxt = self._next(key, event_id)
            was = self.end[key] if nxt is None else nxt[1]
            now = self._row(key)
            if now is not None and was is None:  # a row that was gone or never was
                if key[0] not in _NAMED_ONLY_WHEN_PRESENT:
                    return False  # who found it gone wrote nothing: no note says who
                self._by_message(now[self.tables["memories"].columns.index("message_id")], event_id)
            if now == was and key not in self.start.sticky:
                self.dirty.discard(key)
                if key not in tracked:
                    self._put(key, self.end[key], now=now)
                    continue
            elif key in tracked and key not in self.start.sticky:
                return False  # a row others read without writing it came out changed
            else:
                self.dirty.add(key)
            if nxt is not None:
                self._push(nxt[0])
        return True

    def dirty_rows(self) -> list[Key]:
        """The rows that may differ from the original history here (``row_reads.Walk``)."""
        return list(self.dirty)

    def fixed(self, key: Key, column: str) -> set:
        """``column`` in the row now and at the end of the original log (``row_reads.Walk``)."""
        index = self.tables[key[0]].columns.index(column)
        return {image[index] for image in (self._row(key), self.end.get(key)) if image is not None}

    def _by_message(self, message_id: str | None, event_id: int) -> None:
        if message_id is not None:
            for (later,) in self.conn.execute(_BY_MESSAGE, (event_id, self.until, message_id)):
                self.forced.add(later)
                self._push(later)

    def _give_up(self) -> None:
        """Leave the notes as before the rewind, so ``undo.undo_to`` finds every row's
        image before ``first`` in its earliest note: a row only the refold wrote (none of
        its original notes since ``first``) goes back to the image its first new note
        holds, its value then; then every new note goes."""
        for table in self.tables.values():
            shadow = f"undo_{table.name}"
            rows = self.conn.execute(
                f"SELECT k, op, {table.images} FROM {shadow}"  # noqa: S608
                " WHERE seq > ? ORDER BY seq",
                (table.mark,),
            ).fetchall()
            seen: set[str] = set()
            for row in rows:
                key = (table.name, row[0])
                if row[0] not in seen and self._next(key, self.first - 1) is None:
                    self._put(key, _image(row[1], row[2:]))
                seen.add(row[0])
            self.conn.execute(f"DELETE FROM {shadow} WHERE seq > ?", (table.mark,))  # noqa: S608

    def _push(self, event_id: int) -> None:
        if event_id not in self.queued:
            self.queued.add(event_id)
            heapq.heappush(self.queue, event_id)

    def _keys(self, event_id: int, *, new: bool) -> set[Key]:
        """The rows ``event_id`` changed: by its original notes, or (``new``) by those its
        refold just wrote. One statement over the tables' notes."""
        return {(row[0], row[1]) for row in self.conn.execute(self.written[new], (event_id,))}

    def _images(self, event_id: int, keys: set[Key], *, new: bool) -> dict[Key, Image]:
        """Each of ``keys`` with its image before ``event_id``, from the event's first note
        of it (original, or ``new``: of its refold)."""
        found: dict[Key, Image] = {}
        for name in sorted({table for table, _k in keys}):
            table = self.tables[name]
            sql = table.new_notes_of if new else table.notes_of
            for row in self.conn.execute(sql, (event_id, table.mark)):
                key = (name, row[0])
                if key in keys and key not in found:
                    found[key] = _image(row[1], row[2:])
        return found

    def _next(self, key: Key, after: int) -> tuple[int, Image] | None:
        """The first original note of ``key`` after event ``after``: (its event, the row's
        image before it), the row's image after ``after`` in the original history."""
        cached = self.notes.get(key)
        if cached is not None and cached[0] <= after:
            _since, notes, whole = cached
            at = bisect.bisect_right(notes, after, key=lambda note: note[0])
            if at < len(notes):
                return notes[at]
            if whole:
                return None
        table = self.tables[key[0]]
        rows = self.conn.execute(table.next_notes, (key[1], after, table.mark)).fetchall()
        notes = [(int(row[0]), _image(row[1], row[2:])) for row in rows]
        self.notes[key] = (after, notes, len(rows) < _CHUNK)
        return notes[0] if notes else None

    def _row(self, key: Key) -> Image:
        if key in self.held:
            return self.held[key]
        table = self.tables[key[0]]
        row = self.conn.execute(table.select, self._values(key)).fetchone()
        image = self.held[key] = None if row is None else tuple(row)
        return image

    def _values(self, key: Key) -> list:
        """The key's column values (the notes hold them as a JSON array)."""
        values = self.parsed.get(key)
        if values is None:
            values = self.parsed[key] = json.loads(key[1])
        return values

    def _put(
        self, key: Key, image: Image, *, now: Image | tuple = (), remember: bool = False
    ) -> None:
        """Make the row ``image`` (unrecorded), writing only the columns that differ, so
        an unchanged text costs no full-text reindex. ``now``: the row as it is, when
        known; ``remember``: keep it as the row's end value if it is the first put."""
        table = self.tables[key[0]]
        if now == ():
            now = self._row(key)
        if remember and key not in self.end:
            self.end[key] = now
        self.held[key] = image
        if now == image:
            return
        values = self._values(key)
        if image is None:
            self.conn.execute(f"DELETE FROM {table.name} WHERE {table.where}", values)  # noqa: S608
        elif now is None:
            names = ", ".join(f'"{c}"' for c in table.columns)
            marks = ", ".join("?" for _ in table.columns)
            if table.keys == ["rowid"]:
                self.conn.execute(
                    f"INSERT INTO {table.name} (rowid, {names}) VALUES (?, {marks})",  # noqa: S608
                    (*values, *image),
                )
            else:
                self.conn.execute(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", image)  # noqa: S608
        else:
            changed = [
                (c, v) for c, v, old in zip(table.columns, image, now, strict=True) if v != old
            ]
            sets = ", ".join(f'"{c}" = ?' for c, _v in changed)
            self.conn.execute(
                f"UPDATE {table.name} SET {sets} WHERE {table.where}",  # noqa: S608
                (*(v for _c, v in changed), *values),
            )
