"""Lore belongs to a world (§3.5, §8.1): each world's books, as a projection of the log.

A world holds one book of its own (``bot_id`` ``""``: entries that any bot of the world may
activate) and one book per bot that takes part in it (the card's character book, as that
world has it: it activates only in that bot's prompts there). Nothing of one world's lore
is read from another: prompts, the lore editor and card export all name the world.

Where a book comes from:

* ``bot_authored``: the card's book (the payload's ``lore``) is the bot's book in the world
  it is authored in;
* a bot joining a world (``world_joined``, or a chat of that world it takes part in) gets a
  copy of its card's own book, the ``lore`` of the bot's definition, never the book of
  another world: lore edited in one story does not follow the bot into the next;
* ``lore_set``: the lore editor replaces one book of one world;
* ``bot_revised`` or a manual edit of a bot's ``lore`` replaces the card's own book, so like
  every other field of the character it changes in every world the bot takes part in. This
  is also how lore was written before it belonged to worlds, so old logs replay to the same
  prompts (§9.4): their bots' lore lands in the world(s) the bot was in, ``default`` for data
  older than worlds.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.state.history import dumps
from chat.state.worlds import ensure_world, world_of

register_tables("lore_books")

WORLD_BOOK = ""
"""The ``bot_id`` of a world's own book (entries not tied to one character)."""


def set_book(
    conn: sqlite3.Connection, event: Event, world_id: str, bot_id: str, entries: list[dict[str, Any]]
) -> None:
    """Replace one book of one world; an empty book is no row at all."""
    if not entries:
        conn.execute("DELETE FROM lore_books WHERE world_id = ? AND bot_id = ?", (world_id, bot_id))
        return
    conn.execute(
        "INSERT INTO lore_books (world_id, bot_id, entries, updated_event_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(world_id, bot_id) DO UPDATE SET entries = excluded.entries,"
        " updated_event_id = excluded.updated_event_id",
        (world_id, bot_id, dumps(entries), event.id),
    )


def copy_card_book(conn: sqlite3.Connection, event: Event, bot: dict[str, Any], world_id: str) -> None:
    """A bot new to ``world_id`` brings its card's own book (a copy), never another world's."""
    card_book = list(bot.get("lore") or [])
    if card_book:
        set_book(conn, event, world_id, bot["id"], card_book)


def set_card_book_everywhere(
    conn: sqlite3.Connection, event: Event, bot_id: str, entries: list[dict[str, Any]]
) -> None:
    """The card's own book was replaced: the bot's book in every world it takes part in."""
    for (world_id,) in conn.execute(
        "SELECT world_id FROM entities WHERE id = ? AND kind = 'bot' ORDER BY world_id", (bot_id,)
    ).fetchall():
        set_book(conn, event, world_id, bot_id, entries)


@handles("lore_set")
def _lore_set(conn: sqlite3.Connection, event: Event) -> None:
    world_id = world_of(conn, event)
    ensure_world(conn, world_id, event)
    set_book(conn, event, world_id, event.payload.get("bot_id") or WORLD_BOOK, event.payload["entries"])


# --- reading ----------------------------------------------------------------------------


def get_book(conn: sqlite3.Connection, world_id: str, bot_id: str = WORLD_BOOK) -> list[dict[str, Any]]:
    """One book of ``world_id``: the world's own (``bot_id`` ``""``) or a bot's there."""
    row = conn.execute(
        "SELECT entries FROM lore_books WHERE world_id = ? AND bot_id = ?", (world_id, bot_id)
    ).fetchone()
    return [] if row is None else json.loads(row[0])


def prompt_lore(conn: sqlite3.Connection, world_id: str, bot_id: str) -> list[dict[str, Any]]:
    """The entries ``bot_id``'s prompt in ``world_id`` scans: the world's own book, then the
    bot's book there. Nothing of any other world."""
    rows = conn.execute(
        "SELECT bot_id, entries FROM lore_books WHERE world_id = ? AND bot_id IN ('', ?)",
        (world_id, bot_id),
    ).fetchall()
    books = dict(rows)
    return [*json.loads(books.get(WORLD_BOOK, "[]")), *json.loads(books.get(bot_id, "[]"))]


def prompt_lore_size(conn: sqlite3.Connection, world_id: str, bot_id: str) -> int:
    """How many entries `prompt_lore` would return, counted by SQLite without parsing the
    books in Python: a message's cheap fit bound needs only that (`chat.turns.message_fit`)."""
    row = conn.execute(
        "SELECT coalesce(sum(json_array_length(entries)), 0) FROM lore_books"
        " WHERE world_id = ? AND bot_id IN ('', ?)",
        (world_id, bot_id),
    ).fetchone()
    return int(row[0])


def list_books(conn: sqlite3.Connection, world_id: str) -> list[dict[str, Any]]:
    """Every non-empty book of ``world_id``: ``{bot_id (None for the world's own), entries}``."""
    rows = conn.execute(
        "SELECT bot_id, entries, updated_event_id FROM lore_books WHERE world_id = ? ORDER BY bot_id",
        (world_id,),
    ).fetchall()
    return [
        {"bot_id": bot_id or None, "entries": json.loads(entries), "updated_event_id": updated}
        for bot_id, entries, updated in rows
    ]
