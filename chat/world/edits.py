"""A person's own changes to the world (§5.1, §5.4, §6.1): a chat's scene, new entities.

Like `bots` and `chats`, the ``*_events`` functions run inside the writer's
transaction: they read the current state, refuse with an error naming the field
(nothing is appended then), or return the one event to append, by the user.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.errors import Conflict, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import DEFAULT_WORLD, validate_payload
from chat.state.chapters import get_chapter
from chat.state.entities import entity_taken, get_bot, get_entity
from chat.state.manual_edit import prepare_manual_edit
from chat.state.world import get_scene
from chat.world.chats import require_writable_chat
from chat.world.ids import new_id
from chat.world.slugs import slugify, unique_slug
from chat.world.worlds import require_writable_world

MAX_LOCATION_CHARS = 200
MAX_PRESENT = 100
USER_ENTITY_KINDS = ("person", "place", "thing", "group", "other")
"""Kinds a person may add: a ``bot`` entity comes with authoring a bot, ``you`` exists."""
ENTITY_FIELDS = ("id", "name", "kind", "description", "aliases", "facts")
EDITED_ITEMS = {"entity": "entities", "edge": "relationships", "memory": "memories",
                "world": "world facts", "chapter": "chapters"}  # fmt: skip
"""What an archived world's refusal says is read-only, by the edited item's type."""


def scene_events(
    conn: sqlite3.Connection,
    chat_id: str,
    *,
    location: str | None = None,
    present: list[str] | None = None,
) -> list[NewEvent]:
    """One pinning ``manual_edit`` per scene field that changes (§6.1–§6.2); none when nothing does.

    NotFound for an unknown chat; ValidationFailed for a location over 200 characters
    or ``present`` naming an entity that does not exist.
    """
    chat = require_writable_chat(conn, chat_id)
    world_id = chat.get("world_id") or "default"
    if location is None and present is None:
        raise ValidationFailed("give location, present or both", field="body")
    current = get_scene(conn, chat_id) or {"location": "", "present": []}
    payload: dict[str, Any] = {"chat_id": chat_id}
    if location is not None:
        if not isinstance(location, str):
            raise ValidationFailed("location must be a string", field="location")
        location = location.strip()
        if len(location) > MAX_LOCATION_CHARS:
            raise ValidationFailed(
                f"location is {len(location)} characters; the limit is {MAX_LOCATION_CHARS}",
                field="location",
            )
        if location != current["location"]:
            payload["location"] = location
    if present is not None:
        if not isinstance(present, list) or not all(isinstance(p, str) for p in present):
            raise ValidationFailed("present must be a list of entity ids", field="present")
        ids = list(dict.fromkeys(present))
        if len(ids) > MAX_PRESENT:
            raise ValidationFailed(f"present may name at most {MAX_PRESENT} entities", field="present")
        unknown = [e for e in ids if get_entity(conn, e, world_id=world_id) is None]
        if unknown:
            names = ", ".join(repr(entity_id) for entity_id in unknown[:5])
            raise ValidationFailed(f"present: no entity with id {names} in world {world_id!r}", field="present")
        if ids != current["present"]:
            payload["present"] = ids
    return [
        NewEvent(
            "manual_edit",
            prepare_manual_edit(conn, "scene", chat_id, field, payload[field], world_id=world_id),
            chat_id=chat_id,
            actor="user",
        )
        for field in ("location", "present")
        if field in payload
    ]


def entity_events(
    conn: sqlite3.Connection, fields: dict[str, Any], world_id: str = "default"
) -> list[NewEvent]:
    """``entity_added`` in ``world_id`` for a person, place, thing or group the user describes.

    The id is a slug of the name, made unique (``-2``, ``-3``...) when taken; an ``id``
    given explicitly that is taken is a Conflict. ValidationFailed names a bad field.
    """
    require_writable_world(conn, world_id, "entities")
    if not isinstance(fields, dict):
        raise ValidationFailed("an entity must be a JSON object", field="body")
    unknown = sorted(set(fields) - set(ENTITY_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown entity field(s): {', '.join(unknown)}", field=unknown[0])
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("an entity needs a name", field="name")
    kind = fields.get("kind")
    if kind not in USER_ENTITY_KINDS:
        hint = " (a bot's entity is made by authoring the bot)" if kind == "bot" else ""
        raise ValidationFailed(
            f"kind must be one of {', '.join(USER_ENTITY_KINDS)}, not {kind!r}{hint}", field="kind"
        )
    aliases = fields.get("aliases")
    if isinstance(aliases, list):
        aliases = [a.strip() if isinstance(a, str) else a for a in aliases]
        aliases = [a for a in aliases if a != ""]
    entity_id = fields.get("id")
    explicit = entity_id not in (None, "")
    if not explicit:
        entity_id = unique_slug(conn, slugify(name))
    payload = {
        "id": entity_id,
        "kind": kind,
        "name": name.strip(),
        "description": fields.get("description") or "",
        "aliases": aliases if aliases is not None else [],
        "facts": fields.get("facts") if fields.get("facts") is not None else {},
        "world_id": world_id,
    }
    payload = validate_payload("entity_added", payload)  # names a bad id, name, alias or fact
    if explicit and (entity_taken(conn, entity_id) or get_bot(conn, entity_id) is not None):
        raise Conflict(f"the id {entity_id!r} is already taken; choose another", field="id")
    return [NewEvent("entity_added", payload, actor="user")]


def _check_kind_change(entity_id: str, payload: dict[str, Any], field: str) -> None:
    """An entity's kind may change among `USER_ENTITY_KINDS` only: ``you`` (the persona) and
    a bot's entity keep theirs, as extraction keeps them (a model's change is dropped), and
    nothing becomes a ``bot`` or ``you`` by an edit. ValidationFailed names ``field``."""
    now, new = payload["previous"], payload["value"]
    if new == now:
        return
    if now in ("you", "bot"):
        whose = "your persona" if now == "you" else "a bot's entity (its kind comes with the bot)"
        raise ValidationFailed(f"kind of {entity_id!r} cannot change: it is {whose}, always {now!r}", field=field)
    if new not in USER_ENTITY_KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(USER_ENTITY_KINDS)}, not {new!r}: a bot's entity comes"
            " with authoring a bot, and 'you' is your persona",
            field=field,
        )


def field_edit_events(
    conn: sqlite3.Connection,
    target_type: str,
    target_id: str,
    changes: dict[str, Any],
    *,
    action: str = "set",
    chat_id: str | None = None,
    name_fields: bool = True,
    world_id: str | None = None,
) -> list[NewEvent]:
    """One pinning ``manual_edit`` per field of ``changes``, all prepared in the caller's
    (the writer's) transaction, so a PATCH of several fields lands whole or not at all.

    A bad value raises ValidationFailed naming the field of the request body: with
    ``name_fields`` the edited field (a PATCH), else ``value`` (a POST /api/edits body);
    NotFound when the target does not exist. Nothing is appended then (§6.3).
    """
    if not changes:
        raise ValidationFailed("nothing to change: give at least one field", field="body")
    if target_type in EDITED_ITEMS:  # a bot is every world's; a scene is its chat's (below)
        require_writable_world(conn, _edited_world(conn, target_type, target_id, world_id), EDITED_ITEMS[target_type])
    events = []
    for field, value in changes.items():
        try:
            payload = prepare_manual_edit(
                conn, target_type, target_id, field, value, action=action, world_id=world_id
            )
        except ValidationFailed as exc:
            named = field if exc.field == "value" and name_fields else exc.field
            raise ValidationFailed(exc.message, field=named) from None
        if target_type == "entity" and field == "kind":
            _check_kind_change(target_id, payload, field if name_fields else "value")
        if target_type == "scene":  # a scene is its chat's: read-only in an archived world
            require_writable_chat(conn, target_id)
        events.append(NewEvent("manual_edit", payload, chat_id=chat_id, actor="user"))
    return events


def _edited_world(conn: sqlite3.Connection, target_type: str, target_id: str, world_id: str | None) -> str:
    """The world an edit is made in, as `prepare_manual_edit` resolves it."""
    if world_id is not None:
        return world_id
    chapter = get_chapter(conn, target_id) if target_type == "chapter" else None
    return chapter["world_id"] if chapter else DEFAULT_WORLD


def memory_events(
    conn: sqlite3.Connection, fields: dict[str, Any], world_id: str = "default"
) -> list[NewEvent]:
    """``memory_added`` in ``world_id`` for a memory a person gives a bot by hand ({owner,
    text, importance?, kind?, about?}); ValidationFailed names a bad field (an owner that is
    no bot of this world, an ``about`` id that is no entity of it, an importance outside 1-10)."""
    require_writable_world(conn, world_id, "memories")
    owner = fields.get("owner")
    if not isinstance(owner, str) or get_bot(conn, owner) is None:
        raise ValidationFailed(f"the memory's owner must be a bot; there is no bot {owner!r}", field="owner")
    if get_entity(conn, owner, world_id=world_id) is None:
        raise ValidationFailed(f"the bot {owner!r} takes no part in this world", field="owner")
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("write what the bot remembers", field="text")
    about = list(dict.fromkeys(fields.get("about") or []))
    unknown = [e for e in about if get_entity(conn, e, world_id=world_id) is None]
    if unknown:
        raise ValidationFailed(f"about: no entity with id {unknown[0]!r}", field="about")
    importance = fields.get("importance", 5)
    if not isinstance(importance, int) or isinstance(importance, bool) or not 1 <= importance <= 10:
        raise ValidationFailed("importance must be a whole number from 1 to 10", field="importance")
    payload = {
        "id": new_id("mem"),
        "owner": owner,
        "text": text.strip(),
        "kind": fields.get("kind") or "observation",
        "importance": importance,
        "about": about,
        "world_id": world_id,
    }
    return [NewEvent("memory_added", validate_payload("memory_added", payload), actor="user")]
