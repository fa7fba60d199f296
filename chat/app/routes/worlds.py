"""Worlds (§3.5) and personas (§3.6): list, create, rename, archive, restore; who "you" are."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from chat.app.context import WorldParam, reader, runtime
from chat.app.schemas import PersonaPut, WorldCreate, WorldPatch
from chat.cards import MAX_CARD_BYTES
from chat.errors import PayloadTooLarge, ValidationFailed
from chat.world.worlds import default_world

MAX_WORLD_FILE_BYTES = MAX_CARD_BYTES
"""The upload limit the security middleware applies to both uploads; the CLI has none."""

router = APIRouter(prefix="/api", tags=["worlds"])

WorldId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/worlds")
async def worlds(
    request: Request, include_archived: Annotated[bool, Query()] = False
) -> list[dict[str, Any]]:
    """Every world, oldest first: `{id, name, scenario, archived, created_event_id,
    updated_event_id, default}`; archived ones only with `include_archived=true`. `default`
    marks the world a state request means when it names none and no chat is in question:
    the only world, else the live one with the latest activity (its newest chat message, a
    new chat in it, or its creation)."""
    rt = runtime(request)
    listed = rt.list_worlds(include_archived=include_archived)
    chosen = default_world(reader(request))
    return [{**w, "default": w["id"] == chosen} for w in listed]


@router.post("/worlds", status_code=201)
async def create_world(request: Request, body: WorldCreate) -> dict[str, Any]:
    """A new, empty world; its id is a slug of the name unless given (409 when taken)."""
    return await runtime(request).create_world(body.name, scenario=body.scenario, world_id=body.id)


@router.get("/worlds/{world_id}")
async def world(request: Request, world_id: WorldId) -> dict[str, Any]:
    return runtime(request).get_world(world_id)


@router.patch("/worlds/{world_id}")
async def revise_world(request: Request, world_id: WorldId, body: WorldPatch) -> dict[str, Any]:
    """Rename the world and/or set its scenario."""
    if body.name is None and body.scenario is None:
        raise ValidationFailed("give name, scenario or both", field="body")
    return await runtime(request).revise_world(world_id, name=body.name, scenario=body.scenario)


@router.post("/worlds/{world_id}/archive")
async def archive_world(request: Request, world_id: WorldId) -> dict[str, Any]:
    """Hide the world from the list and the switcher; nothing in it is lost (409 if already)."""
    return await runtime(request).archive_world(world_id, archived=True)


@router.post("/worlds/{world_id}/restore")
async def restore_world(request: Request, world_id: WorldId) -> dict[str, Any]:
    """Bring an archived world back (409 when it is not archived)."""
    return await runtime(request).archive_world(world_id, archived=False)


@router.get("/persona")
async def persona(request: Request, world: WorldParam = None) -> dict[str, Any]:
    """Who "you" are: `{name, description, scope}`; `scope` is the world id when the world
    has its own persona, `""` for the global one, null when none was ever set."""
    return runtime(request).persona(world)


@router.put("/persona")
async def set_persona(request: Request, body: PersonaPut) -> dict[str, Any]:
    """Set your name and description, globally or (with `world_id`) for one world only."""
    return await runtime(request).set_persona(body.name, body.description, world_id=body.world_id)


@router.delete("/worlds/{world_id}/persona")
async def clear_persona(request: Request, world_id: WorldId) -> dict[str, Any]:
    """The world goes back to the global persona (404 when it has none of its own)."""
    return await runtime(request).clear_persona(world_id)


@router.get("/worlds/{world_id}/export", responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_world(request: Request, world_id: WorldId) -> Response:
    """The world as one file (JSON Lines): its events, its bots' definitions, its chats."""
    text = runtime(request).export_world(world_id)
    disposition = f'attachment; filename="{world_id}.kith-world.jsonl"'
    return Response(text, media_type="application/x-ndjson", headers={"content-disposition": disposition})


@router.post("/worlds/import", status_code=201)
async def import_world(
    request: Request, file: Annotated[UploadFile, File(description="a world file")]
) -> dict[str, Any]:
    """Bring in a world file (multipart field `file`): `{world, events}`. 409 when this data
    directory already has the world or one of its chats; a bad file is a 422. Either way
    nothing is appended."""
    data = await file.read(MAX_WORLD_FILE_BYTES + 1)
    if len(data) > MAX_WORLD_FILE_BYTES:
        raise PayloadTooLarge("the world file is too large", field="file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("the world file is not UTF-8 text", field="file") from None
    return await runtime(request).import_world(text)
