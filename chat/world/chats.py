"""Chats and their messages (§4.1, §4.4–§4.6): checks, then the events to append.

Like `bots`, the ``*_events`` functions run inside the writer's transaction and
either refuse with a clear error or return events. Reading helpers shape the
transcript the API and the UI show, with each message's alternatives.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.cards.macros import expand_macros
from chat.errors import Conflict, NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.state import chats as chat_state
from chat.state.entities import get_bot
from chat.state.worlds import bot_worlds, get_world, persona, worlds_by_activity
from chat.world.bots import require_bot
from chat.world.ids import new_id
from chat.world.worlds import require_world, resolve_world, restore_hint

MAX_MESSAGE_CHARS = 20_000
MAX_TITLE_CHARS = 200
MAX_OPENING_CHARS = 40_000
"""An opening message as long as the log allows (a card's greeting is not typed)."""
USER_ID = "you"


def user_name(conn: sqlite3.Connection, world_id: str | None = None) -> str:
    """The name of the user's persona in ``world_id`` (§3.6), "You" when none is set."""
    name = persona(conn, world_id)["name"]
    return name if name.strip() else "You"


def fill_names(text: str, *, user: str, char: str) -> str:
    """Replace ``{{user}}``/``<USER>`` and ``{{char}}``/``<BOT>`` (one expander for all, §3.4.1)."""
    return expand_macros(text, char=char, user=user)


def check_text(text: Any, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    if not text.strip():
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValidationFailed(
            f"{field} is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}", field=field
        )
    return text


def require_chat(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any]:
    chat = chat_state.get_chat(conn, chat_id)
    if chat is None:
        raise NotFound(f"no chat with id {chat_id!r}", field="chat_id")
    return chat


def require_writable_chat(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any]:
    """The chat, when it may be changed: NotFound for no chat, Conflict naming ``world``
    when its world is archived. An archived world is put away: its chats can be read and
    exported, nothing in them changes (no message or turn, no edit, delete, rewind, chosen
    alternative or scene edit) until the world is restored. Stopping a turn is not
    refused, and turns queued before the archiving run to their end."""
    chat = require_chat(conn, chat_id)
    world = get_world(conn, chat["world_id"])
    if world is not None and world["archived"]:
        raise Conflict(
            f"the world {world['name']!r} of this chat is archived, so the chat is read-only; {restore_hint(world)}",
            field="world",
        )
    return chat


def require_writable_message(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
    """The message, when its chat may be changed (`require_writable_chat`)."""
    message = require_message(conn, message_id)
    require_writable_chat(conn, message["chat_id"])
    return message


def require_someone_active(conn: sqlite3.Connection, chat: dict[str, Any]) -> None:
    """Refuse a turn in a chat whose bots are all retired before anything is stored: it
    could only fail (`all_retired`), and its Retry would fail again."""
    if not any((bot := get_bot(conn, b)) and not bot["retired"] for b in chat["bot_ids"]):
        raise all_retired(conn, chat)


def all_retired(conn: sqlite3.Connection, chat: dict[str, Any]) -> Conflict:
    """The refusal for a chat whose bots are all retired: it names them and what can be
    done (a retired bot does not come back), not the scene, where they may well be present."""
    names = [(bot or {}).get("name") or bot_id for bot_id in chat["bot_ids"] for bot in [get_bot(conn, bot_id)]]
    who = ", ".join(names) or "none"
    return Conflict(
        f"every bot of this chat is retired ({who}), so nobody can answer; a retired bot does not"
        " come back: start a new chat with another bot (Bots tab to author or import one); this chat"
        " stays readable and can be exported",
        field="bot_ids",
    )


def require_message(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
    message = chat_state.get_message(conn, message_id)
    if message is None:
        raise NotFound(f"no message with id {message_id!r}", field="message_id")
    return message


def chat_world_for(conn: sqlite3.Connection, world_id: str | None, bot_ids: Any) -> str:
    """The world a new chat goes in: the one named; else the only live world; else the world
    its bots all take part in (the most recently active if they share several). Bots that
    share no world: ValidationFailed naming ``world_id``, since any guess would pull a bot
    into a story it was never part of."""
    live = worlds_by_activity(conn)
    if world_id is not None or len(live) <= 1:
        return resolve_world(conn, world_id, field="world_id")
    shared = list(live)
    for bot_id in bot_ids if isinstance(bot_ids, list) else []:
        joined = set(bot_worlds(conn, bot_id)) if isinstance(bot_id, str) else set()
        if joined:  # an unknown bot (in no world) is refused below, naming bot_ids
            shared = [w for w in shared if w in joined]
    if not shared:
        raise ValidationFailed(
            "these bots share no world; say which world the chat belongs to with world_id",
            field="world_id",
        )
    return shared[0]


def create_events(
    conn: sqlite3.Connection,
    chat_id: str,
    bot_ids: Any,
    title: str | None,
    world_id: str | None = None,
) -> list[NewEvent]:
    """``chat_created`` and each bot's kickoff prose as its first message (§4.1).

    The chat belongs to ``world_id`` (None: see `chat_world_for`); a bot not yet part of
    that world joins it with the chat (its entity and edge to you)."""
    world_id = chat_world_for(conn, world_id, bot_ids)
    if conn.execute("SELECT 1 FROM worlds WHERE id = ?", (world_id,)).fetchone():
        require_world(conn, world_id, field="world_id", active=True)
    if not isinstance(bot_ids, list) or not bot_ids:
        raise ValidationFailed("bot_ids must list at least one bot", field="bot_ids")
    if len(set(bot_ids)) != len(bot_ids):
        raise ValidationFailed("bot_ids must not repeat a bot", field="bot_ids")
    try:
        bots = [require_bot(conn, str(bot_id), active=True) for bot_id in bot_ids]
    except NotFound as exc:  # the request names the bots in bot_ids, not in an id field
        raise NotFound(exc.message, field="bot_ids") from None
    if title is None or (isinstance(title, str) and not title.strip()):
        title = "Chat with " + _names(bot["name"] for bot in bots)
        title = title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"
    elif not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise ValidationFailed(f"title must be text of at most {MAX_TITLE_CHARS} characters", field="title")
    events = [
        NewEvent(
            "chat_created",
            {
                "id": chat_id,
                "title": title.strip(),
                "bot_ids": [b["id"] for b in bots],
                "world_id": world_id,
            },
            chat_id=chat_id,
            actor="user",
        )
    ]
    you = user_name(conn, world_id)
    for bot in bots:
        events.extend(_opening_events(bot, chat_id, you))
    return events


def _opening_events(bot: dict[str, Any], chat_id: str, you: str) -> list[NewEvent]:
    """The bot's opening message: its kickoff prose, with each alternate greeting offered as
    an alternative of it (§3.4.1), the kickoff shown; a greeting too long for a message is
    left out."""
    texts = [bot["kickoff_prose"], *(bot.get("alternate_greetings") or [])]
    texts = [fill_names(t, user=you, char=bot["name"]).strip() for t in texts if isinstance(t, str)]
    texts = [t for t in texts if t and len(t) <= MAX_OPENING_CHARS]
    events: list[NewEvent] = []
    first: str | None = None
    for text in texts:
        payload: dict[str, Any] = {"id": new_id("msg"), "chat_id": chat_id, "author": bot["id"], "text": text}
        if first is not None:
            payload["alt_group"] = first
        first = first or payload["id"]
        events.append(NewEvent("message_posted", payload, chat_id=chat_id, actor="system"))
    if len(events) > 1:
        choose = {"alt_group": first, "message_id": first}
        events.append(NewEvent("alternative_chosen", choose, chat_id=chat_id, actor="system"))
    return events


def _names(names: Any) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def edit_events(conn: sqlite3.Connection, message_id: str, text: Any) -> list[NewEvent]:
    message = require_writable_message(conn, message_id)
    if message["deleted"]:
        raise NotFound(f"message {message_id!r} was deleted", field="message_id")
    text = check_text(text)
    if text == message["text"]:
        return []
    payload = {"id": message_id, "text": text, "previous": message["text"]}
    return [NewEvent("message_edited", payload, chat_id=message["chat_id"], actor="user")]


def delete_events(conn: sqlite3.Connection, message_id: str) -> list[NewEvent]:
    message = require_writable_message(conn, message_id)
    if message["deleted"]:
        raise NotFound(f"message {message_id!r} is already deleted", field="message_id")
    events = [NewEvent("message_deleted", {"id": message_id}, chat_id=message["chat_id"], actor="user")]
    heir = _next_standing(conn, message) if message["chosen"] else None
    if heir is not None:  # §4.9: deleting the standing alternative makes the next one stand
        payload = {"alt_group": message["alt_group"], "message_id": heir}
        events.append(NewEvent("alternative_chosen", payload, chat_id=message["chat_id"], actor="user"))
    return events


def _next_standing(conn: sqlite3.Connection, message: dict[str, Any]) -> str | None:
    """The alternative that stands once ``message`` is deleted: the next one written after
    it, else the newest one before it; None when it was the only one left."""
    rows = conn.execute(
        "SELECT id, event_id FROM messages WHERE alt_group = ? AND deleted = 0 AND id != ?"
        " ORDER BY event_id",
        (message["alt_group"], message["id"]),
    ).fetchall()
    later = [row[0] for row in rows if row[1] > message["event_id"]]
    earlier = [row[0] for row in rows if row[1] < message["event_id"]]
    return later[0] if later else (earlier[-1] if earlier else None)


def choose_events(conn: sqlite3.Connection, message_id: str) -> list[NewEvent]:
    message = require_writable_message(conn, message_id)
    if message["deleted"]:
        raise NotFound(f"message {message_id!r} was deleted", field="message_id")
    if message["chosen"]:
        return []
    payload = {"alt_group": message["alt_group"], "message_id": message_id}
    return [NewEvent("alternative_chosen", payload, chat_id=message["chat_id"], actor="user")]


def turns_from(conn: sqlite3.Connection, chat_id: str, message: dict[str, Any]) -> list[str]:
    """Turns of the chat holding ``message`` or a later message, or queued after it, not yet
    reverted.

    Only a turn's messages and its queueing place it in the chat: other events may carry an
    earlier turn's id long after it ended (a proposal accepted from the review tray is the
    very event extraction would have appended, with its turn id, §5.5), and a rewind to a
    later message must not take that earlier turn with it."""
    rows = conn.execute(
        "SELECT DISTINCT turn_id FROM events WHERE chat_id = ? AND id >= ? AND turn_id IS NOT NULL"
        " AND kind IN ('message_posted', 'turn_queued') ORDER BY id",
        (chat_id, message["event_id"]),
    ).fetchall()
    candidates = [row[0] for row in rows]
    if message["turn_id"] and message["turn_id"] not in candidates:
        candidates.insert(0, message["turn_id"])
    if not candidates:
        return []
    live: set[str] = set()
    for start in range(0, len(candidates), 500):  # SQLite caps bound variables per statement
        chunk = candidates[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        live.update(
            row[0]
            for row in conn.execute(
                f"SELECT id FROM turns WHERE id IN ({marks}) AND status != 'reverted'",  # noqa: S608
                chunk,
            )
        )
    return [turn_id for turn_id in candidates if turn_id in live]


def with_alternatives(conn: sqlite3.Connection, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``alternatives`` (ids in the message's group, oldest first) and ``alt_index``."""
    groups = {m["alt_group"] for m in messages}
    siblings: dict[str, list[str]] = {}
    if groups:
        wanted = list(groups)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            for group, message_id in conn.execute(
                f"SELECT alt_group, id FROM messages WHERE alt_group IN ({marks})"  # noqa: S608
                " AND deleted = 0 ORDER BY event_id",
                chunk,
            ):
                siblings.setdefault(group, []).append(message_id)
    stopped = _stopped(conn, [m["event_id"] for m in messages if m["author"] != USER_ID and not m["edited"]])
    shaped = []
    for message in messages:
        ids = siblings.get(message["alt_group"], [message["id"]])
        shaped.append(
            {
                **message,
                "alternatives": ids,
                "alt_index": ids.index(message["id"]) if message["id"] in ids else 0,
                "stopped": message["event_id"] in stopped,
            }
        )
    return shaped


def _stopped(conn: sqlite3.Connection, event_ids: list[int]) -> set[int]:
    """Which of these ``message_posted`` events are replies the user stopped part way (§4.3);
    read from the log, so no projection has to carry it (an edit or a continue clears it)."""
    found: set[int] = set()
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT id FROM events WHERE id IN ({marks})"  # noqa: S608 - placeholders only
                " AND json_extract(payload, '$.stopped') = 1",
                chunk,
            )
        )
    return found


def bot_ids_of(chat: dict[str, Any]) -> list[str]:
    ids = chat["bot_ids"]
    return json.loads(ids) if isinstance(ids, str) else list(ids)


def transcript_page(
    conn: sqlite3.Connection, chat_id: str, *, include_hidden: bool, before: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` messages (before the message ``before``), oldest first, with
    their alternatives: a long chat opens at its end and pages back (§11.1, §11.2)."""
    require_chat(conn, chat_id)
    before_event_id = None
    if before is not None:
        anchor = chat_state.get_message(conn, before)
        if anchor is None or anchor["chat_id"] != chat_id:
            raise NotFound(f"no message {before!r} in chat {chat_id!r}", field="before")
        before_event_id = anchor["event_id"]
    messages = chat_state.transcript(
        conn, chat_id, include_hidden=include_hidden, limit=limit, before_event_id=before_event_id
    )
    return with_alternatives(conn, messages)
