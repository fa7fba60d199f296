"""Authoring, revising and retiring bots (§3.1–§3.2): checks, then the one event each.

The functions here run inside the writer's transaction (`Writer.commit`): they
read the current state, refuse with a clear error, or return the events to
append. The projection then creates the bot's entity and its edge to `you`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import ValidationError

from chat.errors import Conflict, NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import BotFields, describe_validation_error, validate_payload
from chat.state.entities import entity_taken, get_bot
from chat.world.slugs import unique_bot_id
from chat.world.worlds import require_world, resolve_world


def validated_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The bot fields normalised by their schema, or ValidationFailed naming the field."""
    if not isinstance(fields, dict):
        raise ValidationFailed("a bot must be a JSON object", field="bot")
    data = {k: v for k, v in fields.items() if k != "id"}
    try:
        return BotFields.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ValidationFailed(describe_validation_error("bot", exc), field=field) from None


def author_events(
    conn: sqlite3.Connection,
    fields: dict[str, Any],
    world_id: str | None = None,
    *,
    world_created: bool = False,
) -> list[NewEvent]:
    """``bot_authored`` for ``fields``; the id is slugged from the name when not given.

    The bot takes part in ``world_id`` from the start (None: the only world, see
    `resolve_world`); it can join more worlds later, with a chat there. ``world_created``:
    the world is created by an event of the same commit (a card import), so not checked."""
    if not world_created:
        world_id = resolve_world(conn, world_id, field="world_id", guess=False)
        if conn.execute("SELECT 1 FROM worlds WHERE id = ?", (world_id,)).fetchone():
            require_world(conn, world_id, field="world_id", active=True)
    payload = validated_fields(fields)
    bot_id = fields.get("id") if isinstance(fields, dict) else None
    if bot_id in (None, ""):
        bot_id = unique_bot_id(conn, payload["name"])
    else:
        validate_payload("bot_authored", {**payload, "id": bot_id})  # names a bad id
        if get_bot(conn, bot_id) is not None or entity_taken(conn, bot_id):
            raise Conflict(f"the id {bot_id!r} is already taken; choose another", field="id")
    return [NewEvent("bot_authored", {**payload, "id": bot_id, "world_id": world_id}, actor="user")]


def require_bot(conn: sqlite3.Connection, bot_id: str, *, active: bool = False) -> dict[str, Any]:
    """The bot, or NotFound; with ``active``, a retired bot is NotFound too."""
    bot = get_bot(conn, bot_id)
    if bot is None:
        raise NotFound(f"no bot with id {bot_id!r}", field="id")
    if active and bot["retired"]:
        raise NotFound(f"bot {bot_id!r} is retired", field="id")
    return bot


def revise_events(conn: sqlite3.Connection, bot_id: str, changes: dict[str, Any]) -> list[NewEvent]:
    """``bot_revised`` with the changed fields validated against the whole bot."""
    bot = require_bot(conn, bot_id)
    if not isinstance(changes, dict) or not changes:
        raise ValidationFailed("give at least one field to change", field="changes")
    if "id" in changes and changes["id"] != bot_id:
        raise ValidationFailed("a bot's id cannot be changed", field="id")
    changes = {k: v for k, v in changes.items() if k != "id"}
    unknown = sorted(set(changes) - set(BotFields.model_fields))
    if unknown:
        raise ValidationFailed(f"unknown bot field(s): {', '.join(unknown)}", field=unknown[0])
    current = {k: bot[k] for k in BotFields.model_fields if k in bot}
    merged = validated_fields({**current, **changes})
    normalised = {k: merged[k] for k in changes if merged[k] != bot.get(k)}
    if not normalised:
        return []
    return [NewEvent("bot_revised", {"id": bot_id, "changes": normalised}, actor="user")]


def retire_events(conn: sqlite3.Connection, bot_id: str) -> list[NewEvent]:
    bot = require_bot(conn, bot_id)
    if bot["retired"]:
        raise Conflict(f"bot {bot_id!r} is already retired", field="id")
    return [NewEvent("bot_retired", {"id": bot_id}, actor="user")]
