"""A long chat built fast through the real event log, for paging tests and `kith bench ui`.

Posting 30,000 messages through the API would take an hour of scripted turns; the
events here are the ones a turn appends (``message_posted`` by you, ``turn_queued``,
``message_posted`` by the bot, ``turn_completed``), validated by ``append_events`` in
batches and folded by the real projector, so the server opens exactly what a long
conversation would have left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chat.db.connection import database_path, open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.world.bots import author_events
from chat.world.chats import create_events

BATCH_TURNS = 2_000
BOT_ID = "ana"
CHAT_ID = "chat_long"


@dataclass(frozen=True)
class LongChat:
    chat_id: str
    bot_id: str
    messages: int  # messages on screen when the whole chat is scrolled through
    first_text: str
    last_text: str


def user_text(n: int) -> str:
    return f"Message {n} from you: tell me more about the harbour."


def bot_text(n: int) -> str:
    return f"Reply {n} from Ana: the tide came in early and the lamps were lit."


def build_long_chat(data_dir: Path, messages: int, *, chat_id: str = CHAT_ID) -> LongChat:
    """A chat with Ana of ``messages`` messages (rounded up to an even count), in a new or
    existing data directory. The kickoff prose is empty, so message 0 is yours."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = database_path(data_dir)
    apply_migrations(path)
    turns = (messages + 1) // 2
    with open_db(path) as conn:
        bot = {
            "id": BOT_ID,
            "name": "Ana",
            "persona": "Ana runs a bakery by the harbour.",
            "kickoff_prose": "",
        }
        if conn.execute("SELECT 1 FROM bots WHERE id = ?", (BOT_ID,)).fetchone() is None:
            append_events(conn, author_events(conn, bot))
            project(conn)
        append_events(conn, create_events(conn, chat_id, [BOT_ID], "A very long chat"))
        for start in range(0, turns, BATCH_TURNS):
            batch: list[NewEvent] = []
            for n in range(start, min(turns, start + BATCH_TURNS)):
                batch.extend(_turn_events(chat_id, n))
            append_events(conn, batch)
            project(conn)
    return LongChat(chat_id, BOT_ID, turns * 2, user_text(0), bot_text(turns - 1))


def _turn_events(chat_id: str, n: int) -> list[NewEvent]:
    turn_id = f"turn_{chat_id}_{n}"
    mine, reply = f"msg_{chat_id}_u{n}", f"msg_{chat_id}_b{n}"
    you = {"id": mine, "chat_id": chat_id, "author": "you", "text": user_text(n)}
    queued = {"id": turn_id, "chat_id": chat_id, "kind": "message", "user_message_id": mine}
    bot = {"id": reply, "chat_id": chat_id, "author": BOT_ID, "text": bot_text(n)}
    done = {"id": turn_id, "message_ids": [reply]}
    return [
        NewEvent("message_posted", you, chat_id=chat_id, turn_id=turn_id, actor="user"),
        NewEvent("turn_queued", queued, chat_id=chat_id, turn_id=turn_id, actor="user"),
        NewEvent("message_posted", bot, chat_id=chat_id, turn_id=turn_id, actor="model"),
        NewEvent("turn_completed", done, chat_id=chat_id, turn_id=turn_id, actor="system"),
    ]
