"""Bots and the entities of the world (§3.1–§3.2, §5.1) as projections of their events."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD
from chat.state.history import dumps, record_change
from chat.state.lore import copy_card_book, set_book, set_card_book_everywhere
from chat.state.worlds import ensure_world, persona, world_of

register_tables("bots", "entities")

BOT_COLUMNS = (
    "name",
    "persona",
    "voice_samples",
    "traits",
    "backstory",
    "initial_relationship_to_you",
    "kickoff_prose",
)
JSON_BOT_COLUMNS = ("voice_samples", "traits")
EXTRA_BOT_FIELDS = (
    "avatar",
    "tags",
    "talkativeness",
    "alternate_greetings",
    "scenario",
    "lore",
    "card",
)
YOU_ID = "you"


def _column_value(field: str, value: Any) -> Any:
    return dumps(value) if field in JSON_BOT_COLUMNS else value


def ensure_you(conn: sqlite3.Connection, event: Event, world_id: str = DEFAULT_WORLD) -> None:
    """The world and its `you` entity, named after the persona (§3.6), if not there yet."""
    ensure_world(conn, world_id, event)
    who = persona(conn, world_id)
    conn.execute(
        "INSERT OR IGNORE INTO entities (world_id, id, kind, name, aliases, description, facts,"
        " first_event_id, last_event_id) VALUES (?, 'you', 'you', ?, '[]', ?, '{}', ?, ?)",
        (world_id, who["name"], who["description"], event.id, event.id),
    )


def join_world(conn: sqlite3.Connection, event: Event, bot: dict[str, Any], world_id: str) -> bool:
    """Give ``bot`` its entity in ``world_id`` (once); True when it was new there."""
    ensure_you(conn, event, world_id)
    if conn.execute(
        "SELECT 1 FROM entities WHERE world_id = ? AND id = ?", (world_id, bot["id"])
    ).fetchone():
        return False
    conn.execute(
        "INSERT INTO entities (world_id, id, kind, name, aliases, description, facts,"
        " first_event_id, last_event_id) VALUES (?, ?, 'bot', ?, '[]', ?, '{}', ?, ?)",
        (world_id, bot["id"], bot["name"], _short(bot["persona"]), event.id, event.id),
    )
    return True


@handles("bot_authored")
def _bot_authored(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    extra = {field: p.get(field) for field in EXTRA_BOT_FIELDS}
    conn.execute(
        "INSERT INTO bots (id, name, persona, voice_samples, traits, backstory,"
        " initial_relationship_to_you, kickoff_prose, extra, retired, created_event_id,"
        " updated_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (
            p["id"],
            p["name"],
            p["persona"],
            dumps(p["voice_samples"]),
            dumps(p["traits"]),
            p["backstory"],
            p["initial_relationship_to_you"],
            p["kickoff_prose"],
            dumps(extra),
            event.id,
            event.id,
        ),
    )
    world_id = world_of(conn, event)
    ensure_you(conn, event, world_id)
    conn.execute(
        "INSERT INTO entities (world_id, id, kind, name, aliases, description, facts,"
        " first_event_id, last_event_id) VALUES (?, ?, 'bot', ?, '[]', ?, '{}', ?, ?)"
        " ON CONFLICT(world_id, id) DO UPDATE SET kind = 'bot', name = excluded.name,"
        " description = excluded.description, last_event_id = excluded.last_event_id",
        (world_id, p["id"], p["name"], _short(p["persona"]), event.id, event.id),
    )
    set_book(conn, event, world_id, p["id"], list(p.get("lore") or []))  # the card's book is its world's


@handles("world_joined")
def _world_joined(conn: sqlite3.Connection, event: Event) -> None:
    bot = get_bot(conn, event.payload["bot_id"])
    if bot is not None:
        _join_with_edge(conn, event, bot, event.payload["world_id"])


def _join_with_edge(conn: sqlite3.Connection, event: Event, bot: dict[str, Any], world_id: str) -> None:
    from chat.state.edges import initial_edge  # edges is a sibling projection; no import cycle

    if join_world(conn, event, bot, world_id):
        initial_edge(conn, event, bot, world_id)
        copy_card_book(conn, event, bot, world_id)


@handles("chat_created")
def _chat_bots_join(conn: sqlite3.Connection, event: Event) -> None:
    """A chat's bots take part in its world (an implicit join, so no chat lacks an entity)."""
    world_id = world_of(conn, event)
    ensure_you(conn, event, world_id)
    for bot_id in event.payload["bot_ids"]:
        bot = get_bot(conn, bot_id)
        if bot is not None:
            _join_with_edge(conn, event, bot, world_id)


def _short(text: str, limit: int = 280) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def apply_bot_changes(
    conn: sqlite3.Connection, event: Event, bot_id: str, changes: dict[str, Any]
) -> None:
    """Set bot fields (main columns or the ``extra`` JSON) and keep the entity's name in step."""
    row = conn.execute("SELECT extra FROM bots WHERE id = ?", (bot_id,)).fetchone()
    if row is None:
        return
    current = get_bot(conn, bot_id) or {}
    extra = json.loads(row[0])
    for field, value in changes.items():
        record_change(conn, event, "bot", bot_id, field, current.get(field), value)
        if field in BOT_COLUMNS:
            conn.execute(
                f"UPDATE bots SET {field} = ? WHERE id = ?",  # noqa: S608 - allowlisted
                (_column_value(field, value), bot_id),
            )
        elif field in EXTRA_BOT_FIELDS:
            extra[field] = value
    conn.execute(
        "UPDATE bots SET extra = ?, updated_event_id = ? WHERE id = ?",
        (dumps(extra), event.id, bot_id),
    )
    if "lore" in changes:  # the card's own book: like any field of the character, everywhere
        set_card_book_everywhere(conn, event, bot_id, list(changes["lore"] or []))
    if "name" in changes:  # the bot's entity in every world it takes part in
        for (world_id,) in conn.execute(
            "SELECT world_id FROM entities WHERE id = ? AND kind = 'bot' ORDER BY world_id", (bot_id,)
        ).fetchall():
            conn.execute(
                "UPDATE entities SET name = ?, last_event_id = ? WHERE world_id = ? AND id = ?",
                (changes["name"], event.id, world_id, bot_id),
            )


@handles("bot_revised")
def _bot_revised(conn: sqlite3.Connection, event: Event) -> None:
    apply_bot_changes(conn, event, event.payload["id"], event.payload["changes"])


@handles("bot_retired")
def _bot_retired(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute(
        "UPDATE bots SET retired = 1, updated_event_id = ? WHERE id = ?",
        (event.id, event.payload["id"]),
    )


ENTITY_JSON_FIELDS = ("aliases", "facts")
ENTITY_FIELDS = ("kind", "name", "aliases", "description", "facts")


@handles("entity_added")
def _entity_added(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    world_id = world_of(conn, event)
    ensure_you(conn, event, world_id)  # first: an event that adds `you` itself then updates it
    existing = get_entity(conn, p["id"], world_id=world_id)
    if existing is not None:
        _update_entity(conn, event, p["id"], {k: p[k] for k in ENTITY_FIELDS}, existing, world_id)
        return
    conn.execute(
        "INSERT INTO entities (world_id, id, kind, name, aliases, description, facts,"
        " first_event_id, last_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            world_id,
            p["id"],
            p["kind"],
            p["name"],
            dumps(p["aliases"]),
            p["description"],
            dumps(p["facts"]),
            event.id,
            event.id,
        ),
    )
    record_change(conn, event, "entity", p["id"], "created", None, p["name"], world_id=world_id)


@handles("entity_updated")
def _entity_updated(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    world_id = world_of(conn, event)
    existing = get_entity(conn, p["id"], world_id=world_id)
    if existing is None:
        return
    changes = {k: p[k] for k in ENTITY_FIELDS if p.get(k) is not None}
    if "facts" in changes:  # extraction adds or replaces facts; it never silently drops one
        changes["facts"] = {**existing["facts"], **changes["facts"]}
    _update_entity(conn, event, p["id"], changes, existing, world_id)


def set_entity_fields(
    conn: sqlite3.Connection,
    event: Event,
    entity_id: str,
    changes: dict[str, Any],
    world_id: str = DEFAULT_WORLD,
) -> None:
    existing = get_entity(conn, entity_id, world_id=world_id)
    if existing is not None:
        _update_entity(conn, event, entity_id, changes, existing, world_id)


def _update_entity(
    conn: sqlite3.Connection,
    event: Event,
    entity_id: str,
    changes: dict[str, Any],
    existing: dict[str, Any],
    world_id: str = DEFAULT_WORLD,
) -> None:
    for field, value in changes.items():
        if field not in ENTITY_FIELDS:
            continue
        record_change(
            conn, event, "entity", entity_id, field, existing.get(field), value, world_id=world_id
        )
        stored = dumps(value) if field in ENTITY_JSON_FIELDS else value
        conn.execute(
            f"UPDATE entities SET {field} = ? WHERE world_id = ? AND id = ?",  # noqa: S608 - allowlisted
            (stored, world_id, entity_id),
        )
    conn.execute(
        "UPDATE entities SET last_event_id = ? WHERE world_id = ? AND id = ?",
        (event.id, world_id, entity_id),
    )


_ENTITY_SELECT = (
    "SELECT id, kind, name, aliases, description, facts, first_event_id, last_event_id, world_id"
    " FROM entities"
)


def get_entity(
    conn: sqlite3.Connection, entity_id: str, *, world_id: str = DEFAULT_WORLD
) -> dict[str, Any] | None:
    """The entity ``entity_id`` of ``world_id`` (an entity of another world is not found)."""
    row = conn.execute(
        f"{_ENTITY_SELECT} WHERE world_id = ? AND id = ?", (world_id, entity_id)  # noqa: S608
    ).fetchone()
    return None if row is None else _entity_dict(row)


def list_entities(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"{_ENTITY_SELECT} WHERE world_id = ? ORDER BY first_event_id, id", (world_id,)  # noqa: S608
    ).fetchall()
    return [_entity_dict(row) for row in rows]


def entity_names(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> dict[str, tuple[str, str]]:
    """id -> (name, kind) of every entity of ``world_id``, in `list_entities`' order: what
    extraction's checks need, without reading (and parsing) the rest of each entity."""
    rows = conn.execute(
        "SELECT id, name, kind FROM entities WHERE world_id = ? ORDER BY first_event_id, id", (world_id,)
    )
    return {entity_id: (name, kind) for entity_id, name, kind in rows}


def entity_taken(conn: sqlite3.Connection, entity_id: str) -> bool:
    """True when ``entity_id`` names an entity in any world (ids stay unique across worlds)."""
    return conn.execute("SELECT 1 FROM entities WHERE id = ? LIMIT 1", (entity_id,)).fetchone() is not None


def _entity_dict(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "kind": row[1],
        "name": row[2],
        "aliases": json.loads(row[3]),
        "description": row[4],
        "facts": json.loads(row[5]),
        "first_event_id": row[6],
        "last_event_id": row[7],
        "world_id": row[8],
    }


_BOT_SELECT = (
    "SELECT id, name, persona, voice_samples, traits, backstory, initial_relationship_to_you,"
    " kickoff_prose, extra, retired, created_event_id, updated_event_id FROM bots"
)


def get_bot(conn: sqlite3.Connection, bot_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"{_BOT_SELECT} WHERE id = ?", (bot_id,)).fetchone()
    return None if row is None else _bot_dict(row)


def list_bots(conn: sqlite3.Connection, *, include_retired: bool = False) -> list[dict[str, Any]]:
    where = "" if include_retired else " WHERE retired = 0"
    rows = conn.execute(f"{_BOT_SELECT}{where} ORDER BY created_event_id").fetchall()
    return [_bot_dict(row) for row in rows]


def _bot_dict(row: tuple) -> dict[str, Any]:
    bot: dict[str, Any] = {
        "id": row[0],
        "name": row[1],
        "persona": row[2],
        "voice_samples": json.loads(row[3]),
        "traits": json.loads(row[4]),
        "backstory": row[5],
        "initial_relationship_to_you": row[6],
        "kickoff_prose": row[7],
    }
    bot.update(json.loads(row[8]))
    bot["retired"] = bool(row[9])
    bot["created_event_id"] = row[10]
    bot["updated_event_id"] = row[11]
    return bot
