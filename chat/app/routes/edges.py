"""Relationships (§5.2): list, read, edit by hand, and each edge's change history for charts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import reader
from chat.app.schemas import EdgePatch
from chat.app.writes import edit_fields
from chat.errors import NotFound
from chat.state.edges import edge_history, edge_key, get_edge, list_edges
from chat.state.entities import get_entity

router = APIRouter(prefix="/api", tags=["edges"])

EntityId = Annotated[str, Path(min_length=1, max_length=64)]


def _edge_or_404(request: Request, src: str, dst: str) -> dict[str, Any]:
    edge = get_edge(reader(request), src, dst)
    if edge is None:
        raise NotFound(f"no edge from {src!r} to {dst!r}", field="src")
    return edge


@router.get("/edges")
async def edges(request: Request) -> list[dict[str, Any]]:
    """Every edge: `{src, dst, label, affinity, trust, notes, updated_event_id}`."""
    return list_edges(reader(request))


@router.get("/edges/{src}/{dst}")
async def edge(request: Request, src: EntityId, dst: EntityId) -> dict[str, Any]:
    return _edge_or_404(request, src, dst)


@router.patch("/edges/{src}/{dst}")
async def edit_edge(request: Request, src: EntityId, dst: EntityId, body: EdgePatch) -> dict[str, Any]:
    """Set label, affinity, trust or notes by hand (pins them). An edge between two known
    entities that has none yet is created by the edit."""
    conn = reader(request)
    if get_edge(conn, src, dst) is None:
        for name, entity_id in (("src", src), ("dst", dst)):
            if get_entity(conn, entity_id) is None:
                raise NotFound(f"no entity with id {entity_id!r}", field=name)
    await edit_fields(request, "edge", edge_key(src, dst), body)
    return _edge_or_404(request, src, dst)


@router.get("/edges/{src}/{dst}/history")
async def history(request: Request, src: EntityId, dst: EntityId) -> list[dict[str, Any]]:
    """Every value the edge had, oldest first, with the event, time and actor — affinity over
    time."""
    points = edge_history(reader(request), src, dst)
    if not points:
        _edge_or_404(request, src, dst)
    return points
