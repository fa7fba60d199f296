"""A Kith chat as a SillyTavern chat file or as plain text (§11.5).

The SillyTavern file is what `st_chat` reads: a header, then one line per visible message
with the shown alternative as ``mes`` and every alternative, oldest first, as ``swipes``
(``swipe_id`` the shown one, ``swipe_info`` their times). Times are in SillyTavern's
humanized form with milliseconds; the exact time rides in ``extra.kith.sent_at``. The title travels in ``chat_metadata.kith`` so a round trip through
the file gives back the same chat. Deleted messages and deleted alternatives are left out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from chat.state import chats as chat_state
from chat.state.entities import get_entity
from chat.world.chats import require_chat, user_name
from chat.world.st_chat import KITH_KEY


def _groups(conn: sqlite3.Connection, chat_id: str) -> list[tuple[list[dict[str, Any]], int]]:
    """Each visible message's alternatives (oldest first) and which one is shown, in order."""
    rows = chat_state.transcript(conn, chat_id, include_hidden=True)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if not row["deleted"]:
            groups.setdefault(row["alt_group"], []).append(row)
    out = []
    for members in groups.values():
        shown = next((i for i, m in enumerate(members) if m["chosen"]), None)
        if shown is not None:
            out.append((members, shown))
    return out


def _names(conn: sqlite3.Connection, chat: dict[str, Any]) -> dict[str, str]:
    names = {"you": user_name(conn)}
    for bot_id in chat["bot_ids"]:
        entity = get_entity(conn, bot_id)
        names[bot_id] = entity["name"] if entity else bot_id
    return names


def _st_date(created_at: str) -> str:
    """A log time in SillyTavern's humanized form with milliseconds ("2024-9-28 @13h 5m 0s
    0ms"), which its ``timestampToMoment`` reads as UTC; 1.12 does not read ISO 8601."""
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return created_at
    return (f"{moment.year}-{moment.month}-{moment.day} @{moment.hour}h {moment.minute}m"
            f" {moment.second}s {moment.microsecond // 1000}ms")


def _extra(created_at: str) -> dict[str, Any]:
    """``extra.kith.sent_at``: the exact time (SillyTavern keeps ``extra``), so a round trip
    gives back the microseconds its own date form drops."""
    return {KITH_KEY: {"sent_at": created_at}}


def st_lines(conn: sqlite3.Connection, chat_id: str) -> Iterator[str]:
    """The chat as SillyTavern JSONL, line by line (each without its newline)."""
    chat = require_chat(conn, chat_id)
    names = _names(conn, chat)
    created = datetime.fromisoformat(chat["created_at"].replace("Z", "+00:00")).astimezone(UTC)
    header = {
        "user_name": names["you"],
        "character_name": names.get(chat["bot_ids"][0], chat["bot_ids"][0]),
        "create_date": f"{created:%Y-%m-%d}@{created:%H}h{created:%M}m{created:%S}s",
        "chat_metadata": {KITH_KEY: {"title": chat["title"], "chat_id": chat["id"]}},
    }
    yield json.dumps(header, ensure_ascii=False)
    for members, shown in _groups(conn, chat_id):
        message = members[shown]
        author = message["author"]
        line: dict[str, Any] = {
            "name": names.get(author) or author,
            "is_user": author == "you",
            "is_system": False,
            "send_date": _st_date(message["created_at"]),
            "mes": message["text"],
            "extra": _extra(message["created_at"]),
        }
        if len(members) > 1 or author != "you":
            line["swipe_id"] = shown
            line["swipes"] = [m["text"] for m in members]
            line["swipe_info"] = [
                {"send_date": _st_date(m["created_at"]), "extra": _extra(m["created_at"])} for m in members
            ]
        yield json.dumps(line, ensure_ascii=False)


def st_jsonl(conn: sqlite3.Connection, chat_id: str) -> bytes:
    return ("\n".join(st_lines(conn, chat_id)) + "\n").encode("utf-8")


def plain_text(conn: sqlite3.Connection, chat_id: str) -> bytes:
    """The chat as a person reads it: the title, then "Name (time):" and the text of each
    shown message, a blank line between messages."""
    chat = require_chat(conn, chat_id)
    names = _names(conn, chat)
    parts = [chat["title"], "=" * min(len(chat["title"]), 80), ""]
    for members, shown in _groups(conn, chat_id):
        message = members[shown]
        when = message["created_at"][:16].replace("T", " ")
        parts.append(f"{names.get(message['author'], message['author'])} ({when}):")
        parts.append(message["text"])
        parts.append("")
    return "\n".join(parts).encode("utf-8")
