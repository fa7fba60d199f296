"""The rebuild at 1M events, step by step and against its floor (§13, issue 15).

`bench_rewind` times the rebuild (snapshot + tail) once, after its rewinds; this bench
asks why it takes what it takes. On the realistic world of core_world at one size it
writes a snapshot, then cold-loads from it (the §10.6 rebuild path, as `kith serve
--rebuild` runs it), times each step of the restore (`cold_load_steps.restore_steps`),
and the floor (`cold_load_steps.restore_floor`: the same rows copied from an attached
SQLite file, so no JSON and no Python per row; no restore that writes the rows can be
much faster). It also counts the projection rows, which is what all three grow with.

    kith bench restore [--sizes 1000000]
    python -m benchmarks.bench_restore [--size 1000000]

Building the world replays it from scratch (minutes at 1M); with ``KITH_BENCH_CACHE=DIR``
the built database is kept in DIR and copied on the next run (rebuilt there when the
projections' version changed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.cold_load_steps import restore_floor, restore_steps, snapshot_then_rebuild
from benchmarks.core_world import realistic_events
from chat.db.connection import database_path, open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_events
from chat.eventlog.projector import projection_tables, rebuild
from chat.snapshots.cold_load import projections_current

BATCH = 5_000


def _world(size: int, db: Path) -> None:
    """``db`` holding the realistic world of ``size`` events with current projections."""
    cache = os.environ.get("KITH_BENCH_CACHE")
    cached = Path(cache) / f"restore-world-{size}.db" if cache else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, db)
    apply_migrations(db)
    with open_db(db) as conn:
        if cached is None or not cached.exists():
            events = list(realistic_events(size))
            for start in range(0, len(events), BATCH):
                append_events(conn, events[start : start + BATCH])
        if cached is None or not cached.exists() or not projections_current(conn):
            rebuild(conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(db, cached)


def measure(size: int, folder: Path) -> dict[str, Any]:
    data_dir = folder / "world"
    data_dir.mkdir()
    db = database_path(data_dir)
    _world(size, db)
    row: dict[str, Any] = {"events": size, "load_before": os.getloadavg()[0]}
    with open_db(db) as conn:
        row["rows"] = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in projection_tables()
        }
        timed = snapshot_then_rebuild(conn, data_dir)
        snapshot = timed.pop("snapshot")
        row.update(timed)
        row["steps_s"] = {k: round(v, 2) for k, v in restore_steps(conn, snapshot, lambda: True, 1).items()}
        row["floor_s"] = round(restore_floor(conn, folder / "floor.db", snapshot, lambda: True, 1), 2)
    row["load_after"] = os.getloadavg()[0]
    return row


def run(progress: bool = True, sizes: tuple[int, ...] = (1_000_000,)) -> dict[str, Any]:
    say = print if progress else (lambda _m: None)
    rows = []
    for size in sizes:
        say(f"[restore] {size} events…")
        with tempfile.TemporaryDirectory(prefix="kith-bench-restore-") as tmp:
            rows.append(measure(size, Path(tmp)))
    return {"rows": rows}


def _row_report(row: dict[str, Any]) -> str:
    rows = sum(n for table, n in row["rows"].items())
    biggest = sorted(row["rows"].items(), key=lambda item: -item[1])[:4]
    steps = ", ".join(f"{step} {seconds} s" for step, seconds in row["steps_s"].items())
    return "\n".join([
        f"restore at {row['events']:,} events (load average {row['load_before']:.2f} → {row['load_after']:.2f})",
        f"projection rows: {rows:,} ({', '.join(f'{t} {n:,}' for t, n in biggest)})",
        f"snapshot write: {row['snapshot_write_s']} s, {row['snapshot_bytes'] / 1e6:.1f} MB",
        f"cold load ({row['cold_load_path']} + tail): {row['cold_load_s']} s (CPU {row['cold_load_cpu_s']} s)",
        f"its steps: {steps}",
        f"floor (same rows from an attached SQLite copy): {row['floor_s']} s;"
        f" the restore is {row['cold_load_s'] / row['floor_s']:.2f}× the floor",
    ])  # fmt: skip


def format_report(result: dict[str, Any]) -> str:
    return "\n\n".join(_row_report(row) for row in result["rows"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    print(format_report(run(sizes=(args.size,))))


if __name__ == "__main__":
    main()
