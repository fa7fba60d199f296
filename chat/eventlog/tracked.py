"""Rows others read, kept at their value of the moment during a rewind's walk (§13).

A tracked row (``cutoff.Start.tracked``: a row of a table that handlers read without
writing it, changed since the first reverted event) starts where it is, at its end
value, and is brought to its image of the moment (from the notes) only before a refold
that reads it: of the tables its kind reads (``rewind.READS``), and where the kind names
the rows it reads (``row_reads.ROWS``: a message reads its own chat's scene and row)
only those, with the rows the event wrote. A row no refold reads is never moved.
``Tracked`` is the part of ``cutoff.Refold`` that does this.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING

from chat.eventlog.log import Event

if TYPE_CHECKING:
    from chat.eventlog.cutoff import Start

Key = tuple[str, str]  # (table, key as noted)
Image = tuple | None  # a row's columns in table order; None: no such row


class Tracked:
    """Stepping tracked rows through their original history; mixed into ``cutoff.Refold``,
    which provides the notes (``_next``), the writes (``_put``) and the end values."""

    conn: sqlite3.Connection
    start: Start
    end: dict[Key, Image]

    def track(self) -> None:
        # Per table: (next original writer, tracked row), the rows behind their moment.
        self.lag: dict[str, list[tuple[int, Key]]] = {}
        self.behind: dict[Key, int] = {}  # a lagging row's entry in ``lag`` (others: stale)
        self.by_value: dict[str, dict[object, Key]] = {}  # table -> its tracked rows by key value

    def lag_from(self, key: Key, position: int) -> None:
        """``key`` is behind, at its image after ``position`` or its end value."""
        heapq.heappush(self.lag.setdefault(key[0], []), (position, key))
        self.behind[key] = position

    def _catch_up(
        self, upto: int | None, tables: frozenset[str] | set[str] = frozenset(),
        only: Mapping[str, set[Key]] | None = None,
    ) -> None:  # fmt: skip
        """Bring every tracked row of ``tables`` (at the end: all) whose original history
        moved on by ``upto`` (None: the end) to its image then, read from the notes: its
        writers in between wrote what they wrote (or were refolded, and checked to). A
        row of a table the next refold does not read may stay behind: it is stepped
        straight to its image of the moment when a later refold reads it; a row no
        refold reads is never put (it starts behind ``first``, at its end value).
        ``only``: of these tables, just these rows (those the refold reads)."""
        for name in self.lag if upto is None else tables & self.lag.keys():
            lag = self.lag[name]
            if only and name in only and upto is not None:
                for key in only[name]:
                    if self.behind.get(key, upto + 1) <= upto:
                        self._step_row(key, upto)
                continue
            while lag and (upto is None or lag[0][0] <= upto):
                writer, key = heapq.heappop(lag)
                if self.behind.get(key) != writer:
                    continue  # stepped on its own since: a newer entry stands for it
                self._step_row(key, upto)

    def _step_row(self, key: Key, upto: int | None) -> None:
        """A lagging tracked row to its image after ``upto`` (None: its end value)."""
        nxt = None if upto is None else self._next(key, upto)
        del self.behind[key]
        if nxt is None and key not in self.end:
            return  # never put: it holds its end value
        self._put(key, self.end[key] if nxt is None else nxt[1], remember=True)
        if nxt is not None:
            self.lag_from(key, nxt[0])

    def _rows_read(self, event: Event, before: set[Key]) -> dict[str, set[Key]] | None:
        """The tracked rows of each table ``event``'s kind names by row (``Start.rows``)
        that it reads or wrote; None where the kind names none."""
        named = self.start.rows.get(event.kind)
        values = None if named is None else named(self.conn, event)
        if values is None:
            return None
        found: dict[str, set[Key]] = {}
        for name, wanted in values.items():
            index = self.by_value.get(name)
            if index is None:
                index = self.by_value[name] = {
                    self._values(key)[0]: key for key in self.start.tracked if key[0] == name
                }
            rows = found[name] = {index[value] for value in wanted if value in index}
            rows.update(key for key in before if key[0] == name)
        return found

    def _next(self, key: Key, after: int) -> tuple[int, Image] | None:
        raise NotImplementedError

    def _put(self, key: Key, image: Image, *, now: Image | tuple = (), remember: bool = False) -> None:
        raise NotImplementedError

    def _values(self, key: Key) -> list:
        raise NotImplementedError
