"""Chapters (§5.7): summaries of the stretches of a chat that no longer fit a prompt.

``chapter_written`` adds one ``chapters`` row (the chapter as the chat shows it) and one
memory of kind ``chapter`` for each bot it names (``<chapter id>:<bot>``), so the chapter
is a memory each present bot owns (§5.3.1: a bot's prompt only holds its own memories)
and shows in the state panel with the others. A ``chapter_written`` for an existing id
rewrites its text unless a person pinned it (§6.2: the model never overwrites a pinned
chapter). A person's edit (``manual_edit`` of target ``chapter``, field ``text``) sets
the chapter and every bot's copy, and pins it. Both carry their turn id, so a rewind of
the turn that wrote a chapter takes the row and the memories away like any other event.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.state.history import dumps, record_change
from chat.state.memory import set_memory_fields
from chat.state.worlds import world_of

register_tables("chapters")

CHAPTER_IMPORTANCE = 6
"""A chapter sums up many messages: worth more than one small-talk observation."""
CHAPTER_FIELDS = ("text",)
"""What a person may edit of a chapter."""

_COLUMNS = (
    "id, world_id, chat_id, first_message_id, last_message_id, first_event_id, last_event_id,"
    " message_count, text, owners, turn_id, event_id, updated_event_id, created_at"
)
_KEYS = tuple(name.strip() for name in _COLUMNS.split(","))


def chapter_memory_id(chapter_id: str, bot_id: str) -> str:
    """The id of ``bot_id``'s copy of a chapter."""
    return f"{chapter_id}:{bot_id}"


def _is_pinned(conn: sqlite3.Connection, world_id: str, chapter_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pins WHERE world_id = ? AND target_type = 'chapter' AND target_id = ?"
        " AND field = 'text'",
        (world_id, chapter_id),
    ).fetchone()
    return row is not None


@handles("chapter_written")
def _chapter_written(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    world_id = world_of(conn, event)
    if get_chapter(conn, p["id"]) is not None:
        if not _is_pinned(conn, world_id, p["id"]):
            set_chapter_text(conn, event, p["id"], p["text"])
        return
    first, last = (
        _posted_at(conn, p["chat_id"], p[key]) for key in ("first_message_id", "last_message_id")
    )
    if first is None or last is None or last < first:
        return  # not a stretch of this chat: nothing to stand above
    conn.execute(
        f"INSERT INTO chapters ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            p["id"], world_id, p["chat_id"], p["first_message_id"], p["last_message_id"],
            first, last, p["message_count"], p["text"],
            dumps(p["owners"]), event.turn_id, event.id, event.id, event.created_at,
        ),
    )  # fmt: skip
    record_change(conn, event, "chapter", p["id"], "created", None, p["text"], world_id=world_id)
    for owner in p["owners"]:
        conn.execute(
            "INSERT OR IGNORE INTO memories (id, owner, text, kind, importance, about, turn_id,"
            " event_id, created_at, last_retrieved_at, world_id)"
            " VALUES (?, ?, ?, 'chapter', ?, '[]', ?, ?, ?, ?, ?)",
            (
                chapter_memory_id(p["id"], owner), owner, p["text"], CHAPTER_IMPORTANCE,
                event.turn_id, event.id, event.created_at, event.created_at, world_id,
            ),
        )  # fmt: skip


def _posted_at(conn: sqlite3.Connection, chat_id: str, message_id: str) -> int | None:
    """The event id that posted ``message_id`` in ``chat_id``: its place in the chat's order."""
    row = conn.execute(
        "SELECT event_id FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)
    ).fetchone()
    return None if row is None else int(row[0])


def set_chapter_text(conn: sqlite3.Connection, event: Event, chapter_id: str, text: str) -> bool:
    """Set a chapter's text and every bot's copy of it; False when it does not exist."""
    chapter = get_chapter(conn, chapter_id)
    if chapter is None:
        return False
    record_change(
        conn,
        event,
        "chapter",
        chapter_id,
        "text",
        chapter["text"],
        text,
        world_id=chapter["world_id"],
    )
    conn.execute(
        "UPDATE chapters SET text = ?, updated_event_id = ? WHERE id = ?",
        (text, event.id, chapter_id),
    )
    for owner in chapter["owners"]:
        set_memory_fields(conn, event, chapter_memory_id(chapter_id, owner), {"text": text})
    return True


def _chapter_dict(row: tuple) -> dict[str, Any]:
    chapter = dict(zip(_KEYS, row, strict=True))
    chapter["owners"] = json.loads(chapter["owners"])
    return chapter


def get_chapter(conn: sqlite3.Connection, chapter_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM chapters WHERE id = ?", (chapter_id,)).fetchone()  # noqa: S608
    return None if row is None else _chapter_dict(row)


def chapter_view(conn: sqlite3.Connection, chapter_id: str) -> dict[str, Any] | None:
    """The chapter with ``pinned`` (a person edited it), as the API shows it."""
    chapter = get_chapter(conn, chapter_id)
    if chapter is not None:
        chapter["pinned"] = _is_pinned(conn, chapter["world_id"], chapter_id)
    return chapter


def list_chapters(conn: sqlite3.Connection, chat_id: str) -> list[dict[str, Any]]:
    """The chat's chapters in transcript order, each with ``pinned`` (a person edited it)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM chapters WHERE chat_id = ? ORDER BY first_event_id, event_id",  # noqa: S608
        (chat_id,),
    ).fetchall()
    chapters = [_chapter_dict(row) for row in rows]
    for chapter in chapters:
        chapter["pinned"] = _is_pinned(conn, chapter["world_id"], chapter["id"])
    return chapters


def last_chapter_text(conn: sqlite3.Connection, chat_id: str) -> str:
    """The text of the chat's last chapter in `list_chapters`' order ("" when it has none):
    what a new chapter continues from. One row, not every chapter with its pin looked up
    (a chapter turn read all of them: 14 pin lookups a turn on the turn benchmark, growing
    with the chat). A chapter's ``event_id`` is the event that wrote it, one a chapter, so
    the order has no ties and its last row is the first of the reversed order, read from
    the end of `chapters_chat_order` (migration 0103) without sorting the chat's chapters."""
    row = conn.execute(
        "SELECT text FROM chapters WHERE chat_id = ? ORDER BY first_event_id DESC, event_id DESC LIMIT 1",
        (chat_id,),
    ).fetchone()
    return "" if row is None else str(row[0])


def summarised_until(conn: sqlite3.Connection, chat_id: str) -> int:
    """The event id of the last message the chat's chapters cover (0: none yet)."""
    row = conn.execute(
        "SELECT MAX(last_event_id) FROM chapters WHERE chat_id = ?", (chat_id,)
    ).fetchone()
    return int(row[0] or 0)


def stale_chapter(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    """The oldest chapter of the chat that no person pinned and that a message of its range
    was edited or deleted since its text was last set: the model may write it again."""
    cols = ", ".join(f"c.{name}" for name in _KEYS)
    rows = conn.execute(  # message edits are few: start from them, not from the chapters
        f"SELECT DISTINCT {cols} FROM item_history h JOIN messages m ON m.id = h.target_id"  # noqa: S608
        " JOIN chapters c ON c.chat_id = m.chat_id AND m.event_id BETWEEN c.first_event_id"
        " AND c.last_event_id AND h.event_id > c.updated_event_id"
        " WHERE h.target_type = 'message' AND m.chat_id = ? ORDER BY c.first_event_id LIMIT 20",
        (chat_id,),
    ).fetchall()
    for row in rows:
        chapter = _chapter_dict(row)
        if not _is_pinned(conn, chapter["world_id"], chapter["id"]):
            return chapter
    return None


def chapter_memories(conn: sqlite3.Connection, chat_id: str, owner: str) -> list[dict[str, Any]]:
    """``owner``'s own copies of the chat's chapters, oldest stretch first: memory rows
    (``id`` is the memory's, ``text`` the bot's copy) with the chapter's range added.

    A copy the person deleted from the bot's memories is not there: the bot forgot it.
    ``event_id`` is the ``chapter_written`` that made the copy: a compact prompt record
    names its text by that event while the text is still the one it wrote (§8.4)."""
    rows = conn.execute(
        "SELECT m.id, m.text, m.importance, m.event_id, c.id, c.first_event_id, c.last_event_id,"
        " c.first_message_id, c.last_message_id, c.message_count FROM chapters c"
        " JOIN memories m ON m.id = c.id || ':' || ? AND m.owner = ?"
        " WHERE c.chat_id = ? ORDER BY c.first_event_id, c.event_id",
        (owner, owner, chat_id),
    ).fetchall()
    keys = (
        "id", "text", "importance", "event_id", "chapter_id", "first_event_id", "last_event_id",
        "first_message_id", "last_message_id", "message_count",
    )  # fmt: skip
    return [{**dict(zip(keys, row, strict=True)), "kind": "chapter"} for row in rows]
