"""A chat's opening messages follow the persona's name until the conversation starts (§3.6, §4.1).

Creating a chat posts each bot's greeting with ``{{user}}`` filled with the persona's name
then (`chats.create_events`). The demo chat is made before the person has named
themselves, so its greeting said "nods at You." and kept saying it after they did. The
greeting is stored as filled text because everything reads a message's text as it is:
the transcript, the prompt, exports, search and the memory of what was said. So when the
name changes, each greeting still as it was posted is written again with the new name: an
ordinary ``message_edited`` by the actor ``system``, appended beside the ``persona_set``
in one transaction, so the log says what changed and why, and every reader sees the same
text with no second rendering path.

Which greetings: those of the chats of the worlds the change reaches (the world's own
persona, or the global one where a world has none), archived worlds aside (read-only),
whose text is still the bot's greeting (or an alternate one) filled with the old name: a
greeting the person edited, or one of a bot since revised, is left as it is. And only
before the conversation starts, or while "you" had no name yet: once someone has spoken
after a greeting, it is part of a conversation whose replies used the old name too, and
rewriting the first line alone would make history disagree with itself. The placeholder
"You" is no name the person chose, so naming themselves fills it in wherever it stands.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import NewEvent
from chat.state import chats as chat_state
from chat.state.entities import get_bot
from chat.state.worlds import get_world, list_worlds, persona
from chat.world.chats import MAX_OPENING_CHARS, USER_ID, fill_names, user_name
from chat.world.worlds import clear_persona_events, persona_events

LOOK_AHEAD = 64
"""Messages read from a chat's start: its greetings (one per bot, with alternates) and one more."""


def set_persona_events(
    conn: sqlite3.Connection, name: Any, description: Any = "", *, world_id: str | None = None
) -> list[NewEvent]:
    """``persona_set`` (`worlds.persona_events`) and the greetings it writes again."""
    events = persona_events(conn, name, description, world_id=world_id)
    if not events:
        return []
    return [*events, *refill_events(conn, events[0].payload["name"], world_id)]


def cleared_persona_events(conn: sqlite3.Connection, world_id: str) -> list[NewEvent]:
    """``persona_cleared`` and the greetings of ``world_id`` written with the global name again."""
    events = clear_persona_events(conn, world_id)
    return [*events, *refill_events(conn, user_name(conn, None), world_id)]


def refill_events(conn: sqlite3.Connection, new_name: str, world_id: str | None) -> list[NewEvent]:
    """``message_edited`` for each greeting that names the persona a change renames to
    ``new_name``: in ``world_id`` (None: every world with no persona of its own). Read
    before the persona event is projected: the names now are the old ones."""
    if world_id is not None:
        worlds = [world_id]
    else:
        worlds = [w["id"] for w in list_worlds(conn) if persona(conn, w["id"])["scope"] != w["id"]]
    events: list[NewEvent] = []
    for wid in worlds:
        world = get_world(conn, wid)
        old = user_name(conn, wid)
        if world is None or world["archived"] or old == new_name:
            continue
        unnamed = persona(conn, wid)["scope"] is None  # "You" was a placeholder, not a name
        for chat in chat_state.list_chats(conn, world_id=wid):
            events.extend(_chat_refills(conn, chat["id"], old, new_name, unnamed))
    return events


def _chat_refills(conn: sqlite3.Connection, chat_id: str, old: str, new: str, unnamed: bool) -> list[NewEvent]:
    messages = chat_state.first_messages(conn, chat_id, limit=LOOK_AHEAD)
    count = next((i for i, m in enumerate(messages) if m["turn_id"] or m["author"] == USER_ID), len(messages))
    spoken = count < len(messages) or len(messages) == LOOK_AHEAD
    if spoken and not unnamed:
        return []
    events = []
    for message in messages[:count]:
        text = None if message["deleted"] else _refilled(conn, message, old, new)
        if text is not None:
            payload = {"id": message["id"], "text": text, "previous": message["text"]}
            events.append(NewEvent("message_edited", payload, chat_id=chat_id, actor="system"))
    return events


def _refilled(conn: sqlite3.Connection, message: dict[str, Any], old: str, new: str) -> str | None:
    """The greeting with ``new`` for the person's name, when ``message`` is one of its bot's
    greetings filled with ``old`` and the new name changes it; else None."""
    bot = get_bot(conn, message["author"])
    if bot is None:
        return None
    for template in [bot.get("kickoff_prose"), *(bot.get("alternate_greetings") or [])]:
        if not isinstance(template, str) or fill_names(template, user=old, char=bot["name"]).strip() != message["text"]:
            continue
        text = fill_names(template, user=new, char=bot["name"]).strip()
        return text if text != message["text"] and len(text) <= MAX_OPENING_CHARS else None
    return None
