"""What a restart does with the turns a previous process left unfinished (§4.3, §14.1).

A turn now starts in its message's commit (``TurnQueues.claim``), before any model call,
so "running" in the log no longer means the model had begun: a turn killed before it
stored a reply showed nothing and runs again, as if just posted; one that stored a reply
is failed, and its user retries it (the retry keeps the reply).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from chat.state import chats as chat_state

Action = Literal["queue", "resume", "fail"]


def unfinished_turns(
    conn: sqlite3.Connection,
) -> list[tuple[str, str, Action, dict[str, Any] | None]]:
    """Each queued or running turn, in log order: (turn, chat, what to do, the turn as
    stored when it resumes)."""
    found: list[tuple[str, str, Action, dict[str, Any] | None]] = []
    for turn_id, chat_id, status in conn.execute(
        "SELECT id, chat_id, status FROM turns WHERE status IN ('queued', 'running')"
        " ORDER BY updated_event_id"
    ).fetchall():
        if status == "queued":
            found.append((turn_id, chat_id, "queue", None))
        elif chat_state.turn_replies(conn, turn_id):
            found.append((turn_id, chat_id, "fail", None))
        else:
            found.append((turn_id, chat_id, "resume", chat_state.get_turn(conn, turn_id)))
    return found
