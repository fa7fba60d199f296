"""Worlds and personas as a person changes them (§3.5, §3.6): checks, then the events.

Like `bots` and `chats`, the ``*_events`` functions run inside the writer's transaction:
they read the current state, refuse with an error naming the field (nothing is appended
then), or return the events to append. ``resolve_world`` is the one rule for "which world
does this request mean" that the API and the CLI share.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.errors import Conflict, NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import DEFAULT_WORLD, validate_payload
from chat.state.worlds import get_world, list_worlds, persona, worlds_by_activity
from chat.world.slugs import slugify

MAX_WORLD_NAME = 80


def require_world(
    conn: sqlite3.Connection, world_id: str, *, field: str = "world", active: bool = False
) -> dict[str, Any]:
    """The world, or NotFound naming ``field``; with ``active`` an archived one is a Conflict."""
    world = get_world(conn, world_id) if isinstance(world_id, str) else None
    if world is None:
        raise NotFound(f"no world with id {world_id!r}", field=field)
    if active and world["archived"]:
        raise Conflict(f"world {world_id!r} is archived; restore it first", field=field)
    return world


def restore_hint(world: dict[str, Any]) -> str:
    """How to make an archived world writable again, in the words every refusal uses."""
    return (
        f"restore the world to change it (Worlds panel, POST /api/worlds/{world['id']}/restore"
        f" or `kith worlds restore {world['id']}`)"
    )


def require_writable_world(conn: sqlite3.Connection, world_id: str | None, what: str) -> None:
    """Conflict naming ``world`` when ``world_id`` is archived: an archived world is put
    away (§3.5), read and exported, and nothing in it (``what``: "entities", "lore"...)
    changes until it is restored, as its chats (`chats.require_writable_chat`). An unknown
    world is left to the caller's own check."""
    world = get_world(conn, world_id) if isinstance(world_id, str) else None
    if world is not None and world["archived"]:
        raise Conflict(
            f"the world {world['name']!r} is archived, so its {what} are read-only; {restore_hint(world)}",
            field="world",
        )


def resolve_world(
    conn: sqlite3.Connection,
    world_id: str | None = None,
    *,
    chat_id: str | None = None,
    field: str = "world",
    guess: bool = True,
) -> str:
    """The world a request means: the one it names (which must exist, else NotFound naming
    ``field``), else its chat's, else the only world, else `default_world`.

    ``guess=False`` is for requests that create something in the world (a bot): with several
    live worlds and none named, ValidationFailed naming ``field`` and listing the worlds,
    rather than putting it where the person did not mean."""
    if world_id is not None:
        return require_world(conn, world_id, field=field)["id"]
    if chat_id is not None:
        row = conn.execute("SELECT world_id FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise NotFound(f"no chat with id {chat_id!r}", field="chat")
        return row[0]
    if not guess:
        worlds = list_worlds(conn)
        if len(worlds) > 1:
            ids = ", ".join(w["id"] for w in worlds[:20])
            raise ValidationFailed(
                f"there are several worlds ({ids}); say which with {field}", field=field
            )
    return default_world(conn)


def default_world(conn: sqlite3.Connection) -> str:
    """The world meant when none is named and no chat is in question: the only world; with
    several, the live one with the latest activity (its newest chat message, a new chat, or
    its creation; `most_recent_world`), never an archived one while a live one exists; with
    every world archived, the only one or ``default``; with none yet, ``default``."""
    recent = worlds_by_activity(conn)
    if recent:
        return recent[0]
    every = list_worlds(conn, include_archived=True)
    return every[0]["id"] if len(every) == 1 else DEFAULT_WORLD


def unique_world_id(conn: sqlite3.Connection, name: str) -> str:
    base = slugify(name) or "world"
    candidate, counter = base, 1
    while get_world(conn, candidate) is not None:
        counter += 1
        suffix = f"-{counter}"
        candidate = base[: 64 - len(suffix)].rstrip("-") + suffix
    return candidate


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("a world needs a name", field=field)
    if len(value.strip()) > MAX_WORLD_NAME:
        raise ValidationFailed(
            f"name is {len(value.strip())} characters; the limit is {MAX_WORLD_NAME}", field=field
        )
    return value.strip()


def require_free_name(conn: sqlite3.Connection, name: str, *, but: str | None = None) -> None:
    """Conflict naming ``name`` when another world (``but`` aside, archived ones too) has it,
    whatever its case: two worlds of one name cannot be told apart in the switcher."""
    for world in list_worlds(conn, include_archived=True):
        if world["id"] != but and world["name"].casefold() == name.casefold():
            hidden = " (archived)" if world["archived"] else ""
            raise Conflict(f"there is already a world named {world['name']!r}{hidden}, id {world['id']!r};"
                           " choose another name", field="name")


def create_events(
    conn: sqlite3.Connection, name: Any, *, scenario: Any = "", world_id: Any = None, distinct: bool = False
) -> list[NewEvent]:
    """``world_created``; the id is a unique slug of the name unless given (409 when taken).
    ``distinct``: a name another world has is a 409 too (a person naming a world; a card
    import names its world after the character and may repeat one)."""
    name = _name(name)
    if distinct:
        require_free_name(conn, name)
    if scenario is None:
        scenario = ""
    if not isinstance(scenario, str):
        raise ValidationFailed("scenario must be text", field="scenario")
    if world_id in (None, ""):
        world_id = unique_world_id(conn, name)
    elif get_world(conn, str(world_id)) is not None:
        raise Conflict(f"the world id {world_id!r} is already taken; choose another", field="id")
    payload = validate_payload("world_created", {"id": world_id, "name": name, "scenario": scenario})
    return [NewEvent("world_created", payload, actor="user")]


def revise_events(
    conn: sqlite3.Connection, world_id: str, *, name: Any = None, scenario: Any = None
) -> list[NewEvent]:
    """``world_renamed`` and/or ``world_scenario_set`` for what changes; none when nothing does."""
    world = require_world(conn, world_id, field="id")
    if name is None and scenario is None:
        raise ValidationFailed("give name, scenario or both", field="body")
    events: list[NewEvent] = []
    if name is not None and _name(name) != world["name"]:
        require_free_name(conn, _name(name), but=world_id)
        events.append(NewEvent("world_renamed", {"id": world_id, "name": _name(name)}, actor="user"))
    if scenario is not None:
        if not isinstance(scenario, str):
            raise ValidationFailed("scenario must be text", field="scenario")
        if scenario != world["scenario"]:
            payload = validate_payload("world_scenario_set", {"id": world_id, "scenario": scenario})
            events.append(NewEvent("world_scenario_set", payload, actor="user"))
    return events


def archive_events(conn: sqlite3.Connection, world_id: str, *, archived: bool) -> list[NewEvent]:
    """Archive (hide) or restore a world; a Conflict when it already is so."""
    world = require_world(conn, world_id, field="id")
    if world["archived"] == archived:
        state = "archived" if archived else "not archived"
        raise Conflict(f"world {world_id!r} is already {state}", field="id")
    kind = "world_archived" if archived else "world_restored"
    return [NewEvent(kind, {"id": world_id}, actor="user")]


def join_events(conn: sqlite3.Connection, world_id: str, bot_id: str) -> list[NewEvent]:
    """``world_joined`` when the bot is not yet part of the world."""
    row = conn.execute(
        "SELECT 1 FROM entities WHERE world_id = ? AND id = ?", (world_id, bot_id)
    ).fetchone()
    if row is not None:
        return []
    return [NewEvent("world_joined", {"world_id": world_id, "bot_id": bot_id}, actor="user")]


def persona_events(
    conn: sqlite3.Connection, name: Any, description: Any = "", *, world_id: str | None = None
) -> list[NewEvent]:
    """``persona_set``: who "you" are, globally or in one world (§3.6)."""
    if world_id is not None:
        require_world(conn, world_id)
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("your persona needs a name", field="name")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ValidationFailed("description must be text", field="description")
    payload: dict[str, Any] = {"name": name.strip(), "description": description.strip()}
    if world_id is not None:
        payload["world_id"] = world_id
    current = persona(conn, world_id)
    if current["scope"] == (world_id or "") and (current["name"], current["description"]) == (
        payload["name"],
        payload["description"],
    ):
        return []
    return [NewEvent("persona_set", validate_payload("persona_set", payload), actor="user")]


def clear_persona_events(conn: sqlite3.Connection, world_id: str) -> list[NewEvent]:
    """``persona_cleared``: the world uses the global persona again."""
    require_world(conn, world_id)
    if persona(conn, world_id)["scope"] != world_id:
        raise NotFound(f"world {world_id!r} has no persona of its own", field="world")
    return [NewEvent("persona_cleared", {"world_id": world_id}, actor="user")]
