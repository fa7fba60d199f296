"""The rewind's refold in log order, cut off where a row comes out as it was (§4.6, §13).

``chat.eventlog.rewind`` says which events start a rewind (the reverted turns' own,
the context events) and which rows are kept recomputed to the end (``sticky``). This
module walks the events from there in log order, one at a time, and keeps one set:
``dirty``, the rows that may differ from the original history at the current point.
Every row outside it holds what it held in the original history, or its end value when
no event still to come reads it. For an event ``e``:

1. It is refolded when it starts the rewind or wrote a dirty row originally; else its
   inputs (the rows it writes, and the rows only context events write, kept in step)
   are as they were, so it would write what it wrote: it is left alone.
2. Each row it wrote that is not dirty is put to its image before ``e`` (from ``e``'s
   own note), so ``e`` refolds on the value it had then, which the row still has in
   the new history. Dirty rows already hold their new value.
3. After the refold each row it wrote, before or now, is compared with its image after
   ``e`` in the original history (the next event's note, or the end value). Equal: the
   row is as it was from here on unless a dirty row changes it later, so it leaves
   ``dirty`` and goes back to its end value (the early cut-off: a reply that recalled a
   memory writes the same ``last_retrieved_at``, and the chain stops). Different: it is
   dirty, and its next writer in the original history joins.
   A sticky row stays dirty whatever it holds, so its every writer is refolded in order.

A row the refold writes that ``e`` never wrote (its reads changed) must have held the
same value since ``first``, else the refold started from the wrong image: the rewind
gives up, as it does when a row that others read without writing it (``watched``)
comes out different. The caller then undoes every change since ``first`` from the
notes (the original notes stay until the end, so the earliest note of each row still
holds its image before ``first``) and refolds the whole span.

Notes: the events refolded get new notes (their seq numbers above ``mark``); their
original ones are dropped at the end. Notes are ordered by event id, then seq.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from chat.eventlog import undo
from chat.eventlog.log import Event, events_by_id

Key = tuple[str, str]  # (table, key as noted)
Image = tuple | None  # a row's columns in table order; None: no such row


@dataclass(frozen=True)
class Start:
    """Where a rewind starts: what ``rewind.plan`` found."""

    seeds: set[int]  # the reverted turns' state-changing events (the fold skips them)
    forced: set[int]  # refolded whatever they wrote: context events, messages of changed scenes
    sticky: set[Key]  # restored to their image before ``first``, refolded to the end
    watched: set[Key]  # must come out as they were at every step (others read them)
    guarded: frozenset[str]  # tables whose rows must be sticky if touched at all


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
        self.notes_of = f"SELECT k, op, {images} FROM {shadow} WHERE event_id = ? AND seq <= ? ORDER BY seq"  # noqa: S608
        self.new_notes_of = f"SELECT k, op, {images} FROM {shadow} WHERE event_id = ? AND seq > ? ORDER BY seq"  # noqa: S608
        self.next_note = (
            f"SELECT event_id, op, {images} FROM {shadow} WHERE k = ? AND event_id > ? AND seq <= ?"  # noqa: S608
            " ORDER BY event_id, seq LIMIT 1"
        )
        self.forget = f"DELETE FROM {shadow} WHERE event_id = ? AND seq <= ?"  # noqa: S608
        self.mark = conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {shadow}").fetchone()[0]  # noqa: S608


def _image(op: str, values: tuple) -> Image:
    """A note's image of the row before its event: none when the event inserted it."""
    return None if op == "i" else tuple(values)


class Refold:
    """One rewind's ordered refold; ``run`` returns (rows put back, events refolded) or None."""

    def __init__(
        self, conn: sqlite3.Connection, tables: list[str], start: Start, first: int,
        fold: Callable[[list[Event]], None],
    ) -> None:  # fmt: skip
        self.conn, self.start, self.first, self.fold = conn, start, first, fold
        self.tables = {name: _Table(conn, name) for name in tables}
        self.dirty: set[Key] = set()
        self.end: dict[Key, Image] = {}  # each touched row's value at the end of the original log
        self.queue: list[int] = []
        self.queued: set[int] = set()
        self.done: dict[int, set[str]] = {}  # event refolded -> tables of its original notes

    def run(self) -> tuple[int, int] | None:
        undo.recording(self.conn, None)
        for key in sorted(self.start.sticky):  # their images before ``first``, then in step
            self._remember(key)
            nxt = self._next(key, self.first - 1)
            if nxt is not None:
                self._put(key, nxt[1])
                self._push(nxt[0])
            self.dirty.add(key)
        for event_id in self.start.seeds | self.start.forced:
            self._push(event_id)
        while self.queue:
            event_id = heapq.heappop(self.queue)
            if not self._step(event_id):
                self._give_up()
                return None
        for event_id, names in self.done.items():
            for name in names:
                table = self.tables[name]
                self.conn.execute(table.forget, (event_id, table.mark))
        return len(self.end), len(self.done)

    def _step(self, event_id: int) -> bool:
        """Refold one event if it must be; False when the rewind must refold the span."""
        before = self._notes(event_id, new=False)
        chosen = event_id in self.start.seeds or event_id in self.start.forced
        if not chosen and not any(key in self.dirty for key in before):
            return True
        for key, image in before.items():
            if key[0] in self.start.guarded and key not in self.start.sticky:
                return False  # a row others read, touched by an event that is not in step
            if key not in self.dirty:
                self._remember(key)
                self._put(key, image)
        self.fold(events_by_id(self.conn, [event_id]))
        self.done[event_id] = {table for table, _k in before}
        after = self._notes(event_id, new=True)
        for key in after.keys() - before.keys():  # written now, not before: its reads changed
            if key[0] in self.start.guarded:
                return False
            if key not in self.dirty:
                if self._next(key, self.first - 1) is not None:
                    return False  # it changed since ``first``: the refold's base was wrong
                self.end.setdefault(key, after[key])
        for key in before.keys() | after.keys():
            nxt = self._next(key, event_id)
            was = self.end[key] if nxt is None else nxt[1]
            same = self._row(key) == was
            if same and key not in self.start.sticky:
                self.dirty.discard(key)
                self._put(key, self.end[key])
                continue
            if not same and key in self.start.watched:
                return False
            self.dirty.add(key)
            if nxt is not None:
                self._push(nxt[0])
        return True

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

    def _notes(self, event_id: int, *, new: bool) -> dict[Key, Image]:
        """The rows ``event_id`` changed, each with its image before the event: from its
        original notes, or (``new``) from those its refold just wrote."""
        found: dict[Key, Image] = {}
        for table in self.tables.values():
            sql = table.new_notes_of if new else table.notes_of
            for row in self.conn.execute(sql, (event_id, table.mark)):
                found.setdefault((table.name, row[0]), _image(row[1], row[2:]))
        return found

    def _next(self, key: Key, after: int) -> tuple[int, Image] | None:
        """The first original note of ``key`` after event ``after``: (its event, the row's
        image before it), the row's image after ``after`` in the original history."""
        table = self.tables[key[0]]
        row = self.conn.execute(table.next_note, (key[1], after, table.mark)).fetchone()
        return None if row is None else (int(row[0]), _image(row[1], row[2:]))

    def _row(self, key: Key) -> Image:
        table = self.tables[key[0]]
        row = self.conn.execute(table.select, json.loads(key[1])).fetchone()
        return None if row is None else tuple(row)

    def _remember(self, key: Key) -> None:
        if key not in self.end:
            self.end[key] = self._row(key)

    def _put(self, key: Key, image: Image) -> None:
        """Make the row ``image`` (unrecorded), writing only the columns that differ, so
        an unchanged text costs no full-text reindex."""
        table = self.tables[key[0]]
        now = self._row(key)
        if now == image:
            return
        values = json.loads(key[1])
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
            changed = [(c, v) for c, v, old in zip(table.columns, image, now, strict=True) if v != old]
            sets = ", ".join(f'"{c}" = ?' for c, _v in changed)
            self.conn.execute(
                f"UPDATE {table.name} SET {sets} WHERE {table.where}",  # noqa: S608
                (*(v for _c, v in changed), *values),
            )
