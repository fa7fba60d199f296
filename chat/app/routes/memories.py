"""What bots remember (§5.3): list by owner, search by words (FTS5, BM25), edit, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from chat.app.context import found, reader, runtime
from chat.app.schemas import MemoryCreate, MemoryPatch
from chat.app.writes import edit_fields, edit_one
from chat.state.memory import get_memory, list_memories, search_memories

router = APIRouter(prefix="/api", tags=["memories"])

MemoryId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/memories")
async def memories(
    request: Request,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    """Memories, newest first, or best match first with `q`; `owner` filters by bot."""
    conn = reader(request)
    if q is not None and q.strip():
        return search_memories(conn, q, owner=owner, limit=limit)
    return list_memories(conn, owner=owner, limit=limit)


@router.post("/memories", status_code=201)
async def add_memory(request: Request, body: MemoryCreate) -> dict[str, Any]:
    """Give a bot a memory by hand (a `memory_added` by the user); 422 names a bad field."""
    return await runtime(request).add_memory(body.model_dump())


@router.get("/memories/{memory_id}")
async def memory(request: Request, memory_id: MemoryId) -> dict[str, Any]:
    return found(get_memory(reader(request), memory_id), "memory", memory_id)


@router.patch("/memories/{memory_id}")
async def edit_memory(request: Request, memory_id: MemoryId, body: MemoryPatch) -> dict[str, Any]:
    """Edit text, importance, kind or about by hand (pins the field)."""
    found(get_memory(reader(request), memory_id), "memory", memory_id)
    await edit_fields(request, "memory", memory_id, body)
    return get_memory(reader(request), memory_id)


@router.delete("/memories/{memory_id}", status_code=204)
async def delete_memory(request: Request, memory_id: MemoryId) -> Response:
    """Forget a memory (a `manual_edit` event; a rewind past it brings it back)."""
    found(get_memory(reader(request), memory_id), "memory", memory_id)
    await edit_one(request, "memory", memory_id, "text", None, action="delete")
    return Response(status_code=204)
