"""The shared world (§5.4): facts and scenes; PUT/DELETE a fact, PUT a chat's scene by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import WorldParam, reader, runtime, scoped_world
from chat.app.schemas import ScenePut, WorldFactPut
from chat.app.writes import edit_one
from chat.errors import NotFound, ValidationFailed
from chat.eventlog.fields import world_key_problem
from chat.state.world import get_fact, list_facts, list_scenes

router = APIRouter(prefix="/api", tags=["world"])

FactKey = Annotated[str, Path(min_length=1, max_length=100)]
ChatId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/world")
async def world(request: Request, world: WorldParam = None) -> dict[str, Any]:
    """`{facts: {key: value}, scenes: [{chat_id, location, present, updated_event_id}],
    world_id}`: the facts of one world and the scenes of its chats."""
    conn = reader(request)
    world_id = scoped_world(request, world)
    scenes = list_scenes(conn, world_id=world_id)
    return {"facts": list_facts(conn, world_id=world_id), "scenes": scenes, "world_id": world_id}


@router.put("/world/{key}")
async def set_world_fact(
    request: Request, key: FactKey, body: WorldFactPut, world: WorldParam = None
) -> dict[str, Any]:
    """Set a fact of the world by hand (creates it when new; pins it). A new key must be a
    short snake_case name (§5.5), else 422 naming `key`; an existing key may be edited. An
    empty value is a 422 naming `value` (the fact stays): `DELETE` removes a fact."""
    world_id = scoped_world(request, world)
    if not body.value.strip():
        raise ValidationFailed(
            f"world fact {key!r} needs a value; to remove the fact, delete it (DELETE /api/world/{key})",
            field="value",
        )
    problem = world_key_problem(key)
    if problem and get_fact(reader(request), key, world_id=world_id) is None:
        raise ValidationFailed(problem, field="key")
    await edit_one(request, "world", key, "value", body.value, world_id=world_id)
    return {"key": key, "value": get_fact(reader(request), key, world_id=world_id)}


@router.delete("/world/{key}")
async def delete_world_fact(request: Request, key: FactKey, world: WorldParam = None) -> dict[str, Any]:
    """Delete a fact; 404 when the world has none by that key."""
    world_id = scoped_world(request, world)
    if get_fact(reader(request), key, world_id=world_id) is None:
        raise NotFound(f"no world fact {key!r}", field="key")
    await edit_one(request, "world", key, "value", None, action="delete", world_id=world_id)
    return {"key": key, "deleted": True}


@router.put("/chats/{chat_id}/scene")
async def set_scene(request: Request, chat_id: ChatId, body: ScenePut) -> dict[str, Any]:
    """Set where the chat takes place and/or who is present (entity ids); what is left out
    stays. Answers the scene `{chat_id, location, present, updated_event_id}`. 404 for an
    unknown chat, 422 for an unknown entity; nothing is appended on error."""
    return await runtime(request).set_scene(chat_id, location=body.location, present=body.present)
