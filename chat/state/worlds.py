"""Worlds (§3.5) and personas (§3.6) as projections, and the rule that scopes every event.

Every world-scoped event belongs to exactly one world: the one its payload names, else
the world of its chat, else ``default`` (what upcasting gives everything written before
worlds existed, §9.4). ``world_of`` is that rule, used by every handler, so an event can
never change two worlds. The ``default`` world has no ``world_created`` event in old logs;
it comes into being with the first event that belongs to it (``ensure_world``), which is a
pure function of the log like every other row.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.eventlog.log import Event
from chat.eventlog.projector import handles, pass_memo, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD

register_tables("worlds", "personas")

GLOBAL_SCOPE = ""
"""The ``personas`` key of the persona every world uses unless it has its own."""
DEFAULT_USER_NAME = "You"
DEFAULT_WORLD_NAME = "Default"


def chat_world(conn: sqlite3.Connection, chat_id: str | None) -> str | None:
    """The world a chat belongs to, or None for an unknown chat."""
    if not chat_id:
        return None
    row = conn.execute("SELECT world_id FROM chats WHERE id = ?", (chat_id,)).fetchone()
    return None if row is None else row[0]


def projected_chat_world(conn: sqlite3.Connection, chat_id: str | None) -> str:
    """The world of ``chat_id`` for a handler: its chat's, else ``default``.

    A chat never changes world, so within one projection pass each chat is looked up once
    (`pass_memo`); replay otherwise paid one query per message and per memory for it."""
    if not chat_id:
        return DEFAULT_WORLD
    memo = pass_memo(conn)
    if memo is None:
        return chat_world(conn, chat_id) or DEFAULT_WORLD
    known: dict[str, str] = memo.setdefault("chat_world", {})
    world = known.get(chat_id)
    if world is None:
        world = chat_world(conn, chat_id)
        if world is None:  # not (yet) a chat: not remembered, so a later chat_created counts
            return DEFAULT_WORLD
        known[chat_id] = world
    return world


def world_of(conn: sqlite3.Connection, event: Event) -> str:
    """The one world ``event`` belongs to (see the module docstring)."""
    named = event.payload.get("world_id")
    if named:
        return named
    return projected_chat_world(conn, event.chat_id or event.payload.get("chat_id"))


def ensure_world(conn: sqlite3.Connection, world_id: str, event: Event) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO worlds (id, name, scenario, archived, created_event_id,"
        " updated_event_id) VALUES (?, ?, '', 0, ?, ?)",
        (world_id, DEFAULT_WORLD_NAME if world_id == DEFAULT_WORLD else world_id, event.id, event.id),
    )


@handles("world_created")
def _world_created(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT INTO worlds (id, name, scenario, archived, created_event_id, updated_event_id)"
        " VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
        " scenario = excluded.scenario, updated_event_id = excluded.updated_event_id",
        (p["id"], p["name"], p["scenario"], event.id, event.id),
    )


def _set_world(conn: sqlite3.Connection, event: Event, column: str, value: Any) -> None:
    conn.execute(
        f"UPDATE worlds SET {column} = ?, updated_event_id = ? WHERE id = ?",  # noqa: S608 - fixed names
        (value, event.id, event.payload["id"]),
    )


@handles("world_renamed")
def _world_renamed(conn: sqlite3.Connection, event: Event) -> None:
    _set_world(conn, event, "name", event.payload["name"])


@handles("world_scenario_set")
def _world_scenario_set(conn: sqlite3.Connection, event: Event) -> None:
    _set_world(conn, event, "scenario", event.payload["scenario"])


@handles("world_archived")
def _world_archived(conn: sqlite3.Connection, event: Event) -> None:
    _set_world(conn, event, "archived", 1)


@handles("world_restored")
def _world_restored(conn: sqlite3.Connection, event: Event) -> None:
    _set_world(conn, event, "archived", 0)


# --- personas -------------------------------------------------------------------------


def persona(conn: sqlite3.Connection, world_id: str | None = None) -> dict[str, Any]:
    """Who "you" are in ``world_id``: its own persona, else the global one, else "You".

    ``scope`` says where it comes from: the world id, ``""`` (global) or None (never set).
    """
    scopes = [world_id, GLOBAL_SCOPE] if world_id else [GLOBAL_SCOPE]
    for scope in scopes:
        row = conn.execute(
            "SELECT name, description FROM personas WHERE scope = ?", (scope,)
        ).fetchone()
        if row is not None:
            return {"name": row[0], "description": row[1], "scope": scope}
    return {"name": DEFAULT_USER_NAME, "description": "", "scope": None}


def _refresh_you(conn: sqlite3.Connection, event: Event, world_id: str) -> None:
    who = persona(conn, world_id)
    conn.execute(
        "UPDATE entities SET name = ?, description = ?, last_event_id = ?"
        " WHERE world_id = ? AND id = 'you'",
        (who["name"], who["description"], event.id, world_id),
    )


@handles("persona_set")
def _persona_set(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    scope = p.get("world_id") or GLOBAL_SCOPE
    conn.execute(
        "INSERT INTO personas (scope, name, description, updated_event_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(scope) DO UPDATE SET name = excluded.name,"
        " description = excluded.description, updated_event_id = excluded.updated_event_id",
        (scope, p["name"], p["description"], event.id),
    )
    if scope != GLOBAL_SCOPE:
        _refresh_you(conn, event, scope)
        return
    own = {row[0] for row in conn.execute("SELECT scope FROM personas WHERE scope != ''")}
    for (world_id,) in conn.execute("SELECT id FROM worlds ORDER BY id").fetchall():
        if world_id not in own:
            _refresh_you(conn, event, world_id)


@handles("persona_cleared")
def _persona_cleared(conn: sqlite3.Connection, event: Event) -> None:
    world_id = event.payload["world_id"]
    conn.execute("DELETE FROM personas WHERE scope = ?", (world_id,))
    _refresh_you(conn, event, world_id)


# --- reading ----------------------------------------------------------------------------

_SELECT = "SELECT id, name, scenario, archived, created_event_id, updated_event_id FROM worlds"


def _world_dict(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "name": row[1],
        "scenario": row[2],
        "archived": bool(row[3]),
        "created_event_id": row[4],
        "updated_event_id": row[5],
    }


def get_world(conn: sqlite3.Connection, world_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (world_id,)).fetchone()  # noqa: S608
    return None if row is None else _world_dict(row)


def list_worlds(conn: sqlite3.Connection, *, include_archived: bool = False) -> list[dict[str, Any]]:
    where = "" if include_archived else " WHERE archived = 0"
    rows = conn.execute(f"{_SELECT}{where} ORDER BY created_event_id, id").fetchall()  # noqa: S608
    return [_world_dict(row) for row in rows]


def worlds_by_activity(conn: sqlite3.Connection) -> list[str]:
    """The live (not archived) worlds, the one with the latest activity first.

    A world's activity is the latest of its creation, its chats' creation and their newest
    message (by event id): what a person last worked in, or the world they just made or
    imported a card into. Each chat's newest message is one index lookup (``messages_chat``),
    so this stays cheap with long chats."""
    rows = conn.execute(
        "SELECT w.id, max(w.created_event_id, COALESCE(("
        "  SELECT max(c.created_event_id, COALESCE("
        "    (SELECT max(m.event_id) FROM messages m WHERE m.chat_id = c.id), 0))"
        "  FROM chats c WHERE c.world_id = w.id ORDER BY 1 DESC LIMIT 1), 0)) AS active"
        " FROM worlds w WHERE w.archived = 0 ORDER BY active DESC, w.id"
    ).fetchall()
    return [row[0] for row in rows]


def world_bot_ids(conn: sqlite3.Connection, world_id: str) -> list[str]:
    """The bots that take part in ``world_id`` (retired ones too), in the order they joined."""
    rows = conn.execute(
        "SELECT id FROM entities WHERE world_id = ? AND kind = 'bot' ORDER BY first_event_id, id",
        (world_id,),
    ).fetchall()
    return [row[0] for row in rows]


def world_bot_names(conn: sqlite3.Connection, world_id: str) -> list[str]:
    """The names of the bots that take part in ``world_id``, in the order they joined: a
    reply is cut where a line starts with one of them as a speaker's label (§4.8), present
    in the chat or not (a 1:1 reply of Tobias wrote "- Mara Quinn: Yes, ...")."""
    rows = conn.execute(  # bots first (a few), each looked up by key: a world's entities may be many
        "SELECT b.name FROM bots b CROSS JOIN entities e ON e.world_id = ? AND e.id = b.id"
        " WHERE e.kind = 'bot' ORDER BY e.first_event_id, e.id",
        (world_id,),
    ).fetchall()
    return [row[0] for row in rows]


def bot_worlds(conn: sqlite3.Connection, bot_id: str) -> list[str]:
    """The worlds ``bot_id`` takes part in, in the order it joined them."""
    rows = conn.execute(
        "SELECT world_id FROM entities WHERE id = ? AND kind = 'bot' ORDER BY first_event_id, world_id",
        (bot_id,),
    ).fetchall()
    return [row[0] for row in rows]
