"""A rewind looks at the rows a context event reads, not at its kind alone (§13, issue 15).

An alternative chosen reads the messages of its group, their observations and its chat's
scene (chat/eventlog/row_reads.py): a rewind leaves one alone when none of those rows may
differ, and refolds it when one may, although it wrote none of them. A chat created is
a keyed kind. A refolded message reads only its own chat's scene and row, so only those
tracked rows are brought to its moment. Each test holds the result to a replay of the
log without the reverted turns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import canonical_dump, project
from chat.tests.test_projection_properties import _fresh_db
from chat.tests.test_rewind_keys import _revert, _setup, _turn
from chat.tests.test_rewind_undo import _replay_without_reverted


def _chosen(message_id: str, chat_id: str) -> NewEvent:
    return NewEvent("alternative_chosen", {"alt_group": message_id, "message_id": message_id},
                    chat_id=chat_id, actor="user")  # fmt: skip


@pytest.mark.parametrize("between", ["nothing", "choice", "chat"])
def test_an_alternative_or_a_chat_elsewhere_is_not_refolded(tmp_path: Path, between: str) -> None:
    """Between the reverted turn and the next, the user picks a reply of another chat
    again, or creates a chat: neither reads a row the turn changed, so the rewind does
    the same work as with nothing there (before, both were refolded wherever they fell)."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        append_events(conn, _turn(0, "c2", "bram", "time", set(), []))
        append_events(conn, _turn(1, "c1", "ada", "time", {"edge", "scene"}, []))  # to revert
        if between == "choice":
            append_events(conn, [_chosen("b0", "c2")])
        elif between == "chat":
            append_events(conn, [NewEvent("chat_created", {"id": "c5", "title": "c5", "bot_ids": ["ada"]},
                                          chat_id="c5")])
        append_events(conn, _turn(2, "c1", "ada", "time", {"edge"}, []))
        project(conn)
        result = _revert(conn, "c1", ["t1"])
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path)
        seeds = 5  # t1's two messages, its memory, edge change and scene change
        assert result.events_refolded == seeds + 3, result  # t2's messages and edge change


@pytest.mark.parametrize("change", ["message_deleted", "message_edited"])
def test_an_alternative_chosen_that_read_a_message_the_turn_changed_is_refolded(
    tmp_path: Path, change: str
) -> None:
    """The reverted turn deleted (or edited) a reply that the user later chose again. That
    choice wrote nothing of the reply (already chosen, and deleted: no observations to
    write; edited: the same rows), but it read it: without the turn, the reply is there
    (or has its old text) at the choice, which writes its observations again, as a replay
    without the turn does. No note of the choice names the reply, only the check of what
    it reads finds it."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        append_events(conn, _turn(0, "c1", "ada", "time", set(), []))
        payload = {"id": "b0"} if change == "message_deleted" else {"id": "b0", "text": "reply, edited"}
        append_events(conn, [
            NewEvent("turn_queued", {"id": "t1", "chat_id": "c1"}, chat_id="c1", turn_id="t1"),
            NewEvent(change, payload, chat_id="c1", turn_id="t1"),
            NewEvent("turn_completed", {"id": "t1", "message_ids": []}, chat_id="c1", turn_id="t1"),
        ])  # fmt: skip
        append_events(conn, _turn(2, "c3", "bram", "time", set(), []))
        append_events(conn, [_chosen("b0", "c1")])
        append_events(conn, _turn(3, "c4", "cleo", "time", set(), []))
        project(conn)
        _revert(conn, "c1", ["t1"])
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path)
        made_by = {row[0] for row in conn.execute("SELECT event_id FROM memories WHERE message_id = 'b0'")}
        choice = conn.execute("SELECT id FROM events WHERE kind = 'alternative_chosen'").fetchone()[0]
        assert made_by == {choice}  # the choice wrote them again, after the turn's change went


def test_a_refolded_message_moves_only_its_own_chats_scene(tmp_path: Path) -> None:
    """The turn changed its chat's scene, so the chat's later messages are refolded (their
    witnesses); scenes of other chats changed in between are not what those messages
    read, so they are not moved: the rows the rewind touches are the same with 0 or 3 of
    them (before, each refolded message brought every changed scene to its moment). A
    second rewind, on the notes the first one left, is still a replay without both."""
    rows = {}
    for others in (0, 3):
        folder = tmp_path / f"o{others}"
        folder.mkdir()
        with open_db(_fresh_db(folder, "a.db")) as conn:
            append_events(conn, _setup())
            append_events(conn, _turn(0, "c1", "ada", "time", {"scene"}, []))  # to revert
            for n, chat_id in enumerate(("c2", "c3", "c4")[:others], start=1):
                append_events(conn, _turn(n, chat_id, "bram", "time", {"scene"}, []))
            append_events(conn, _turn(9, "c1", "ada", "time", {"edge"}, []))
            project(conn)
            first = _revert(conn, "c1", ["t0"])
            rows[others] = first.rows_restored
            second = _revert(conn, "c1", ["t9"])
            assert first.refolds == second.refolds == 1
            assert canonical_dump(conn) == _replay_without_reverted(conn, folder)
    assert rows[0] == rows[3], rows


def test_a_refolded_events_notes_that_come_out_the_same_stay_and_serve_the_next_rewind(
    tmp_path: Path,
) -> None:
    """A later change of the same relationship in another chat is refolded by the rewind
    (its affinity adds up). Its notes of the history rows it inserts come out the same as
    before: those stay as they were written (the same seq: no page of them written again),
    while its note of the relationship row, whose image before it differs now, is new. A
    second rewind, of an earlier turn, runs on those notes and is a replay without both."""
    with open_db(_fresh_db(tmp_path, "a.db")) as conn:
        append_events(conn, _setup())
        append_events(conn, _turn(0, "c1", "ada", "time", {"edge"}, []))  # reverted second
        project(conn)
        append_events(conn, _turn(1, "c1", "ada", "time", {"edge"}, []))  # reverted first
        project(conn)
        append_events(conn, _turn(2, "c2", "ada", "weather", {"edge"}, []))  # same edge
        project(conn)
        later = conn.execute("SELECT id FROM events WHERE kind = 'edge_changed' AND turn_id = 't2'").fetchone()[0]

        def notes(table: str) -> list[tuple]:
            return conn.execute(f"SELECT seq, k, op FROM undo_{table} WHERE event_id = ? ORDER BY seq",
                                (later,)).fetchall()  # fmt: skip

        history, edge = notes("edge_history"), notes("edges")
        assert len(history) == len(edge) == 1
        result = _revert(conn, "c1", ["t1"])
        assert result.refolds == 1
        assert notes("edge_history") == history  # the same note, kept
        assert notes("edges")[0][0] > edge[0][0]  # the relationship's: written anew
        _revert(conn, "c1", ["t0"])
        assert canonical_dump(conn) == _replay_without_reverted(conn, tmp_path)
