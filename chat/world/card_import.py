"""Importing a card when Kith may already have its bot (§3.4): ask, update or copy.

A card matches an existing bot when an active bot has the same name (case and spacing
aside): re-importing an exported card, or a newer version of a card, would otherwise
quietly make a second bot ("old-pell-2"). With ``on_conflict`` unset the import is refused
with a 409 that names the bot; ``update`` revises that bot from the card (a
``bot_revised``, so its chats, memories and relationships stay); ``copy`` adds a new bot.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from chat.errors import CardMatchesBot
from chat.eventlog.log import NewEvent
from chat.state.entities import list_bots
from chat.world.bots import author_events, revise_events

OnConflict = Literal["ask", "update", "copy"]


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def matching_bot(conn: sqlite3.Connection, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The active bot the card matches (same name), the oldest when several do."""
    wanted = _key(str(payload.get("name") or ""))
    for bot in list_bots(conn):
        if wanted and _key(bot["name"]) == wanted:
            return bot
    return None


def card_import_events(
    conn: sqlite3.Connection, payload: dict[str, Any], on_conflict: OnConflict = "ask"
) -> tuple[list[NewEvent], str]:
    """The events importing ``payload`` appends, and the id of the bot it ends up as."""
    match = matching_bot(conn, payload)
    if match is not None and on_conflict == "ask":
        raise CardMatchesBot(
            f"this card matches the bot {match['name']!r} (id {match['id']}); import it again with"
            " on_conflict=update to revise that bot from the card, or on_conflict=copy to add a"
            " new bot",
            bot_id=match["id"],
            bot_name=match["name"],
        )
    if match is not None and on_conflict == "update":
        changes = {k: v for k, v in payload.items() if k != "id"}
        if changes.get("avatar") is None:
            changes.pop("avatar", None)  # a JSON card has no picture: keep the bot's
        return revise_events(conn, match["id"], changes), match["id"]
    events = author_events(conn, {k: v for k, v in payload.items() if k != "id"})
    return events, events[0].payload["id"]
