"""A character card becomes a bot in a world of its own, or joins one the user picks (§3.4, §3.5).

People keep dozens of unrelated characters; each imported card gets a new world named after
the character, whose scenario is the card's ``scenario``, so nothing of one story leaks into
another. Giving ``world_id`` makes the bot join that world instead.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import NewEvent
from chat.world.bots import author_events
from chat.world.worlds import create_events, require_world


def import_events(
    conn: sqlite3.Connection, payload: dict[str, Any], world_id: str | None = None
) -> list[NewEvent]:
    """``world_created`` (unless ``world_id`` names an existing, active world) and
    ``bot_authored`` in that world. NotFound names ``world`` for an unknown world."""
    if world_id is not None:
        require_world(conn, world_id, field="world", active=True)
        return author_events(conn, payload, world_id)
    name = str(payload.get("name") or "Imported").strip()[:80] or "Imported"
    world = create_events(conn, name, scenario=payload.get("scenario") or "")
    new_world = world[0].payload["id"]
    return world + author_events(conn, payload, new_world, world_created=True)
