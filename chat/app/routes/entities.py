"""GET/POST /api/entities, GET/PATCH /api/entities/{id}: the world's people, places and things
(§5.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import WorldParam, found, reader, runtime, scoped_world
from chat.app.schemas import EntityCreate, EntityPatch
from chat.app.writes import edit_fields
from chat.state.entities import get_entity, list_entities

router = APIRouter(prefix="/api", tags=["entities"])

EntityId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/entities")
async def entities(request: Request, world: WorldParam = None) -> list[dict[str, Any]]:
    """Every entity of the world: `{id, kind, name, aliases, description, facts,
    first_event_id, last_event_id, world_id}`."""
    return list_entities(reader(request), world_id=scoped_world(request, world))


@router.post("/entities", status_code=201)
async def add_entity(request: Request, body: EntityCreate, world: WorldParam = None) -> dict[str, Any]:
    """Add a person, place, thing, group or other (an `entity_added` by the user). Its id is
    a unique slug of the name unless `id` is given; 409 when a given id is taken, 422 for
    kind `bot` or `you` (bots are authored; `you` exists)."""
    fields = body.model_dump(exclude_none=True)
    return await runtime(request).add_entity(fields, scoped_world(request, world))


@router.get("/entities/{entity_id}")
async def entity(request: Request, entity_id: EntityId, world: WorldParam = None) -> dict[str, Any]:
    world_id = scoped_world(request, world)
    return found(get_entity(reader(request), entity_id, world_id=world_id), "entity", entity_id)


@router.patch("/entities/{entity_id}")
async def edit_entity(
    request: Request, entity_id: EntityId, body: EntityPatch, world: WorldParam = None
) -> dict[str, Any]:
    """Edit fields by hand: one `manual_edit` event per field, which pins it (§6.1–§6.2).
    An entity of another world is a 404."""
    world_id = scoped_world(request, world)
    found(get_entity(reader(request), entity_id, world_id=world_id), "entity", entity_id)
    await edit_fields(request, "entity", entity_id, body, world_id=world_id)
    return get_entity(reader(request), entity_id, world_id=world_id)
