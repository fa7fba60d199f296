"""Rewind of the last turns of one chat among other chats' turns (issue 15, §4.6, §13).

A rewind recomputes only the rows the reverted turns touched and the events that touch
them (chat/eventlog/rewind.py). These tests hold it to a replay of the log without the
reverted turns when chats of several worlds interleave and share bots, relationships
and world facts, to a rebuild and to a snapshot restore plus tail; and show, without
timing anything, that the events refolded do not grow with the other chats' events in
between.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.db.connection import open_db
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import ProjectResult, canonical_dump, project, rebuild
from chat.snapshots.api import restore_from_snapshot, take_snapshot
from chat.tests.test_projection_properties import _fresh_db
from chat.tests.test_rewind_undo import _replay_without_reverted

BOTS = ("ada", "bram", "cleo")
CHATS = {"c1": "default", "c2": "default", "c3": "w1", "c4": "w1"}
NO_CHECKPOINTS = {"checkpoints": lambda _c, _u: None}


def _setup() -> list[NewEvent]:
    events = [NewEvent("world_created", {"id": "w1", "name": "Second"})]
    for bot in BOTS:
        events.append(NewEvent("bot_authored", {
            "id": bot, "name": bot.title(), "persona": "p", "voice_samples": [], "traits": [],
            "backstory": "", "initial_relationship_to_you": "friend", "kickoff_prose": "",
        }))  # fmt: skip
        events.append(NewEvent("world_joined", {"world_id": "w1", "bot_id": bot}))
    for chat_id, world_id in CHATS.items():
        events.append(NewEvent("chat_created", {"id": chat_id, "title": chat_id, "bot_ids": list(BOTS),
                                                "world_id": world_id}, chat_id=chat_id))
    return events


def _turn(n: int, chat_id: str, bot: str, key: str, steps: set[str], recall: list[str]) -> list[NewEvent]:
    """One turn as the services write it: message, reply, what extraction adds, lifecycle."""
    turn = f"t{n}"

    def e(kind: str, payload: dict) -> NewEvent:
        return NewEvent(kind, payload, chat_id=chat_id, turn_id=turn)

    events = [
        e("turn_queued", {"id": turn, "chat_id": chat_id}),
        e("message_posted", {"id": f"u{n}", "chat_id": chat_id, "author": "you", "text": f"hello {n}"}),
        e("message_posted", {"id": f"b{n}", "chat_id": chat_id, "author": bot, "text": f"reply {n}",
                             "retrieved_memory_ids": recall}),
        e("memory_added", {"id": f"m{n}", "owner": bot, "text": f"lantern{n} story", "importance": 1 + n % 9}),
    ]
    if "edge" in steps:
        events.append(e("edge_changed", {"src": bot, "dst": "you", "affinity_delta": 3, "trust_delta": -2}))
    if "fact" in steps:
        events.append(e("world_fact_set", {"key": key, "value": f"v{n}"}))
    if "scene" in steps:
        events.append(e("scene_changed", {"chat_id": chat_id, "location": "inn", "present": [bot]}))
    if "edit" in steps and n > 0:
        events.append(e("message_edited", {"id": f"u{n}", "text": f"hello again {n}"}))
    if "reflect" in steps:
        events.append(e("reflection_recorded", {"bot_id": bot, "memory_ids": []}))
    events.append(e("turn_completed", {"id": turn, "message_ids": [f"b{n}"]}))
    return events


def _revert(conn, chat_id: str, turns: list[str]) -> ProjectResult:
    append_events(conn, [NewEvent("turns_reverted", {"chat_id": chat_id, "turn_ids": turns},
                                  chat_id=chat_id, actor="user")])
    return project(conn, **NO_CHECKPOINTS)


TURNS = st.lists(
    st.tuples(
        st.sampled_from(sorted(CHATS)),
        st.sampled_from(BOTS),
        st.sampled_from(("weather", "time")),
        st.sets(st.sampled_from(("edge", "fact", "scene", "edit", "reflect"))),
        st.integers(0, 3),  # memories recalled by the reply, among the newest of its world
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=TURNS, chat_pick=st.integers(0, 3), count=st.integers(1, 10), snapshot_at=st.integers(0, 30))
def test_rewinding_the_last_turns_of_one_chat_among_others_equals_a_replay_without_them(
    turns: list, chat_pick: int, count: int, snapshot_at: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_db(_fresh_db(folder, "a.db")) as conn:
            append_events(conn, _setup())
            project(conn)
            by_chat: dict[str, list[str]] = {c: [] for c in CHATS}
            memories: dict[str, list[str]] = {"default": [], "w1": []}
            snapshot = None
            for n, (chat_id, bot, key, steps, recall) in enumerate(turns):
                world = CHATS[chat_id]
                append_events(conn, _turn(n, chat_id, bot, key, steps, memories[world][-recall:] if recall else []))
                project(conn, **NO_CHECKPOINTS)  # one commit per turn, as the writer does
                by_chat[chat_id].append(f"t{n}")
                memories[world].append(f"m{n}")
                if n == snapshot_at:
                    snapshot = take_snapshot(conn, data_dir=folder / "data", kind="manual")
            chat_id = sorted(c for c in CHATS if by_chat[c])[chat_pick % len([c for c in CHATS if by_chat[c]])]
            _revert(conn, chat_id, by_chat[chat_id][-count:])
            rewound = canonical_dump(conn)
            assert rewound == _replay_without_reverted(conn, folder)
            if snapshot is not None:  # snapshot + tail, across the rewind
                restore_from_snapshot(conn, snapshot)
                project(conn, **NO_CHECKPOINTS)
                assert canonical_dump(conn) == rewound
            rebuild(conn)
            assert canonical_dump(conn) == rewound


def _interleaved(conn, others: int, turns: int) -> list[str]:
    """``turns`` turns of chat c1, each followed by a turn in each of ``others`` other chats
    (their own bot, key and world); returns c1's turn ids."""
    append_events(conn, _setup())
    mine, n = [], 0
    for _ in range(turns):
        append_events(conn, _turn(n, "c1", "ada", "weather", {"edge", "fact", "scene"}, []))
        mine.append(f"t{n}")
        project(conn)
        n += 1
        for k in range(others):
            chat_id = ("c3", "c4")[k % 2]
            append_events(conn, _turn(n, chat_id, ("bram", "cleo")[k % 2], f"k{k}", {"edge", "fact"}, []))
            project(conn)
            n += 1
    return mine


def test_the_events_refolded_do_not_grow_with_other_chats_in_between(tmp_path: Path) -> None:
    work = {}
    for others in (1, 12):
        with open_db(_fresh_db(tmp_path, f"w{others}.db")) as conn:
            mine = _interleaved(conn, others, 12)
            spanned = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
            last = _revert(conn, "c1", mine[-1:])
            ten = _revert(conn, "c1", mine[-11:-1])
            work[others] = (last.rows_restored, last.events_refolded, ten.rows_restored, ten.events_refolded)
            (tmp_path / f"e{others}").mkdir()
            assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / f"e{others}")
            assert ten.events_refolded < spanned // 2, (ten, spanned)
    assert work[1] == work[12], work
    assert 0 < work[12][1] < work[12][3]


def test_a_reverted_scene_change_refolds_the_later_messages_it_decided_the_witnesses_of(
    tmp_path: Path,
) -> None:
    """The turn that emptied the scene is reverted while later turns stay: the later
    messages now have witnesses, as in a replay without that turn, though those
    messages never wrote the scene row (they only read it)."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        project(conn)
        append_events(conn, _turn(0, "c1", "ada", "weather", {"scene"}, []))
        project(conn)
        append_events(conn, [NewEvent("scene_changed", {"chat_id": "c1", "location": "sea", "present": []},
                                      chat_id="c1", turn_id="t0")])
        project(conn)
        for n in range(1, 4):
            append_events(conn, _turn(n, ("c1", "c3")[n % 2], "bram", "time", set(), []))
            project(conn)
        result = _revert(conn, "c1", ["t0"])
        assert result.refolds == 1
        (tmp_path / "e").mkdir()
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / "e")
        seen = conn.execute("SELECT count(*) FROM memories WHERE id LIKE 'obs:u2:%'").fetchone()[0]
        assert seen == 3  # ada, bram and cleo witness "you" in c1 again


def test_message_posted_is_stored_with_its_chat(tmp_path: Path) -> None:
    """A rewind finds a chat's messages by the events' chat_id column."""


    from chat.errors import ValidationFailed

    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        append_events(conn, [NewEvent("message_posted", {"id": "x1", "chat_id": "c1", "author": "you",
                                                         "text": "hi"})])
        assert conn.execute("SELECT chat_id FROM events WHERE kind = 'message_posted'").fetchone()[0] == "c1"
        with pytest.raises(ValidationFailed, match="differs"):
            append_events(conn, [NewEvent("message_posted", {"id": "x2", "chat_id": "c1", "author": "you",
                                                             "text": "hi"}, chat_id="c2")])


def test_a_reverted_turn_that_changed_a_row_others_read_refolds_the_whole_span(tmp_path: Path) -> None:
    """A turn that added an entity (read by other handlers without writing it) is
    reverted: the keyed refold would not see who read it, so the rewind refolds every
    event since, after having tried; the result is still a replay without the turn."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        project(conn)
        append_events(conn, _turn(0, "c1", "ada", "weather", set(), []) + [
            NewEvent("entity_added", {"id": "mara", "kind": "person", "name": "Mara"}, chat_id="c1",
                     turn_id="t0"),
            NewEvent("edge_changed", {"src": "ada", "dst": "mara", "affinity_delta": 2, "trust_delta": 1},
                     chat_id="c1", turn_id="t0"),
        ])
        project(conn)
        first = conn.execute("SELECT MIN(id) FROM events WHERE turn_id = 't0' AND kind = 'message_posted'"
                             ).fetchone()[0]
        for n in range(1, 4):
            append_events(conn, _turn(n, ("c2", "c3")[n % 2], "bram", "time", {"edge"}, []))
            project(conn)
        until = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
        result = _revert(conn, "c1", ["t0"])
        assert result.events_refolded == until - first + 1  # the whole span
        (tmp_path / "e").mkdir()
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / "e")


def test_a_recalled_memory_stops_its_chain_at_the_next_recall(tmp_path: Path) -> None:
    """The reverted reply recalled a memory that ``later`` replies of another chat recall
    too. Each of them wrote that row, so the rewind must look at the first: it writes the
    same ``last_retrieved_at`` as before, so the row is as it was from there and none of
    the others is refolded (the early cut-off); before it, every one of them was, and
    every row they wrote with it. The result is still a replay without the turn."""
    work = {}
    for later in (3, 12):
        with open_db(_fresh_db(tmp_path, f"w{later}.db")) as conn:
            append_events(conn, _setup())
            append_events(conn, _turn(0, "c2", "bram", "time", set(), []))  # adds m0
            append_events(conn, _turn(1, "c1", "ada", "time", set(), ["m0"]))  # to revert
            project(conn)
            for n in range(2, 2 + later):  # each recalls m0 and the memory before its own
                append_events(conn, _turn(n, "c2", "bram", "time", set(), ["m0", f"m{n - 1}"]))
                project(conn)
            touching = conn.execute(
                "SELECT count(*) FROM undo_memories WHERE k = '[\"m0\"]' AND event_id > "
                "(SELECT MIN(id) FROM events WHERE turn_id = 't1')"
            ).fetchone()[0]
            result = _revert(conn, "c1", ["t1"])
            work[later] = (result.events_refolded, result.rows_restored)
            (tmp_path / f"e{later}").mkdir()
            assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / f"e{later}")
            assert touching == later + 1  # the reverted reply and every later one wrote m0
    seeds = 3  # t1's user message, reply and memory
    assert work[3] == work[12], work
    assert work[12][0] == seeds + 1, work  # and the first later recall of m0, alone


@pytest.mark.parametrize("case", ["fact", "edit"])
def test_what_a_later_event_found_gone_or_absent_is_refolded_too(tmp_path: Path, case: str) -> None:
    """Two things no note shows, as the later event wrote nothing: a fact the reverted turn
    deleted and another chat deleted again (found gone: the rewind refolds the span), and a
    message edited after the turn had emptied its scene (no observations then to change:
    the message's refold gives them back, and brings in the edit). Reverted, the fact is
    back until the later delete, and the message's witnesses see its edit."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        append_events(conn, _turn(0, "c2", "bram", "weather", {"fact"}, []))
        project(conn)
        t1 = _turn(1, "c1", "ada", "time", set(), [])
        t1[-1:-1] = [NewEvent("world_fact_deleted", {"key": "weather"}, chat_id="c1", turn_id="t1")
                     if case == "fact" else
                     NewEvent("scene_changed", {"chat_id": "c1", "location": "sea", "present": []},
                              chat_id="c1", turn_id="t1")]
        append_events(conn, t1)
        project(conn)
        if case == "fact":
            append_events(conn, [NewEvent("world_fact_deleted", {"key": "weather"}, chat_id="c2")])
            project(conn)
        append_events(conn, _turn(2, "c1", "bram", "time", set(), []))
        project(conn)
        append_events(conn, [NewEvent("message_edited", {"id": "u2", "text": "hello, edited"},
                                      chat_id="c1", actor="user")])
        project(conn)
        until = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
        first = conn.execute("SELECT MIN(id) FROM events WHERE turn_id = 't1' AND kind = 'message_posted'"
                             ).fetchone()[0]
        result = _revert(conn, "c1", ["t1"])
        (tmp_path / "e").mkdir()
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path / "e")
        if case == "edit":
            texts = {row[0] for row in conn.execute("SELECT text FROM memories WHERE message_id = 'u2'")}
            assert texts == {"You: hello, edited"}, texts
            assert result.events_refolded < until - first + 1  # not the whole span
        else:
            assert result.events_refolded == until - first + 1
