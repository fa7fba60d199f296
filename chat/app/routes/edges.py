"""Relationships (§5.2): list, read, edit by hand, and each edge's change history for charts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import WorldParam, reader, scoped_world
from chat.app.schemas import EdgePatch
from chat.app.writes import edit_fields
from chat.errors import NotFound
from chat.state.edges import edge_history, edge_key, get_edge, list_edges
from chat.state.entities import get_entity

router = APIRouter(prefix="/api", tags=["edges"])

EntityId = Annotated[str, Path(min_length=1, max_length=64)]


def _edge_or_404(request: Request, src: str, dst: str, world_id: str) -> dict[str, Any]:
    edge = get_edge(reader(request), src, dst, world_id=world_id)
    if edge is None:
        raise NotFound(f"no edge from {src!r} to {dst!r}", field="src")
    return edge


@router.get("/edges")
async def edges(request: Request, world: WorldParam = None) -> list[dict[str, Any]]:
    """Every edge of the world: `{src, dst, label, affinity, trust, notes, updated_event_id}`."""
    return list_edges(reader(request), world_id=scoped_world(request, world))


@router.get("/edges/{src}/{dst}")
async def edge(request: Request, src: EntityId, dst: EntityId, world: WorldParam = None) -> dict[str, Any]:
    return _edge_or_404(request, src, dst, scoped_world(request, world))


@router.patch("/edges/{src}/{dst}")
async def edit_edge(
    request: Request, src: EntityId, dst: EntityId, body: EdgePatch, world: WorldParam = None
) -> dict[str, Any]:
    """Set label, affinity, trust or notes by hand (pins them). An edge between two known
    entities of the world that has none yet is created by the edit."""
    conn = reader(request)
    world_id = scoped_world(request, world)
    if get_edge(conn, src, dst, world_id=world_id) is None:
        for name, entity_id in (("src", src), ("dst", dst)):
            if get_entity(conn, entity_id, world_id=world_id) is None:
                raise NotFound(f"no entity with id {entity_id!r} in world {world_id!r}", field=name)
    await edit_fields(request, "edge", edge_key(src, dst), body, world_id=world_id)
    return _edge_or_404(request, src, dst, world_id)


@router.get("/edges/{src}/{dst}/history")
async def history(
    request: Request, src: EntityId, dst: EntityId, world: WorldParam = None
) -> list[dict[str, Any]]:
    """Every value the edge had, oldest first, with the event, time and actor — affinity over
    time."""
    world_id = scoped_world(request, world)
    points = edge_history(reader(request), src, dst, world_id=world_id)
    if not points:
        _edge_or_404(request, src, dst, world_id)
    return points
