"""Storing the recall benchmark's conversations through Kith's real write path.

Shared by ``benchmarks.bench_memory`` (recall) and ``benchmarks.memory_latency``:
``message_posted`` events appended and projected, so every message becomes a
witnessed observation (§5.3.1) of each bot in the chat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.memory_corpus import Conversation
from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.state.observations import observation_id


def _stamp(when: Any) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def store_conversation(conn: Any, conv: Conversation) -> tuple[str, dict[str, str]]:
    """Append the conversation's messages as events and project them; the listening bot
    and each fact key's observation id."""
    ids = [f"c{conv.index}b{n}" for n in range(1, len(conv.speakers))]
    author = {"Sam": "you", **dict(zip(conv.speakers[1:], ids, strict=True))}
    events = [
        NewEvent("bot_authored", {"id": bot, "name": name})
        for name, bot in zip(conv.speakers[1:], ids, strict=True)
    ]
    chat_id = f"chat{conv.index}"
    events.append(NewEvent("chat_created", {"id": chat_id, "title": chat_id, "bot_ids": ids}))
    stamps = [_stamp(conv.messages[0][2] - timedelta(minutes=1))] * len(events)
    listener = ids[0]
    keys: dict[str, str] = {}
    for n, (speaker, text, when, key) in enumerate(conv.messages):
        message_id = f"m{conv.index}-{n}"
        payload = {"id": message_id, "chat_id": chat_id, "author": author[speaker], "text": text}
        events.append(NewEvent("message_posted", payload, chat_id=chat_id))
        stamps.append(_stamp(when))
        if key is not None:
            keys[key] = observation_id(message_id, listener)
    clock = iter(stamps)
    append_events(conn, events, clock=lambda: next(clock))
    project(conn)
    return listener, keys


@contextmanager
def store_in(directory: Path) -> Iterator[sqlite3.Connection]:
    """A new Kith database in ``directory``, migrated, the persona set (`ensure_you`):
    where both benches store their conversations."""
    db = directory / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:
        ensure_you(conn)
        yield conn


def ensure_you(conn: Any) -> None:
    """You are Sam (the persona, §3.6): observations read "Sam: ..." as the corpus says."""
    append_events(conn, [NewEvent("persona_set", {"name": "Sam"})])
    project(conn)

