"""Editing a world's lore (§3.5, §8.1, §11.1): checks, then the one ``lore_set`` event.

A world's lore is its own book plus a book per bot that takes part in it (see
`chat.state.lore`). The lore editor replaces one book of one world at a time, so an edit in
one story never reaches another. Like the other ``*_events`` functions this runs inside the
writer's transaction: it refuses with an error naming the field (nothing is appended) or
returns the event to append.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.errors import NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import validate_payload
from chat.state.entities import get_bot, get_entity
from chat.state.lore import WORLD_BOOK, get_book
from chat.state.worlds import bot_worlds
from chat.world.worlds import require_world, require_writable_world


def require_book(conn: sqlite3.Connection, world_id: str, bot_id: str | None) -> None:
    """NotFound naming ``world`` or ``bot`` unless the book can exist: a known world, and a
    bot that takes part in it (a bot of another world has no book here)."""
    require_world(conn, world_id, field="world")
    if bot_id is None:
        return
    if get_bot(conn, bot_id) is None:
        raise NotFound(f"no bot with id {bot_id!r}", field="bot")
    if get_entity(conn, bot_id, world_id=world_id) is None:
        raise NotFound(f"the bot {bot_id!r} takes no part in world {world_id!r}", field="bot")


def read_book(conn: sqlite3.Connection, world_id: str, bot_id: str | None) -> dict[str, Any]:
    """``{world_id, bot_id, entries}``: the world's own book (bot None) or the bot's there."""
    require_book(conn, world_id, bot_id)
    return {"world_id": world_id, "bot_id": bot_id, "entries": get_book(conn, world_id, bot_id or WORLD_BOOK)}


def lore_events(
    conn: sqlite3.Connection, world_id: str, bot_id: str | None, entries: Any
) -> list[NewEvent]:
    """``lore_set`` replacing one book of ``world_id``; none when the book is unchanged."""
    require_book(conn, world_id, bot_id)
    require_writable_world(conn, world_id, "lore")
    if not isinstance(entries, list):
        raise ValidationFailed("entries must be a list of lore entries", field="entries")
    payload: dict[str, Any] = {"world_id": world_id, "entries": entries}
    if bot_id is not None:
        payload["bot_id"] = bot_id
    payload = validate_payload("lore_set", payload)
    book = get_book(conn, world_id, bot_id or WORLD_BOOK)
    if payload["entries"] == book:
        return []
    for n, entry in enumerate(payload["entries"]):  # as the lore editor asks; an entry the book
        if not str(entry.get("content") or "").strip() and entry not in book:  # has (a card's) stays
            raise ValidationFailed(f"entry {n + 1} has no content: write the entry's content",
                                   field=f"entries[{n}].content")
    return [NewEvent("lore_set", payload, actor="user")]


def bot_for_export(conn: sqlite3.Connection, bot_id: str, world_id: str | None = None) -> dict[str, Any]:
    """The bot as a card exports it: its character book is its lore in ``world_id`` (with the
    edits made there), by default in the world it was authored or imported into, the first it
    took part in. NotFound names ``id`` (no bot), ``world`` or ``bot`` (not in that world)."""
    bot = get_bot(conn, bot_id)
    if bot is None:
        raise NotFound(f"no bot with id {bot_id!r}", field="id")
    if world_id is None:
        worlds = bot_worlds(conn, bot_id)
        if not worlds:  # in no world at all: its card's own book
            return bot
        world_id = worlds[0]
    require_book(conn, world_id, bot_id)
    return {**bot, "lore": get_book(conn, world_id, bot_id)}
