"""A person's edits of state (§6): validation before append, projection, and pins.

``prepare_manual_edit`` checks the target, the field and the value against
the current state and returns a ``manual_edit`` payload that holds the new and
the previous value; nothing is appended when it raises. The projection applies
the edit and pins the field, so extraction leaves it alone (§6.2).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from chat.errors import NotFound, ValidationFailed, plain_rule
from chat.eventlog import fields, schemas
from chat.eventlog.fields import world_key_problem
from chat.eventlog.log import Event
from chat.eventlog.projector import handles, register_tables
from chat.eventlog.schemas import DEFAULT_WORLD, BotFields
from chat.state import chapters as chapter_state
from chat.state import edges as edge_state
from chat.state import entities as entity_state
from chat.state import memory as memory_state
from chat.state import world as world_state
from chat.state.worlds import world_of

register_tables("pins", "item_history")

TARGET_TYPES = ("entity", "edge", "memory", "world", "bot", "scene", "chapter")


class _Rule:
    """One editable field: its type from the event schemas, checked strictly (JSON types as
    given: ``true`` or ``"10"`` is not a number), and whether it may be blank."""

    def __init__(self, annotation: Any, *, blank_ok: bool = True) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        self.blank_ok = blank_ok

    def __call__(self, value: Any) -> Any:
        try:
            checked = self.adapter.validate_python(value, strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = " at " + "/".join(str(p)[:40] for p in err["loc"]) if err["loc"] else ""
            raise ValueError(f"{plain_rule(err)}{where}") from None
        if not self.blank_ok and not checked.strip():
            raise ValueError("must not be blank")
        return checked


FIELD_RULES: dict[str, dict[str, _Rule]] = {
    "entity": {
        "name": _Rule(fields.EntityName, blank_ok=False),
        "kind": _Rule(schemas.EntityKind),
        "description": _Rule(schemas.Text),
        "aliases": _Rule(fields.Aliases),
        "facts": _Rule(fields.Facts),
    },
    "edge": {
        "label": _Rule(fields.EdgeLabel, blank_ok=False),
        "affinity": _Rule(fields.Score),
        "trust": _Rule(fields.Score),
        "notes": _Rule(schemas.Text),
    },
    "memory": {
        "text": _Rule(fields.MemoryText, blank_ok=False),
        "importance": _Rule(fields.Importance),
        "kind": _Rule(schemas.MemoryKind),
        "about": _Rule(fields.MemoryAbout),
        "superseded_by": _Rule(fields.OptionalMemoryRef),
    },
    "world": {"value": _Rule(fields.WorldValue, blank_ok=False)},  # a fact is removed by DELETE
    "scene": {"location": _Rule(schemas.ShortText), "present": _Rule(fields.ScenePresent)},
    "chapter": {"text": _Rule(fields.MemoryText, blank_ok=False)},
}
"""The fields a manual edit may set, with the limits the event schemas define (§6.3)."""


def current_value(
    conn: sqlite3.Connection,
    target_type: str,
    target_id: str,
    field: str,
    world_id: str = DEFAULT_WORLD,
) -> Any:
    """The field's value now; raises NotFound when the target does not exist in ``world_id``
    (an item of another world is not found: edits never reach across worlds, §3.5)."""
    if target_type == "entity":
        item = entity_state.get_entity(conn, target_id, world_id=world_id)
    elif target_type == "edge":
        src, _, dst = target_id.partition("/")
        if src == dst:
            raise ValidationFailed(
                f"a relationship joins two different entities, not {src!r} to itself",
                field="target_id",
            )
        item = edge_state.get_edge(conn, src, dst, world_id=world_id)
        if item is None and _entities_exist(conn, src, dst, world_id):
            item = {"label": "knows", "affinity": 0, "trust": 0, "notes": ""}
    elif target_type == "memory":
        item = memory_state.get_world_memory(conn, target_id, world_id)
    elif target_type == "world":
        value = world_state.get_fact(conn, target_id, world_id=world_id)
        item = None if value is None else {"value": value}
    elif target_type == "bot":
        item = entity_state.get_bot(conn, target_id)
    elif target_type == "scene":
        item = world_state.get_scene(conn, target_id)
        if item is not None and item["world_id"] != world_id:
            item = None
    elif target_type == "chapter":
        item = chapter_state.get_chapter(conn, target_id)
        if item is not None and item["world_id"] != world_id:
            item = None
    else:
        raise ValidationFailed(
            f"target_type must be one of {', '.join(TARGET_TYPES)}", field="target_type"
        )
    if item is None:
        where = "" if target_type == "bot" else f" in world {world_id!r}"  # the world looked in
        raise NotFound(f"no {target_type} with id {target_id!r}{where}", field="target_id")
    return item.get(field)


def _entities_exist(
    conn: sqlite3.Connection, src: str, dst: str, world_id: str = DEFAULT_WORLD
) -> bool:
    return bool(src and dst) and all(
        entity_state.get_entity(conn, entity_id, world_id=world_id) is not None
        for entity_id in (src, dst)
    )


def prepare_manual_edit(
    conn: sqlite3.Connection,
    target_type: str,
    target_id: str,
    field: str,
    value: Any = None,
    *,
    action: str = "set",
    world_id: str | None = None,
) -> dict[str, Any]:
    """Validate an edit against current state and return its ``manual_edit`` payload.

    ``world_id`` is the world the edit is made in (None: a scene's chat's world, else
    ``default``); the target must be an item of that world, else NotFound."""
    if target_type == "bot":
        world_id = None  # a bot's fields are its definition, shared by every world it is in
    elif world_id is None:
        scene = world_state.get_scene(conn, target_id) if target_type == "scene" else None
        if target_type == "chapter":
            scene = chapter_state.get_chapter(conn, target_id)
        world_id = scene["world_id"] if scene else DEFAULT_WORLD
    if target_type not in TARGET_TYPES:
        raise ValidationFailed(
            f"target_type must be one of {', '.join(TARGET_TYPES)}", field="target_type"
        )
    if action not in ("set", "delete", "unpin"):
        raise ValidationFailed("action must be set, delete or unpin", field="action")
    if action == "set" and target_type == "world":
        previous = world_state.get_fact(conn, target_id, world_id=world_id)
        if field != "value":
            raise ValidationFailed("a world fact has one field: value", field="field")
        problem = world_key_problem(target_id) if previous is None else None
        if problem:  # a new key follows the rule of §5.5; an existing one stays editable
            raise ValidationFailed(problem, field="target_id")
    else:
        _check_field(target_type, field)
        previous = current_value(conn, target_type, target_id, field, world_id or DEFAULT_WORLD)
    if action == "delete":
        if target_type not in ("memory", "world"):
            raise ValidationFailed(f"a {target_type} cannot be deleted by an edit", field="action")
        value = None
    elif action == "set" and field == "deleted":
        raise ValidationFailed("use action 'delete' to delete a memory", field="action")
    elif action == "set":
        value = _validated_value(target_type, field, value, conn, target_id, world_id or DEFAULT_WORLD)
    else:
        value = previous
    return {
        **({"world_id": world_id} if world_id else {}),
        "target_type": target_type,
        "target_id": target_id,
        "field": field,
        "action": action,
        "value": value,
        "previous": previous,
    }


def _check_field(target_type: str, field: str) -> None:
    known = set(BotFields.model_fields) if target_type == "bot" else set(FIELD_RULES[target_type])
    if target_type == "memory":
        known.add("deleted")
    if field not in known:
        raise ValidationFailed(
            f"unknown {target_type} field {field!r}; editable fields: {', '.join(sorted(known))}",
            field="field",
        )


def _validated_value(
    target_type: str,
    field: str,
    value: Any,
    conn: sqlite3.Connection,
    target_id: str,
    world_id: str = DEFAULT_WORLD,
) -> Any:
    if target_type == "bot":
        bot = entity_state.get_bot(conn, target_id) or {}
        data = {k: bot[k] for k in BotFields.model_fields if k in bot}
        data[field] = value
        try:
            model: BaseModel = BotFields.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValidationFailed(
                f"invalid value for bot.{field}: {plain_rule(err)}", field="value"
            ) from None
        return model.model_dump(mode="json")[field]
    try:
        checked = FIELD_RULES[target_type][field](value)
    except ValueError as exc:
        raise ValidationFailed(f"{target_type}.{field}: {exc}", field="value") from None
    if target_type == "scene" and field == "present":
        # who may be present are the entities of the chat's world (§3.5), not of `default`
        unknown = [e for e in checked if entity_state.get_entity(conn, e, world_id=world_id) is None]
        if unknown:
            raise ValidationFailed(
                f"scene.present: no entity with id {unknown[0]!r} in world {world_id!r}", field="value"
            )
    if field == "superseded_by" and checked is not None:
        memory_state.check_supersedes(conn, target_id, checked)
    return checked


@handles("manual_edit")
def _manual_edit(conn: sqlite3.Connection, event: Event) -> None:
    p = event.payload
    kind, target, field, action = p["target_type"], p["target_id"], p["field"], p["action"]
    # A bot's fields belong to no world (like its history): their pins are kept once, with
    # no world, and shown in every world the bot takes part in (`list_pins`). Edits written
    # before this rule carry world ``default`` (or their chat's); it is ignored for bots.
    world_id = BOT_PIN_WORLD if kind == "bot" else world_of(conn, event)
    if action == "unpin":
        conn.execute(
            "DELETE FROM pins WHERE world_id = ? AND target_type = ? AND target_id = ? AND field = ?",
            (world_id, kind, target, field),
        )
        return
    applied = _apply_edit(conn, event, kind, target, field, action, p["value"], world_id)
    if applied and not (kind == "memory" and action == "delete"):
        conn.execute(
            "INSERT OR REPLACE INTO pins (world_id, target_type, target_id, field, event_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (world_id, kind, target, field, event.id),
        )


def _apply_edit(
    conn: sqlite3.Connection,
    event: Event,
    kind: str,
    target: str,
    field: str,
    action: str,
    value: Any,
    world_id: str = DEFAULT_WORLD,
) -> bool:
    """Apply the edit if its target still exists in the edit's world (it may be gone after
    a rewind)."""
    if kind == "entity":
        if entity_state.get_entity(conn, target, world_id=world_id) is None:
            return False
        entity_state.set_entity_fields(conn, event, target, {field: value}, world_id)
    elif kind == "edge":
        src, _, dst = target.partition("/")
        old = edge_state.get_edge(conn, src, dst, world_id=world_id)
        if old is None:
            if not _entities_exist(conn, src, dst, world_id):
                return False
            old = {"label": "knows", "affinity": 0, "trust": 0, "notes": ""}
        values = {f: old[f] for f in edge_state.EDGE_FIELDS}
        values[field] = value
        edge_state.write_edge(conn, event, src, dst, values, world_id)
    elif kind == "memory":
        if memory_state.get_world_memory(conn, target, world_id) is None:
            return False
        if field == "superseded_by" and value and memory_state.get_memory(conn, value) is None:
            return False  # the newer memory is gone (its turn rewound): this one stays recalled
        if action == "delete":
            memory_state.delete_memory(conn, event, target)
        else:
            memory_state.set_memory_fields(conn, event, target, {field: value})
    elif kind == "world":
        if action == "delete":
            world_state.delete_fact(conn, event, target, world_id)
        else:
            world_state.set_fact(conn, event, target, value, world_id)
    elif kind == "bot":
        if entity_state.get_bot(conn, target) is None:
            return False
        entity_state.apply_bot_changes(conn, event, target, {field: value})
    elif kind == "scene":
        scene = world_state.get_scene(conn, target)
        if scene is None or scene["world_id"] != world_id:
            return False
        world_state.set_scene_fields(conn, event, target, {field: value})
    elif kind == "chapter":
        chapter = chapter_state.get_chapter(conn, target)
        if chapter is None or chapter["world_id"] != world_id:
            return False
        chapter_state.set_chapter_text(conn, event, target, value)
    return True


def is_pinned(
    conn: sqlite3.Connection,
    target_type: str,
    target_id: str,
    field: str,
    *,
    world_id: str = DEFAULT_WORLD,
) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pins WHERE world_id = ? AND target_type = ? AND target_id = ? AND field = ?",
        (world_id, target_type, target_id, field),
    ).fetchone()
    return row is not None


BOT_PIN_WORLD = ""
"""The ``pins.world_id`` of a bot field's pin: it belongs to no one world."""


def list_pins(conn: sqlite3.Connection, *, world_id: str = DEFAULT_WORLD) -> list[dict[str, Any]]:
    """The pinned fields of ``world_id``'s items, and of the bots that take part in it."""
    rows = conn.execute(
        "SELECT target_type, target_id, field, event_id FROM pins WHERE world_id = ?"
        " UNION ALL SELECT target_type, target_id, field, event_id FROM pins"
        " WHERE world_id = ? AND target_type = 'bot' AND target_id IN"
        " (SELECT id FROM entities WHERE world_id = ? AND kind = 'bot')"
        " ORDER BY 1, 2, 3",
        (world_id, BOT_PIN_WORLD, world_id),
    ).fetchall()
    return [dict(zip(("target_type", "target_id", "field", "event_id"), r, strict=True)) for r in rows]


WORLDLESS_TYPES = ("bot", "message")
"""Items that belong to no world: their history is read whatever the world."""


def item_history(
    conn: sqlite3.Connection, target_type: str, target_id: str, *, world_id: str = DEFAULT_WORLD
) -> list[dict[str, Any]]:
    """Who changed this item (model or person), when, and from what to what (§6.4);
    ``source`` says what a change by ``system`` came from (``sentiment``: the tone of the
    user's words), null for set-up (the demo world, an import)."""
    import json

    select = (
        "SELECT h.event_id, h.field, h.old_value, h.new_value, h.actor, h.created_at,"
        " json_extract(e.payload, '$.source') FROM item_history h LEFT JOIN events e ON e.id = h.event_id"
        " WHERE h.target_type = ? AND h.target_id = ?"
    )
    if target_type in WORLDLESS_TYPES:
        rows = conn.execute(select + " ORDER BY h.event_id", (target_type, target_id)).fetchall()
    else:
        rows = conn.execute(
            select + " AND h.world_id = ? ORDER BY h.event_id", (target_type, target_id, world_id)
        ).fetchall()
    return [
        {
            "event_id": r[0],
            "field": r[1],
            "old": None if r[2] is None else json.loads(r[2]),
            "new": None if r[3] is None else json.loads(r[3]),
            "actor": r[4],
            "created_at": r[5],
            "source": r[6] if isinstance(r[6], str) else None,
        }
        for r in rows
    ]
