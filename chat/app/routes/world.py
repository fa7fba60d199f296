"""The shared world (§5.4): facts and scenes; PUT/DELETE a fact, PUT a chat's scene by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import reader, runtime
from chat.app.schemas import ScenePut, WorldFactPut
from chat.app.writes import edit_one
from chat.errors import NotFound
from chat.state.world import get_fact, list_facts, list_scenes

router = APIRouter(prefix="/api", tags=["world"])

FactKey = Annotated[str, Path(min_length=1, max_length=100)]
ChatId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/world")
async def world(request: Request) -> dict[str, Any]:
    """`{facts: {key: value}, scenes: [{chat_id, location, present, updated_event_id}]}`."""
    conn = reader(request)
    return {"facts": list_facts(conn), "scenes": list_scenes(conn)}


@router.put("/world/{key}")
async def set_world_fact(request: Request, key: FactKey, body: WorldFactPut) -> dict[str, Any]:
    """Set a fact by hand (creates it when new; pins it)."""
    await edit_one(request, "world", key, "value", body.value)
    return {"key": key, "value": get_fact(reader(request), key)}


@router.delete("/world/{key}")
async def delete_world_fact(request: Request, key: FactKey) -> dict[str, Any]:
    """Delete a fact; 404 when there is none."""
    if get_fact(reader(request), key) is None:
        raise NotFound(f"no world fact {key!r}", field="key")
    await edit_one(request, "world", key, "value", None, action="delete")
    return {"key": key, "deleted": True}


@router.put("/chats/{chat_id}/scene")
async def set_scene(request: Request, chat_id: ChatId, body: ScenePut) -> dict[str, Any]:
    """Set where the chat takes place and/or who is present (entity ids); what is left out
    stays. Answers the scene `{chat_id, location, present, updated_event_id}`. 404 for an
    unknown chat, 422 for an unknown entity; nothing is appended on error."""
    return await runtime(request).set_scene(chat_id, location=body.location, present=body.present)
