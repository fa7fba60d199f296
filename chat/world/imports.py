"""A character card becomes a bot in a world of its own, or joins one the user picks (§3.4, §3.5).

People keep dozens of unrelated characters; each imported card gets a new world named after
the character, whose scenario is the card's ``scenario``, so nothing of one story leaks into
another. Giving ``world_id`` makes the bot join that world instead. A card that matches a
bot Kith already has follows `card_import`'s rule (ask, update or copy): an update revises
that bot (and, with ``world_id``, makes it join that world); a copy is a new bot like any.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import NewEvent
from chat.state.worlds import bot_worlds
from chat.world.bots import author_events
from chat.world.card_import import OnConflict, card_import_events, matching_bot
from chat.world.worlds import create_events, join_events, require_world


def import_events(
    conn: sqlite3.Connection,
    payload: dict[str, Any],
    world_id: str | None = None,
    on_conflict: OnConflict = "copy",
) -> tuple[list[NewEvent], str, str | None]:
    """(events, the bot's id, its world) for importing ``payload``. NotFound names ``world``
    for an unknown world; CardMatchesBot (409) when it matches a bot and ``on_conflict`` is
    ``ask``."""
    if world_id is not None:
        require_world(conn, world_id, field="world", active=True)
    payload = {k: v for k, v in payload.items() if k != "id"}
    if on_conflict != "copy" and matching_bot(conn, payload) is not None:
        events, bot_id = card_import_events(conn, payload, on_conflict)
        if world_id is not None:
            return events + join_events(conn, world_id, bot_id), bot_id, world_id
        worlds = bot_worlds(conn, bot_id)
        return events, bot_id, worlds[0] if worlds else None
    if world_id is not None:
        events = author_events(conn, payload, world_id)
        return events, events[0].payload["id"], world_id
    name = str(payload.get("name") or "Imported").strip()[:80] or "Imported"
    world = create_events(conn, name, scenario=payload.get("scenario") or "")
    new_world = world[0].payload["id"]
    bot = author_events(conn, payload, new_world, world_created=True)
    return world + bot, bot[0].payload["id"], new_world
