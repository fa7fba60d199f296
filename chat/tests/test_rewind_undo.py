"""Rewind from the notes of recent changes (chat/eventlog/undo.py, §4.6, §13).

A rewind restores only the rows the reverted turns' span touched and refolds from
there. These tests hold it to a replay of the log without the reverted turns, also
when the notes are pruned to a few events (so some rewinds fall back to the refold
from the start), invalidated by a snapshot restore or a rebuild in the middle, and
show that the work done does not grow with the world (rows restored, never time).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.db.connection import open_db
from chat.eventlog import undo
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
from chat.tests.test_projection_properties import _chunks, _copy_events, _fresh_db


def _replay_without_reverted(source, folder: Path) -> dict:
    reverted = reverted_turns(source)
    with open_db(_fresh_db(folder, "expected.db")) as target:
        _copy_events(
            source, target, lambda row: is_projected(row[1], row[6], reverted)
        )
        rebuild(target)
        return canonical_dump(target)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=event_sequences(max_size=60),
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=15),
    keep=st.integers(1, 40),
    disturb_at=st.integers(0, 15),
    disturb=st.sampled_from(["none", "rebuild", "snapshot"]),
)
def test_rewinds_from_pruned_or_invalidated_notes_equal_a_replay_without_the_turns(
    events: list[NewEvent], sizes: list[int], keep: int, disturb_at: int, disturb: str
) -> None:
    saved = undo.KEEP_EVENTS
    undo.KEEP_EVENTS = keep
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with open_db(_fresh_db(folder, "a.db")) as conn:
                snapshot = None
                for index, chunk in enumerate(_chunks(events, sizes)):
                    append_events(conn, chunk)
                    project(conn, checkpoints=lambda _c, _u: None)
                    if index == 1:
                        snapshot = take_snapshot(conn, data_dir=folder / "data", kind="manual")
                    if index == disturb_at and disturb == "rebuild":
                        rebuild(conn)
                    if index == disturb_at and disturb == "snapshot" and snapshot is not None:
                        restore_from_snapshot(conn, snapshot)
                        project(conn, checkpoints=lambda _c, _u: None)
                assert canonical_dump(conn) == _replay_without_reverted(conn, folder)
    finally:
        undo.KEEP_EVENTS = saved


def _world(conn, turns: int, start: int = 0) -> list[str]:
    """``turns`` turns of one chat, each a message, a memory and an edge change."""
    if start == 0:
        append_events(conn, [
            NewEvent("bot_authored", {"id": "ada", "name": "Ada", "persona": "p", "voice_samples": [],
                                      "traits": [], "backstory": "", "initial_relationship_to_you": "friend",
                                      "kickoff_prose": ""}),
            NewEvent("chat_created", {"id": "chat1", "title": "T", "bot_ids": ["ada"]}, chat_id="chat1"),
        ])
    ids = []
    batch: list[NewEvent] = []
    for n in range(start, start + turns):
        turn = f"turn{n}"
        ids.append(turn)
        batch += [
            NewEvent("turn_queued", {"id": turn, "chat_id": "chat1"}, chat_id="chat1", turn_id=turn),
            NewEvent("message_posted", {"id": f"msg{n}", "chat_id": "chat1", "author": "you",
                                        "text": f"hello {n}"}, chat_id="chat1", turn_id=turn),
            NewEvent("memory_added", {"id": f"mem{n}", "owner": "ada", "text": f"lantern{n} story",
                                      "importance": 3}, chat_id="chat1", turn_id=turn),
            NewEvent("edge_changed", {"src": "ada", "dst": "you", "affinity_delta": 1 - 2 * (n % 2),
                                      "trust_delta": 1 - 2 * (n % 2)},  # never saturates
                     chat_id="chat1", turn_id=turn),
            NewEvent("world_fact_set", {"key": "weather", "value": f"rain {n}"}, chat_id="chat1", turn_id=turn),
            NewEvent("turn_completed", {"id": turn, "message_ids": [f"msg{n}"]}, chat_id="chat1", turn_id=turn),
        ]
    append_events(conn, batch)
    project(conn)
    return ids


def _revert(conn, turn_ids: list[str]) -> object:
    append_events(conn, [NewEvent("turns_reverted", {"chat_id": "chat1", "turn_ids": turn_ids},
                                  chat_id="chat1")])
    return project(conn)


def test_the_work_of_a_rewind_grows_with_the_turns_not_with_the_world(tmp_path: Path) -> None:
    restored = {}
    for size in (50, 2_000):
        with open_db(_fresh_db(tmp_path, f"w{size}.db")) as conn:
            turns = _world(conn, size)
            last = _revert(conn, turns[-1:])
            ten = _revert(conn, turns[-11:-1])
            restored[size] = (last.rows_restored, ten.rows_restored)
            assert last.refolds == 1 and ten.refolds == 1
            assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / f"e{size}")
            # The full-text index follows: the reverted turns' memories are not found.
            found = conn.execute(
                "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (f"lantern{size - 1}",)
            ).fetchone()[0]
            assert found == 0
            kept = conn.execute(
                "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (f"lantern{size - 12}",)
            ).fetchone()[0]
            assert kept == 1
    assert restored[50] == restored[2_000], restored
    assert 0 < restored[2_000][0] < restored[2_000][1]


def test_a_rewind_past_the_notes_falls_back_and_the_notes_start_again(tmp_path: Path) -> None:
    saved = undo.KEEP_EVENTS
    undo.KEEP_EVENTS = 20
    try:
        with open_db(_fresh_db(tmp_path, "a.db")) as conn:
            turns = _world(conn, 30)
            old = _revert(conn, turns[:1])  # far beyond the last 20-40 events noted
            assert old.refolds == 1 and old.rows_restored == 0
            turns += _world(conn, 2, start=30)
            recent = _revert(conn, turns[-1:])
            assert recent.rows_restored > 0
            (tmp_path / "e").mkdir()
            assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / "e")
    finally:
        undo.KEEP_EVENTS = saved
