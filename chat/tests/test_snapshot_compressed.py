"""Large snapshots are written gzip-compressed, small ones as plain JSON (§10.4, issue 15's
disk per turn); both load, and a damaged compressed file is refused, so cold load
falls back to an older snapshot."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from chat.errors import SnapshotInvalid
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import PROJECTION_VERSION, canonical_dump, project, rebuild
from chat.snapshots.api import restore_from_snapshot, take_snapshot
from chat.snapshots.format import read_snapshot
from chat.snapshots.packing import COMPRESS_OVER


def _world(conn: sqlite3.Connection, memories: int) -> None:
    events = [NewEvent("bot_authored", {"id": "bot0", "name": "Ada"})]
    events += [
        NewEvent("memory_added", {"id": f"m{i}", "owner": "bot0", "text": f"the lamp on the pier, night {i}",
                                  "importance": 1 + i % 10})
        for i in range(memories)
    ]  # fmt: skip
    append_events(conn, events)
    project(conn)


def test_a_small_snapshot_stays_plain_json(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 3)
    path = take_snapshot(conn, data_dir=data_dir)
    assert json.loads(path.read_text())["last_event_id"] == 4


def test_a_large_snapshot_is_compressed_and_restores_the_same_state(
    conn: sqlite3.Connection, data_dir: Path
) -> None:
    _world(conn, 3000)
    path = take_snapshot(conn, data_dir=data_dir)
    raw = path.read_bytes()
    plain = gzip.decompress(raw)
    assert raw[:2] == b"\x1f\x8b" and len(plain) > COMPRESS_OVER and len(raw) < len(plain) / 4
    assert read_snapshot(path, schema_version=PROJECTION_VERSION).last_event_id == 3001
    before = canonical_dump(conn)
    restore_from_snapshot(conn, path)
    assert canonical_dump(conn) == before
    rebuild(conn)
    assert canonical_dump(conn) == before


def test_a_damaged_compressed_snapshot_is_refused(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 3000)
    path = take_snapshot(conn, data_dir=data_dir)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(SnapshotInvalid, match="damaged compressed snapshot"):
        read_snapshot(path, schema_version=PROJECTION_VERSION)
