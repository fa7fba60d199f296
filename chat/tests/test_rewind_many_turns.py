"""A rewind over more turns than SQLite takes bound variables in one statement (§4.6)."""

from __future__ import annotations

import sqlite3

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import SQL_BATCH, project
from chat.state.chats import get_message, get_turn, transcript
from chat.world.chats import turns_from

TURNS = 3 * SQL_BATCH + 7


def _long_chat(conn: sqlite3.Connection) -> None:
    events = [
        NewEvent("bot_authored", {"id": "mara", "name": "Mara"}, actor="user"),
        NewEvent("chat_created", {"id": "c1", "title": "Long", "bot_ids": ["mara"]}, chat_id="c1"),
    ]
    for n in range(TURNS):
        turn, message = f"t{n}", f"m{n}"
        events += [
            NewEvent("message_posted", {"id": message, "chat_id": "c1", "author": "you", "text": f"hi {n}"},
                     chat_id="c1", turn_id=turn, actor="user"),
            NewEvent("turn_queued", {"id": turn, "chat_id": "c1", "user_message_id": message},
                     chat_id="c1", turn_id=turn, actor="user"),
            NewEvent("memory_added", {"id": f"mem{n}", "owner": "mara", "text": f"heard {n}", "importance": 2},
                     chat_id="c1", turn_id=turn, actor="model"),
            NewEvent("turn_completed", {"id": turn, "message_ids": []}, chat_id="c1", turn_id=turn),
        ]  # fmt: skip
    append_events(conn, events)
    project(conn)


def test_rewinding_to_the_first_message_reverts_every_turn(conn: sqlite3.Connection) -> None:
    _long_chat(conn)
    # SQLite's own cap (32766) stands in for a chat of 32k turns; 999 makes it cheap to hit.
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    first = get_message(conn, "m0")
    reverted = turns_from(conn, "c1", first)
    assert reverted == [f"t{n}" for n in range(TURNS)]
    append_events(
        conn, [NewEvent("turns_reverted", {"chat_id": "c1", "turn_ids": reverted}, chat_id="c1")]
    )
    result = project(conn)
    assert result.refolds == 1
    assert transcript(conn, "c1") == []
    assert conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 0
    assert {get_turn(conn, t)["status"] for t in reverted} == {"reverted"}
