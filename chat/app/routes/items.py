"""Manual-edit helpers for the UI: any item's change history (§6.4) and the pinned fields (§6.2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request

from chat.app.context import WorldParam, reader, scoped_world
from chat.errors import NotFound
from chat.state.chapters import get_chapter
from chat.state.manual_edit import item_history, list_pins

router = APIRouter(prefix="/api", tags=["edits"])

ItemType = Literal["entity", "edge", "memory", "world", "bot", "message", "scene", "chapter"]


@router.get("/items/{target_type}/{target_id:path}/history")
async def history(
    request: Request,
    target_type: ItemType,
    target_id: Annotated[str, Path(min_length=1, max_length=200)],
    world: WorldParam = None,
) -> list[dict[str, Any]]:
    """Who changed this item (`actor`: model, user or system), when, from what to what.
    An edge's id is `src/dst`. Unknown items have an empty history. Items of a world are
    read in that world (`?world=`); bots and messages belong to none."""
    if target_type in ("bot", "message"):
        return item_history(reader(request), target_type, target_id)
    chat_id = target_id if target_type == "scene" and world is None else None
    if target_type == "chapter" and world is None:  # read in its chat's world
        chapter = get_chapter(reader(request), target_id)
        chat_id = chapter["chat_id"] if chapter else None
    try:
        world_id = scoped_world(request, world, chat_id)
    except NotFound:
        if world is not None:
            raise
        return []  # an unknown chat's scene has no history
    return item_history(reader(request), target_type, target_id, world_id=world_id)


@router.get("/pins")
async def pins(request: Request, world: WorldParam = None) -> list[dict[str, Any]]:
    """Fields of the world a person set by hand; extraction leaves them alone until unpinned."""
    return list_pins(reader(request), world_id=scoped_world(request, world))
