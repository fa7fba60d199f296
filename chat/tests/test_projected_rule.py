"""Which events are projected is one rule (`chat.eventlog.projected`): the fold, the
rewind's seeds, the projector's notes for a later rewind and the CLI's "reverted" mark all
ask it, so they cannot drift apart. Checked on a real SQLite log: the SQL form selects
exactly the events the Python form leaves out."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from chat.eventlog.log import NewEvent, append_events, read_events
from chat.eventlog.projected import LIFECYCLE_KINDS, STATE_CHANGING_SQL, is_projected
from chat.eventlog.projector import project, reverted_turns

ROOT = Path(__file__).resolve().parents[1]
_BRACKETS = re.compile(r"[{(\[][^{}()\[\]]*[})\]]")


def test_the_rule_is_written_once() -> None:
    """No other module lists the lifecycle kinds or tests a kind against them."""
    copies = []
    for path in sorted(ROOT.rglob("*.py")):
        if "tests" in path.parts or path.name == "projected.py":
            continue
        text = path.read_text(encoding="utf-8")
        literals = _BRACKETS.findall(text)  # what one set, tuple, list or call lists
        listed = any(all(re.search(rf'"{k}"\s*[,)}}\]]', lit) for k in LIFECYCLE_KINDS) for lit in literals)
        if listed or re.search(r"kind (not )?in LIFECYCLE_KINDS", text):
            copies.append(str(path.relative_to(ROOT)))
    assert copies == []


def test_reverted_turns_keep_only_their_lifecycle() -> None:
    reverted = {"t1"}
    assert is_projected("message_posted", None, reverted)
    assert is_projected("message_posted", "t2", reverted)
    assert not is_projected("message_posted", "t1", reverted)
    assert not is_projected("memory_added", "t1", reverted)
    assert all(is_projected(kind, "t1", reverted) for kind in LIFECYCLE_KINDS)


def test_the_sql_form_picks_what_the_python_form_leaves_out(conn: sqlite3.Connection) -> None:
    turn = {"chat_id": "c1", "turn_id": "t1"}
    append_events(conn, [
        NewEvent("bot_authored", {"id": "ana", "name": "Ana"}),
        NewEvent("chat_created", {"id": "c1", "title": "c1", "bot_ids": ["ana"]}, chat_id="c1"),
        NewEvent("message_posted", {"id": "m1", "chat_id": "c1", "author": "you", "text": "Hi"}, **turn),
        NewEvent("turn_queued", {"id": "t1", "chat_id": "c1"}, **turn),
        NewEvent("turn_started", {"id": "t1"}, **turn),
        NewEvent("message_posted", {"id": "m2", "chat_id": "c1", "author": "ana", "text": "Hello"}, **turn),
        NewEvent("memory_added", {"id": "x", "owner": "ana", "text": "Hi was said", "importance": 3}, **turn),
        NewEvent("turn_completed", {"id": "t1", "message_ids": ["m2"]}, **turn),
        NewEvent("turns_reverted", {"chat_id": "c1", "turn_ids": ["t1"]}, **turn),
    ])  # fmt: skip
    project(conn)
    reverted = reverted_turns(conn)
    events = read_events(conn, limit=100)
    left_out = {e.id for e in events if not is_projected(e.kind, e.turn_id, reverted)}
    by_sql = {
        row[0]
        for row in conn.execute(f"SELECT id FROM events WHERE turn_id = 't1' AND {STATE_CHANGING_SQL}")  # noqa: S608
    }
    assert reverted == {"t1"}
    assert left_out == by_sql and len(left_out) == 3  # the two messages and the memory
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert conn.execute("SELECT status FROM turns WHERE id = 't1'").fetchone()[0] == "reverted"
