"""A world's lore (§3.5, §8.1, §11.1): read and replace one book of one world.

Each world has its own book (leave `bot` out) and a book per bot that takes part in it (its
card's character book as that world has it, `?bot=ID`). A prompt reads only its chat's
world's books, so an edit here changes no other world.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from chat.app.context import WorldParam, runtime, scoped_world
from chat.app.schemas import LorePut

router = APIRouter(prefix="/api", tags=["lore"])

BotParam = Annotated[
    str | None,
    Query(max_length=64, description="the bot whose book in the world (default: the world's own)"),
]


@router.get("/lore")
async def lore(request: Request, world: WorldParam = None, bot: BotParam = None) -> dict[str, Any]:
    """`{world_id, bot_id, entries}`. 404 naming `world` for an unknown world, naming `bot`
    for an unknown bot or one that takes no part in the world."""
    return runtime(request).lore(scoped_world(request, world), bot)


@router.put("/lore")
async def set_lore(
    request: Request, body: LorePut, world: WorldParam = None, bot: BotParam = None
) -> dict[str, Any]:
    """Replace the book with `{entries: [...]}` (a `lore_set` event; none when unchanged).
    A bad entry is a 422 naming it; nothing is appended on any error."""
    return await runtime(request).set_lore(scoped_world(request, world), bot, body.entries)
