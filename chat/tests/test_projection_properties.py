"""Property tests of the projection (§9.3–§9.4, §4.6, §14.3).

For random sequences of valid events: incremental projection in random chunk
sizes = full replay = restore of a snapshot taken at a random point + the
tail; and a log with rewinds projects exactly like the same log with the
reverted turns' events left out (same event ids, so the comparison is exact).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import (
    canonical_dump,
    is_projected,
    project,
    rebuild,
    reverted_turns,
)
from chat.snapshots.api import restore_from_snapshot, take_snapshot
from chat.tests.event_strategies import event_sequences

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _chunks(events: list[NewEvent], sizes: list[int]) -> list[list[NewEvent]]:
    chunks, start = [], 0
    for size in sizes:
        if start >= len(events):
            break
        chunks.append(events[start : start + size])
        start += size
    if start < len(events):
        chunks.append(events[start:])
    return chunks


def _fresh_db(folder: Path, name: str) -> Path:
    path = folder / name
    apply_migrations(path)
    return path


@PROPERTY_SETTINGS
@given(
    events=event_sequences(),
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    snapshot_after=st.integers(0, 12),
)
def test_incremental_equals_rebuild_equals_snapshot_plus_tail(
    events: list[NewEvent], sizes: list[int], snapshot_after: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        snapshot = None
        with open_db(_fresh_db(folder, "a.db")) as conn:
            for index, chunk in enumerate(_chunks(events, sizes)):
                append_events(conn, chunk)
                project(conn, checkpoints=lambda _c, _u: None)
                if index == snapshot_after:
                    snapshot = take_snapshot(conn, data_dir=folder / "data", kind="manual")
            incremental = canonical_dump(conn)
            assert project(conn).applied == 0  # calling it again applies nothing
            if snapshot is None:
                snapshot = take_snapshot(conn, data_dir=folder / "data", kind="manual")
            restore_from_snapshot(conn, snapshot)
            project(conn, checkpoints=lambda _c, _u: None)
            from_snapshot = canonical_dump(conn)
            rebuild(conn)
            full = canonical_dump(conn)
        assert incremental == full
        assert from_snapshot == full


def _copy_events(source: sqlite3.Connection, target: sqlite3.Connection, keep) -> None:
    """Copy raw event rows with their ids (gaps allowed), keeping those ``keep`` accepts."""
    rows = source.execute(
        "SELECT id, kind, version, payload, created_at, chat_id, turn_id, actor FROM events ORDER BY id"
    ).fetchall()
    target.execute("BEGIN IMMEDIATE")
    target.executemany(
        "INSERT INTO events (id, kind, version, payload, created_at, chat_id, turn_id, actor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [row for row in rows if keep(row)],
    )
    target.execute("COMMIT")


@PROPERTY_SETTINGS
@given(events=event_sequences(max_size=60), sizes=st.lists(st.integers(1, 6), min_size=1, max_size=15))
def test_rewind_equals_replay_without_reverted_turns(events: list[NewEvent], sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_db(_fresh_db(folder, "a.db")) as source:
            for chunk in _chunks(events, sizes):
                append_events(source, chunk)
                project(source, checkpoints=lambda _c, _u: None)
            rewound = canonical_dump(source)
            reverted = reverted_turns(source)

            # Exact: the same log with the reverted turns' state-changing events left out.
            with open_db(_fresh_db(folder, "b.db")) as target:
                _copy_events(source, target, lambda row: is_projected(row[1], row[6], reverted))
                rebuild(target)
                assert canonical_dump(target) == rewound

            # Also without any trace of those turns: everything but the turns table is equal.
            with open_db(_fresh_db(folder, "c.db")) as target:
                _copy_events(
                    source,
                    target,
                    lambda row: row[6] not in reverted and row[1] != "turns_reverted",
                )
                rebuild(target)
                without = canonical_dump(target)
            for table, rows in rewound.items():
                if table != "turns":
                    assert without[table] == rows, table


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_sequences(max_size=50), sizes=st.lists(st.integers(1, 6), min_size=1, max_size=15))
def test_rewind_refolds_from_a_snapshot_like_from_the_start(events: list[NewEvent], sizes: list[int]) -> None:
    """Refolding from a usable snapshot (the default next to kith.db) gives the same state."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with open_db(_fresh_db(data_dir, "kith.db")) as conn:
            for chunk in _chunks(events, sizes):
                append_events(conn, chunk)
                project(conn)  # checkpoints default to the snapshots in data_dir
                take_snapshot(conn, data_dir=data_dir, keep=3)
            with_checkpoints = canonical_dump(conn)
            rebuild(conn)
            assert canonical_dump(conn) == with_checkpoints


WORLD_TABLES = (
    "entities", "edges", "edge_history", "memories", "reflection_state", "reflection_importance",
    "world_facts", "scenes",
    "pins", "item_history", "chats",
)


def _world_rows(conn: sqlite3.Connection, except_world: str) -> dict[str, list[tuple]]:
    """Every row of the world-scoped tables that belongs to a world other than ``except_world``."""
    return {
        table: sorted(
            tuple(row)
            for row in conn.execute(
                f"SELECT * FROM {table} WHERE world_id NOT IN (?, '')", (except_world,)  # noqa: S608
            )
        )
        for table in WORLD_TABLES
    }


@PROPERTY_SETTINGS
@given(events=event_sequences(max_size=60), pick=st.integers(0, 1000))
def test_a_rewind_in_one_world_never_changes_another(events: list[NewEvent], pick: int) -> None:
    """Reverting a turn of a chat in world W leaves every row of every other world as it was
    (§3.5, §4.6), and the rewound state still equals a full replay."""
    with tempfile.TemporaryDirectory() as tmp, open_db(_fresh_db(Path(tmp), "a.db")) as conn:
        append_events(conn, events)
        project(conn, checkpoints=lambda _c, _u: None)
        live = conn.execute(
            "SELECT t.id, t.chat_id, COALESCE(c.world_id, 'default') FROM turns t"
            " LEFT JOIN chats c ON c.id = t.chat_id WHERE t.status != 'reverted' ORDER BY t.id"
        ).fetchall()
        if not live:
            return
        turn_id, chat_id, world_id = live[pick % len(live)]
        before = _world_rows(conn, world_id)
        append_events(conn, [NewEvent("turns_reverted", {"chat_id": chat_id, "turn_ids": [turn_id]},
                                      chat_id=chat_id, actor="user")])
        project(conn, checkpoints=lambda _c, _u: None)
        assert _world_rows(conn, world_id) == before
        rewound = canonical_dump(conn)
        rebuild(conn)
        assert canonical_dump(conn) == rewound
