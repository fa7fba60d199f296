"""GET/POST /api/entities, GET/PATCH /api/entities/{id}: the world's people, places and things
(§5.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import found, reader, runtime
from chat.app.schemas import EntityCreate, EntityPatch
from chat.app.writes import edit_fields
from chat.state.entities import get_entity, list_entities

router = APIRouter(prefix="/api", tags=["entities"])

EntityId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/entities")
async def entities(request: Request) -> list[dict[str, Any]]:
    """Every entity: `{id, kind, name, aliases, description, facts, first_event_id, last_event_id}`."""
    return list_entities(reader(request))


@router.post("/entities", status_code=201)
async def add_entity(request: Request, body: EntityCreate) -> dict[str, Any]:
    """Add a person, place, thing, group or other (an `entity_added` by the user). Its id is
    a unique slug of the name unless `id` is given; 409 when a given id is taken, 422 for
    kind `bot` or `you` (bots are authored; `you` exists)."""
    fields = body.model_dump(exclude_none=True)
    return await runtime(request).add_entity(fields)


@router.get("/entities/{entity_id}")
async def entity(request: Request, entity_id: EntityId) -> dict[str, Any]:
    return found(get_entity(reader(request), entity_id), "entity", entity_id)


@router.patch("/entities/{entity_id}")
async def edit_entity(request: Request, entity_id: EntityId, body: EntityPatch) -> dict[str, Any]:
    """Edit fields by hand: one `manual_edit` event per field, which pins it (§6.1–§6.2)."""
    found(get_entity(reader(request), entity_id), "entity", entity_id)
    await edit_fields(request, "entity", entity_id, body)
    return get_entity(reader(request), entity_id)
