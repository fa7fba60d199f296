"""The snapshot cold load of the core benchmark, step by step, and its floor (§13).

``restore_steps`` times each step of snapshot + tail on its own; ``restore_floor``
loads the same rows from an attached SQLite copy instead of the JSON file: the
clear, bulk load, index and full-text builds, commit and tail of a restore with
the parsing and the per-row Python taken away. The floor bounds what any restore
that writes the rows into the projection tables can reach, whatever the file
format, so the benchmark can say how far the cold-load ratio could go.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chat.db.connection import derived_data_durability, transaction
from chat.eventlog.bulk import bulk_projection
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import (
    clear_projections,
    mark_needs_rebuild,
    project,
    projection_tables,
    set_cursor,
)
from chat.snapshots.api import check_matches_log, load_snapshot, take_snapshot
from chat.snapshots.cold_load import cold_load
from chat.snapshots.format import gc_paused, table_columns
from chat.snapshots.restore import deferred_indexes, restore_tables


def snapshot_then_rebuild(conn: sqlite3.Connection, data_dir: Path) -> dict[str, Any]:
    """Write a snapshot, append a one-event tail, mark the projections for rebuild and
    cold-load: the §10.6 rebuild path as ``kith serve --rebuild`` takes it, timed."""
    started = time.perf_counter()
    snapshot = take_snapshot(conn, data_dir=data_dir)
    timed: dict[str, Any] = {
        "snapshot": snapshot,
        "snapshot_write_s": round(time.perf_counter() - started, 2),
        "snapshot_bytes": snapshot.stat().st_size,
    }
    append_events(conn, [NewEvent("world_fact_set", {"key": "bench", "value": "tail"})])
    mark_needs_rebuild(conn)
    conn.commit()
    cpu = time.process_time()
    loaded = cold_load(conn, data_dir)
    timed["cold_load_s"] = round(loaded.seconds, 2)
    timed["cold_load_cpu_s"] = round(time.process_time() - cpu, 2)
    timed["cold_load_path"] = loaded.path
    return timed


def restore_steps(
    conn: sqlite3.Connection, path: Path, check: Callable[[], bool], repeats: int
) -> dict[str, float]:
    """Seconds per step of snapshot + tail, each the median of ``repeats`` runs.

    The steps are those of ``cold_load`` run one by one, except that the restore
    commits before the tail is projected (cold load commits both together).
    """
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        mark_needs_rebuild(conn)
        timings: dict[str, float] = {}
        with gc_paused():
            started = time.perf_counter()
            snapshot = load_snapshot(path)
            check_matches_log(conn, snapshot)
            timings["read, checksum, ranges"] = time.perf_counter() - started
            restore_tables(conn, snapshot, timings=timings)
            del snapshot
        started = time.perf_counter()
        project(conn)
        timings["tail"] = time.perf_counter() - started
        if not check():
            raise RuntimeError("step-by-step restore went wrong")
        for step, seconds in timings.items():
            runs.setdefault(step, []).append(seconds)
    return {step: statistics.median(values) for step, values in runs.items()}


def restore_floor(
    conn: sqlite3.Connection, copy: Path, path: Path, check: Callable[[], bool], repeats: int
) -> float:
    """Snapshot + tail with the rows taken from an attached SQLite copy instead of JSON.

    Everything but the parsing and the per-row Python of a JSON restore: the same
    clear, bulk load in rowid order, index and full-text builds, commit and tail. No
    restore that writes the rows into the projection tables can be much faster.
    """
    last_id = load_snapshot(path).last_event_id
    tables = projection_tables()
    conn.execute("ATTACH ? AS floor", (str(copy),))
    try:
        conn.execute("BEGIN IMMEDIATE")  # the projections as of the snapshot: restore, copy
        restore_tables(conn, load_snapshot(path))
        for table in tables:
            conn.execute(f"CREATE TABLE floor.{table} AS SELECT * FROM main.{table} ORDER BY rowid")  # noqa: S608
        conn.execute("COMMIT")
        runs = []
        for _ in range(repeats):
            mark_needs_rebuild(conn)
            started = time.perf_counter()
            with derived_data_durability(conn), transaction(conn):
                with bulk_projection(conn, tables), deferred_indexes(conn, tables):
                    clear_projections(conn)
                    for table in tables:
                        columns = ", ".join(table_columns(conn, table))
                        conn.execute(
                            f"INSERT INTO main.{table} ({columns})"  # noqa: S608
                            f" SELECT {columns} FROM floor.{table} ORDER BY rowid"
                        )
                set_cursor(conn, last_id)
                project(conn)
            runs.append(time.perf_counter() - started)
            if not check():
                raise RuntimeError("restore from the SQLite copy went wrong")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("DETACH floor")
    return statistics.median(runs)
