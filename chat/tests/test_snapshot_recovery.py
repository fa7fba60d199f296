"""Snapshots under stress (§10.4–§10.7, §14.2): corruption, hostile files, retention, consistency.

Every corrupt or hostile newest snapshot must leave start working: cold load
comes up from an older snapshot or a full replay, the projections equal a
full replay, the events are untouched, and the bad file sits in
``snapshots/quarantine/``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.errors import Conflict, SnapshotInvalid
from chat.eventlog.log import NewEvent, append_event, append_events
from chat.eventlog.projector import (
    canonical_dump,
    get_cursor,
    mark_needs_rebuild,
    project,
    rebuild,
)
from chat.snapshots.api import (
    list_snapshots,
    load_snapshot,
    prune_periodic_snapshots,
    restore_from_snapshot,
    should_take_periodic_snapshot,
    take_snapshot,
)
from chat.snapshots.cold_load import cold_load
from chat.snapshots.format import encode_snapshot, lock_file


def _world(conn: sqlite3.Connection, start: int, count: int) -> None:
    events = [NewEvent("bot_authored", {"id": f"bot{start}", "name": "Ada"})] if start == 0 else []
    for i in range(start, start + count):
        events.append(NewEvent("memory_added", {"id": f"m{i}", "owner": "bot0", "text": f"memory {i}",
                                                "importance": 1 + i % 10}))
        events.append(NewEvent("edge_changed", {"src": "bot0", "dst": "you", "affinity_delta": 3}))
    append_events(conn, events)
    project(conn)


@pytest.fixture
def two_snapshots(conn: sqlite3.Connection, data_dir: Path) -> tuple[Path, Path]:
    """An older and a newer periodic snapshot, with more events after both."""
    _world(conn, 0, 5)
    older = take_snapshot(conn, data_dir=data_dir)
    _world(conn, 5, 5)
    newer = take_snapshot(conn, data_dir=data_dir)
    _world(conn, 10, 3)
    return older, newer


def _rewrite(path: Path, change: Callable[[dict], None]) -> None:
    """Re-encode a snapshot after ``change`` edits its parsed content, with a valid checksum."""
    data = json.loads(path.read_bytes())
    change(data)
    body = encode_snapshot(
        tables=data["tables"], last_event_id=data["last_event_id"], kind=data["kind"],
        schema_version=data["schema_version"], created=datetime.now(UTC),
        log_fingerprint=data.get("log_fingerprint"),
    )
    path.write_bytes(body)


def _add_table(data: dict) -> None:
    data["tables"]["events; DROP TABLE events; --"] = {"columns": ["x"], "rows": [["y"]]}


def _add_column(data: dict) -> None:
    table = data["tables"]["world_facts"]
    table["columns"].append("x) VALUES (1); DROP TABLE events; --")
    for row in table["rows"]:
        row.append(1)


def _nest_values(data: dict) -> None:
    for row in data["tables"]["memories"]["rows"]:
        row[2] = {"nested": [1, {"deeper": [2]}]}


def _wrong_row_length(data: dict) -> None:
    data["tables"]["bots"]["rows"][0].pop()


def _rows_not_lists(data: dict) -> None:
    data["tables"]["edges"]["rows"] = [{"src": "a"}]


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "bad checksum": lambda p: p.write_bytes(p.read_bytes().replace(b"memory 7", b"memory X")),
    "other schema version": lambda p: p.write_bytes(
        p.read_bytes().replace(b'"schema_version":1', b'"schema_version":99')),
    "not json": lambda p: p.write_bytes(b"\x00\xffnot json at all"),
    "ahead of the log": lambda p: p.write_bytes(
        p.read_bytes().replace(b'"last_event_id":', b'"last_event_id":9999', 1)),
    "another log": lambda p: p.write_bytes(
        p.read_bytes().replace(b'"log_fingerprint":"', b'"log_fingerprint":"0', 1)),
    "hostile table": lambda p: _rewrite(p, _add_table),
    "hostile column": lambda p: _rewrite(p, _add_column),
    "nested values": lambda p: _rewrite(p, _nest_values),
    "wrong row length": lambda p: _rewrite(p, _wrong_row_length),
    "rows not lists": lambda p: _rewrite(p, _rows_not_lists),
    "deeply nested json": lambda p: p.write_bytes(b"[" * 200_000 + b"]" * 200_000),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_newest_snapshot_falls_back_to_the_older_one(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path], corruption: str
) -> None:
    older, newer = two_snapshots
    expected = canonical_dump(conn)
    events_before = conn.execute("SELECT COUNT(*), MAX(id) FROM events").fetchone()
    CORRUPTIONS[corruption](newer)
    mark_needs_rebuild(conn)

    report = cold_load(conn, data_dir)

    assert report.path == "snapshot" and report.snapshot == older.name
    assert canonical_dump(conn) == expected
    assert conn.execute("SELECT COUNT(*), MAX(id) FROM events").fetchone() == events_before
    quarantined = list((data_dir / "snapshots" / "quarantine").iterdir())
    assert [p.name for p in quarantined] == [f"periodic-{newer.name}"]
    assert report.quarantined == (f"periodic-{newer.name}",)
    assert not newer.exists() and older.exists()


def test_every_snapshot_bad_means_full_replay(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    expected = canonical_dump(conn)
    for path in two_snapshots:
        CORRUPTIONS["bad checksum" if path == two_snapshots[1] else "truncated"](path)
    conn.execute("DELETE FROM projection_state")  # cursor missing

    report = cold_load(conn, data_dir)

    assert report.path == "full_replay"
    assert canonical_dump(conn) == expected
    assert len(report.quarantined) == 2


def test_hostile_snapshot_cannot_touch_other_tables(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    _older, newer = two_snapshots
    _rewrite(newer, _add_column)
    with pytest.raises(SnapshotInvalid, match="world_facts has columns"):
        restore_from_snapshot(conn, newer)
    _rewrite(newer, lambda d: d["tables"]["world_facts"].update(
        columns=["key", "value", "updated_event_id"], rows=[]))
    _rewrite(newer, _add_table)
    with pytest.raises(SnapshotInvalid, match="unknown table"):
        restore_from_snapshot(conn, newer)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "events" in tables
    assert conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 13  # untouched


def test_current_projections_only_replay_the_tail(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 0, 3)
    append_event(conn, kind="world_fact_set", payload={"key": "k", "value": "v"})
    report = cold_load(conn, data_dir)
    assert (report.path, report.replayed) == ("tail", 1)


def test_cold_load_snapshot_plus_tail_reports_progress(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    seen: list[int] = []
    mark_needs_rebuild(conn)
    report = cold_load(conn, data_dir, on_event=seen.append)
    assert report.path == "snapshot" and report.snapshot == two_snapshots[1].name
    assert seen == list(range(report.last_event_id - 5, report.last_event_id + 1))
    assert report.replayed == 6


def test_force_rebuild_uses_the_newest_snapshot(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    expected = canonical_dump(conn)
    report = cold_load(conn, data_dir, force_rebuild=True)
    assert report.snapshot == two_snapshots[1].name
    assert canonical_dump(conn) == expected


def test_snapshot_refused_while_projections_need_a_rebuild(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 0, 1)
    mark_needs_rebuild(conn)
    with pytest.raises(Conflict, match="kith rebuild"):
        take_snapshot(conn, data_dir=data_dir)


# --- retention, names, the periodic rule ------------------------------------------------


class FrozenClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_names_sort_in_time_order_and_never_collide(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 0, 1)
    clock = FrozenClock()
    paths = [take_snapshot(conn, data_dir=data_dir, clock=clock, keep=10) for _ in range(3)]
    assert len(set(paths)) == 3
    assert sorted(p.name for p in paths) == [p.name for p in paths]
    assert all(load_snapshot(p).last_event_id == 3 for p in paths)


def test_retention_keeps_five_and_never_manual(conn: sqlite3.Connection, data_dir: Path) -> None:
    clock = FrozenClock()
    manual = None
    for i in range(8):
        _world(conn, i * 2, 1)
        clock.now += timedelta(minutes=1)
        take_snapshot(conn, data_dir=data_dir, clock=clock)
        if i == 0:
            manual = take_snapshot(conn, data_dir=data_dir, kind="manual", clock=clock)
    periodic = [s for s in list_snapshots(data_dir) if s["kind"] == "periodic"]
    assert len(periodic) == 5
    assert manual is not None and manual.exists()


def test_pruning_never_removes_the_newest_valid_snapshot(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 0, 1)
    clock = FrozenClock()
    valid = take_snapshot(conn, data_dir=data_dir, clock=clock)
    folder = valid.parent
    for _ in range(7):  # seven newer files, all corrupt
        clock.now += timedelta(minutes=1)
        broken = take_snapshot(conn, data_dir=data_dir, clock=clock, keep=100)
        CORRUPTIONS["truncated"](broken)
    removed = prune_periodic_snapshots(data_dir, keep=5)
    assert removed == 2
    assert valid.exists()
    assert len(list(folder.glob("*.json"))) == 6


def test_periodic_rule_counts_events_and_reads_the_clock(conn: sqlite3.Connection, data_dir: Path) -> None:
    clock = FrozenClock()
    _world(conn, 0, 1)
    take_snapshot(conn, data_dir=data_dir, clock=clock)
    assert not should_take_periodic_snapshot(conn, data_dir, clock=clock)
    _world(conn, 1, 1)  # two new events
    assert not should_take_periodic_snapshot(conn, data_dir, clock=clock)
    assert should_take_periodic_snapshot(conn, data_dir, clock=clock, every_events=2)
    clock.now += timedelta(minutes=30)
    assert should_take_periodic_snapshot(conn, data_dir, clock=clock)


def test_leftover_temporary_files_are_ignored_then_cleaned(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 0, 1)
    path = take_snapshot(conn, data_dir=data_dir)
    old, fresh = path.parent / f".{path.name}.tmp", path.parent / ".being-written.json.tmp"
    old.write_bytes(b"half a snap")  # its writer is gone, whatever the file's age
    with open(fresh, "wb") as writing:  # another process is writing this one: it holds the lock
        lock_file(writing, wait=True)
        writing.write(b"another process is writing this one")
        assert [s["name"] for s in list_snapshots(data_dir)] == [path.name]
        mark_needs_rebuild(conn)
        assert cold_load(conn, data_dir).snapshot == path.name
        assert not old.exists() and fresh.exists()


# --- consistency while appends go on -----------------------------------------------------


def test_snapshot_is_the_fold_of_its_prefix_while_appends_go_on(tmp_path: Path, data_dir: Path) -> None:
    db = data_dir / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:
        _world(conn, 0, 1)
    stop = threading.Event()

    def writer() -> None:
        with open_db(db) as wconn:
            i = 1
            while not stop.is_set():
                _world(wconn, i, 2)
                i += 2

    thread = threading.Thread(target=writer)
    thread.start()
    paths = []
    try:
        with open_db(db) as reader:
            for _ in range(4):
                paths.append(take_snapshot(reader, data_dir=data_dir, kind="manual"))
                seen = load_snapshot(paths[-1]).last_event_id
                deadline = time.monotonic() + 10
                while get_cursor(reader) <= seen and time.monotonic() < deadline:
                    time.sleep(0.005)  # let the writer move on before the next snapshot
    finally:
        stop.set()
        thread.join()
    with open_db(db) as conn:
        rows = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    assert len({load_snapshot(p).last_event_id for p in paths}) > 1  # appends went on meanwhile
    for index, path in enumerate(paths):
        snapshot = load_snapshot(path)
        prefix = tmp_path / f"prefix-{index}.db"
        apply_migrations(prefix)
        with open_db(prefix) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [r for r in rows if r[0] <= snapshot.last_event_id],
            )
            conn.execute("COMMIT")
            rebuild(conn)
            folded = canonical_dump(conn)
            restore_from_snapshot(conn, path)
            assert canonical_dump(conn) == folded
