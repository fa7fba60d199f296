"""Writing a checked snapshot's rows into the projection tables (§10.6, §10.7).

A restore replaces every projection row, about as many rows as the log has
events, so it is a bulk load: one table is parsed, inserted and freed at a
time; the tables' secondary indexes are dropped first and built again at the
end (a sorted build is cheaper than keeping each index up to date row by row,
and leaves packed pages, so the commit writes less); the full-text index is
rebuilt in one pass (``bulk_projection``). It all runs in the caller's
transaction, so a bad row rolls back rows, indexes and triggers alike.

What reaches SQL is the schema's own: table and column names from the
projection registry and ``PRAGMA table_info``, index definitions from
``sqlite_master``; the file's values only ever as bound parameters.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from chat.db.connection import derived_data_durability, transaction
from chat.errors import SnapshotInvalid
from chat.eventlog.bulk import bulk_projection
from chat.eventlog.projector import clear_projections, projection_tables, set_cursor
from chat.snapshots.format import SnapshotData, checked_tables

Timings = MutableMapping[str, float]


@contextmanager
def deferred_indexes(conn: sqlite3.Connection, tables: list[str]) -> Iterator[None]:
    """Drop the explicit indexes of ``tables`` for the block, then create them again.

    Only inside a transaction: a failure in the block rolls the drops back with it.
    Primary keys and UNIQUE constraints (SQLite's automatic indexes) stay in place.
    """
    if not conn.in_transaction:
        raise RuntimeError("deferred_indexes needs an open transaction")
    marks = ", ".join("?" for _ in tables)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"  # noqa: S608
        f" AND tbl_name IN ({marks}) ORDER BY name",
        tables,
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _name, sql in indexes:
        conn.execute(sql)


class _Laps:
    """Seconds between marks, added up per step name (for the benchmark's breakdown)."""

    def __init__(self, timings: Timings | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[step] = self.timings.get(step, 0.0) + now - self.last
        self.last = now


def restore_tables(
    conn: sqlite3.Connection, snapshot: SnapshotData, *, timings: Timings | None = None
) -> int:
    """Replace the projections with the snapshot's rows; return its last_event_id (§10.7).

    Only the known projection tables and their own columns are written, with bound
    parameters; any mismatch or a value SQLite refuses makes the snapshot invalid and
    the transaction rolls back, leaving the projections as they were. ``timings``, when
    given, receives the seconds spent in each step: clear, parse (and check), insert,
    index build, fts rebuild, commit (that last one only when this call commits).
    """
    known = projection_tables()
    name = snapshot.path.name
    laps = _Laps(timings)
    with derived_data_durability(conn), transaction(conn):
        plan = checked_tables(conn, snapshot, known)
        with bulk_projection(conn, known):
            with deferred_indexes(conn, known):
                clear_projections(conn)
                laps.lap("clear")
                for table, columns, rows in plan:
                    laps.lap("parse")
                    if rows:
                        marks = ", ".join("?" for _ in columns)
                        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
                        try:
                            conn.executemany(sql, rows)
                        except (sqlite3.Error, TypeError, ValueError, OverflowError) as exc:
                            raise SnapshotInvalid(
                                f"{name}: rows of {table} cannot be restored ({exc})"
                            ) from None
                    del rows
                    laps.lap("insert")
            laps.lap("index build")
        laps.lap("fts rebuild")
        set_cursor(conn, snapshot.last_event_id)
    laps.lap("commit")
    return snapshot.last_event_id
