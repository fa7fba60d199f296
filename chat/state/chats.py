"""Chats, their messages with alternatives, and turns with their status (§4)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.state.history import dumps, record_change
from chat.state.worlds import world_of

register_tables("chats", "messages", "turns")


@handles("chat_created")
def _chat_created(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT INTO chats (id, title, bot_ids, created_at, created_event_id, world_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (p["id"], p["title"], dumps(p["bot_ids"]), event.created_at, event.id, world_of(conn, event)),
    )


@handles("message_posted")
def _message_posted(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    group = p.get("alt_group") or p["id"]
    if p.get("alt_group"):
        _choose(conn, group, None, p["chat_id"])
    conn.execute(
        "INSERT INTO messages (id, chat_id, author, text, created_at, turn_id, event_id,"
        " alt_group, chosen, edited, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0)",
        (p["id"], p["chat_id"], p["author"], p["text"], p.get("sent_at") or event.created_at,
         event.turn_id, event.id, group),
    )


@handles("message_edited")
def _message_edited(conn: sqlite3.Connection, event: Event) -> None:
    old = get_message(conn, event.payload["id"])
    if old is None:
        return
    # "edited" tells the person someone changed the words; a greeting Kith wrote again with
    # the persona's new name (actor system, `chat.world.openings`) is no one's edit.
    conn.execute(
        "UPDATE messages SET text = ?, edited = MAX(edited, ?) WHERE id = ?",
        (event.payload["text"], int(event.actor != "system"), event.payload["id"]),
    )
    record_change(conn, event, "message", old["id"], "text", old["text"], event.payload["text"])


@handles("message_deleted")
def _message_deleted(conn: sqlite3.Connection, event: Event) -> None:
    old = get_message(conn, event.payload["id"])
    if old is None:
        return
    conn.execute("UPDATE messages SET deleted = 1 WHERE id = ?", (old["id"],))
    record_change(conn, event, "message", old["id"], "deleted", False, True)


@handles("alternative_chosen")
def _alternative_chosen(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    exists = conn.execute(
        "SELECT chat_id FROM messages WHERE id = ? AND alt_group = ?", (p["message_id"], p["alt_group"])
    ).fetchone()
    if exists is None:
        return
    _choose(conn, p["alt_group"], p["message_id"], exists[0])


def _choose(conn: sqlite3.Connection, alt_group: str, message_id: str | None, chat_id: str) -> None:
    """Make ``message_id`` the chosen one of its group (None: no message of it).

    A group is alternatives within one chat: a log naming a message of another chat as
    the group (only a hand-made or generated log can) changes nothing there.

    Row by row on purpose: single-row updates stay fast inside the long transaction
    of a replay, where a multi-row UPDATE is not (see ``chat.eventlog.bulk``).
    """
    rows = conn.execute(
        "SELECT id, chosen FROM messages WHERE alt_group = ? AND chat_id = ?", (alt_group, chat_id)
    ).fetchall()
    for row_id, chosen in rows:
        wanted = int(row_id == message_id)
        if chosen != wanted:
            conn.execute("UPDATE messages SET chosen = ? WHERE id = ?", (wanted, row_id))


@handles("turn_queued")
def _turn_queued(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT INTO turns (id, chat_id, kind, status, error, user_message_id, message_ids,"
        " created_at, updated_event_id) VALUES (?, ?, ?, 'queued', NULL, ?, '[]', ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET status = 'queued', error = NULL,"
        " updated_event_id = excluded.updated_event_id WHERE turns.status != 'reverted'",
        (p["id"], p["chat_id"], p["kind"], p.get("user_message_id"), event.created_at, event.id),
    )


def _set_turn(conn: sqlite3.Connection, event: Event, status: str, **extra: Any) -> None:
    """Move a turn to ``status``; a reverted turn stays reverted whatever arrives late."""
    sets = ["status = ?", "updated_event_id = ?"]
    params: list[Any] = [status, event.id]
    for column, value in extra.items():
        sets.append(f"{column} = ?")
        params.append(value)
    params.append(event.payload["id"])
    conn.execute(
        f"UPDATE turns SET {', '.join(sets)} WHERE id = ? AND status != 'reverted'",  # noqa: S608
        params,
    )


@handles("turn_started")
def _turn_started(conn: sqlite3.Connection, event: Event) -> None:
    _set_turn(conn, event, "running")


@handles("turn_completed")
def _turn_completed(conn: sqlite3.Connection, event: Event) -> None:
    _set_turn(conn, event, "completed", message_ids=dumps(event.payload["message_ids"]), error=None)


@handles("turn_failed")
def _turn_failed(conn: sqlite3.Connection, event: Event) -> None:
    _set_turn(conn, event, "failed", error=event.payload["reason"])


@handles("turns_reverted")
def _turns_reverted(conn: sqlite3.Connection, event: Event) -> None:
    conn.executemany(
        "UPDATE turns SET status = 'reverted', updated_event_id = ? WHERE id = ?",
        [(event.id, turn_id) for turn_id in event.payload["turn_ids"]],
    )


# --- reading -----------------------------------------------------------------

_MESSAGE_SELECT = (
    "SELECT id, chat_id, author, text, created_at, turn_id, event_id, alt_group, chosen,"
    " edited, deleted FROM messages"
)


def message_dict(row: tuple) -> dict[str, Any]:
    """One row of `_MESSAGE_SELECT` as a dict (a turn's plan reads a few hundred: kept cheap)."""
    message_id, chat_id, author, text, created_at, turn_id, event_id, alt_group, chosen, edited, deleted = row
    return {
        "id": message_id,
        "chat_id": chat_id,
        "author": author,
        "text": text,
        "created_at": created_at,
        "turn_id": turn_id,
        "event_id": event_id,
        "alt_group": alt_group,
        "chosen": bool(chosen),
        "edited": bool(edited),
        "deleted": bool(deleted),
    }


def get_message(conn: sqlite3.Connection, message_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"{_MESSAGE_SELECT} WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else message_dict(row)


def transcript(
    conn: sqlite3.Connection,
    chat_id: str,
    *,
    include_hidden: bool = False,
    limit: int | None = None,
    before_event_id: int | None = None,
) -> list[dict[str, Any]]:
    """The chat as it stands: chosen alternatives, no deleted messages, oldest first; with
    ``limit`` the newest that many (before ``before_event_id``, for paging back)."""
    where = "chat_id = ?" if include_hidden else "chat_id = ? AND chosen = 1 AND deleted = 0"
    params: list[Any] = [chat_id]
    if before_event_id is not None:
        where += " AND event_id < ?"
        params.append(before_event_id)
    if limit is None:
        rows = conn.execute(f"{_MESSAGE_SELECT} WHERE {where} ORDER BY event_id", params).fetchall()
    else:
        rows = conn.execute(
            f"{_MESSAGE_SELECT} WHERE {where} ORDER BY event_id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        rows.reverse()
    return [message_dict(row) for row in rows]


def transcript_page(
    conn: sqlite3.Connection,
    chat_id: str,
    *,
    limit: int,
    before_event_id: int | None = None,
    include_hidden: bool = False,
) -> list[dict[str, Any]]:
    """One page of the transcript, oldest first: the ``limit`` newest messages posted
    before ``before_event_id`` (the whole chat's newest when None). Read backwards along
    the ``messages_chat`` index, so a page costs the same at 30k messages as at 100."""
    if not include_hidden:
        return recent_messages(conn, chat_id, limit=limit, before_event_id=before_event_id)
    params: list[Any] = [chat_id]
    where = "chat_id = ?"
    if before_event_id is not None:
        where += " AND event_id < ?"
        params.append(before_event_id)
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE {where} ORDER BY event_id DESC LIMIT ?",  # noqa: S608
        (*params, limit),
    ).fetchall()
    rows.reverse()
    return [message_dict(row) for row in rows]


def first_messages(conn: sqlite3.Connection, chat_id: str, *, limit: int) -> list[dict[str, Any]]:
    """The chat's first ``limit`` messages, alternatives and deleted ones too, oldest first."""
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE chat_id = ? ORDER BY event_id LIMIT ?", (chat_id, limit)  # noqa: S608
    ).fetchall()
    return [message_dict(row) for row in rows]


def messages_after(conn: sqlite3.Connection, chat_id: str, event_id: int, turn_id: str) -> frozenset[str]:
    """The ids of ``chat_id``'s messages posted after ``event_id`` that are not ``turn_id``'s
    own (its user message, its replies): what was said after the message a turn answers."""
    rows = conn.execute(
        "SELECT id FROM messages WHERE chat_id = ? AND event_id > ? AND turn_id IS NOT ?",
        (chat_id, event_id, turn_id),
    )
    return frozenset(r[0] for r in rows)


def recent_messages(
    conn: sqlite3.Connection, chat_id: str, *, limit: int, before_event_id: int | None = None
) -> list[dict[str, Any]]:
    """The visible transcript's last ``limit`` messages (before an event id), oldest first."""
    where = "chat_id = ? AND chosen = 1 AND deleted = 0"
    params: list[Any] = [chat_id]
    if before_event_id is not None:
        where += " AND event_id < ?"
        params.append(before_event_id)
    params.append(limit)
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE {where} ORDER BY event_id DESC LIMIT ?", params  # noqa: S608
    ).fetchall()
    return [message_dict(row) for row in reversed(rows)]


def turn_replies(conn: sqlite3.Connection, turn_id: str) -> list[dict[str, Any]]:
    """The bot replies one turn stored, not deleted, oldest first: a retry keeps them. One a
    regenerate has since replaced (``chosen`` false) was still said in that turn."""
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE turn_id = ? AND author != 'you' AND deleted = 0"  # noqa: S608
        " ORDER BY event_id",
        (turn_id,),
    ).fetchall()
    return [message_dict(row) for row in rows]


def earlier_turn_replies(conn: sqlite3.Connection, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Replies stored after ``message`` by turns queued before it (a message posted while
    a turn runs is answered after that turn's replies), oldest first."""
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE chat_id = ? AND chosen = 1 AND deleted = 0 AND event_id > ?"  # noqa: S608
        " AND turn_id IS NOT NULL AND turn_id != ? AND (SELECT MIN(e.id) FROM events e"
        " WHERE e.turn_id = messages.turn_id AND e.kind = 'turn_queued') < ? ORDER BY event_id",
        (message["chat_id"], message["event_id"], message["turn_id"] or "", message["event_id"]),
    ).fetchall()
    return [message_dict(row) for row in rows]


def alternatives(conn: sqlite3.Connection, alt_group: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE alt_group = ? ORDER BY event_id", (alt_group,)
    ).fetchall()
    return [message_dict(row) for row in rows]


def _chat_dict(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "title": row[1],
        "bot_ids": json.loads(row[2]),
        "created_at": row[3],
        "world_id": row[4],
    }


def get_chat(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, title, bot_ids, created_at, world_id FROM chats WHERE id = ?", (chat_id,)
    ).fetchone()
    return None if row is None else _chat_dict(row)


def list_chats(conn: sqlite3.Connection, *, world_id: str | None = None) -> list[dict[str, Any]]:
    """Every chat, newest first; with ``world_id``, only the chats of that world."""
    if world_id is None:
        rows = conn.execute(
            "SELECT id, title, bot_ids, created_at, world_id FROM chats ORDER BY created_event_id DESC"
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT id, title, bot_ids, created_at, world_id FROM chats WHERE world_id = ?"
            " ORDER BY created_event_id DESC",
            (world_id,),
        ).fetchall()
    return [_chat_dict(r) for r in rows]


def get_turn(conn: sqlite3.Connection, turn_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, chat_id, kind, status, error, user_message_id, message_ids, created_at"
        " FROM turns WHERE id = ?",
        (turn_id,),
    ).fetchone()
    if row is None:
        return None
    return {
        "id": row[0],
        "chat_id": row[1],
        "kind": row[2],
        "status": row[3],
        "error": row[4],
        "user_message_id": row[5],
        "message_ids": json.loads(row[6]),
        "created_at": row[7],
    }


def last_turn(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    """The chat's most recently queued turn that is not reverted; found from the newest
    ``turn_queued`` event back (the ``events_chat`` index), so it costs one row usually."""
    row = conn.execute(
        "SELECT t.id FROM events e JOIN turns t ON t.id = e.turn_id"
        " WHERE e.chat_id = ? AND e.kind = 'turn_queued' AND t.status != 'reverted'"
        " ORDER BY e.id DESC LIMIT 1",
        (chat_id,),
    ).fetchone()
    return None if row is None else get_turn(conn, row[0])
