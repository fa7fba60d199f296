"""Bots (§3): list, author, read, revise, retire; character card import and export (§3.4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from pydantic import ValidationError

from chat.app.context import WorldParam, reader, runtime
from chat.app.schemas import BotCreate, BotPatch, set_fields
from chat.cards import MAX_CARD_BYTES, export_card, parse_card
from chat.errors import PayloadTooLarge, ValidationFailed
from chat.eventlog.schemas import BotFields
from chat.state.worlds import world_bot_ids
from chat.world.card_import import matching_bot

router = APIRouter(prefix="/api", tags=["bots"])

BotId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/bots")
async def bots(
    request: Request, include_retired: Annotated[bool, Query()] = False, world: WorldParam = None
) -> list[dict[str, Any]]:
    """Every bot (retired ones with `include_retired=true`); with `?world=`, the bots that
    take part in that world."""
    rt = runtime(request)
    listed = rt.list_bots(include_retired=include_retired)
    if world is None:
        return listed
    rt.get_world(world, field="world")
    members = set(world_bot_ids(reader(request), world))
    return [bot for bot in listed if bot["id"] in members]


@router.post("/bots", status_code=201)
async def author_bot(request: Request, body: BotCreate) -> dict[str, Any]:
    """Author a bot; its id is made from the name when not given. 409 when the id is taken."""
    fields = body.model_dump(mode="json")
    world_id = fields.pop("world_id", None)
    if fields.get("id") is None:
        fields.pop("id", None)
    return await runtime(request).author_bot(fields, world_id)


@router.post("/bots/import", status_code=201)
async def import_card(
    request: Request,
    file: Annotated[UploadFile, File(description="a card: JSON or PNG")],
    on_conflict: Annotated[Literal["update", "copy"] | None, Query()] = None,
    world: WorldParam = None,
) -> dict[str, Any]:
    """Import a Character Card V1/V2/V3 (JSON or PNG) from the multipart field `file`.
    Send the header `X-Kith-Request: 1` with it. A bad card is a 4xx and appends nothing.

    A card whose name matches an existing bot is refused with 409 (`error.bot` names the
    bot) unless `on_conflict` says `update` (revise that bot from the card) or `copy`.
    A new bot gets a new world named after it (the card's scenario is that world's), or
    joins `?world=ID`; the answer's `world_id` says which."""
    data = await file.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:
        raise PayloadTooLarge(f"a card file may be at most {MAX_CARD_BYTES} bytes", field="file")
    if not data:
        raise ValidationFailed("the card file is empty", field="file")
    payload = parse_card(data, filename=file.filename)
    payload.pop("id", None)
    return await runtime(request).import_bot(payload, world, on_conflict or "ask")


@router.post("/bots/import/check")
async def check_card(
    request: Request, file: Annotated[UploadFile, File(description="a card: JSON or PNG")]
) -> dict[str, Any]:
    """Read a card without importing it: `{name, matches}`, where `matches` is the bot
    (`{id, name}`) a plain import would refuse with 409, or null. The UI asks first."""
    data = await file.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:
        raise PayloadTooLarge(f"a card file may be at most {MAX_CARD_BYTES} bytes", field="file")
    if not data:
        raise ValidationFailed("the card file is empty", field="file")
    payload = parse_card(data, filename=file.filename)
    match = await runtime(request).read(lambda conn: matching_bot(conn, payload))
    return {"name": payload["name"], "matches": {"id": match["id"], "name": match["name"]} if match else None}


@router.get("/bots/{bot_id}")
async def bot(request: Request, bot_id: BotId) -> dict[str, Any]:
    return runtime(request).get_bot(bot_id)


@router.patch("/bots/{bot_id}")
async def revise_bot(request: Request, bot_id: BotId, body: BotPatch) -> dict[str, Any]:
    """Revise fields (a `bot_revised` event); fields left out keep their value. `lore` is
    the card's own character book: like every field of the character it changes in every
    world the bot takes part in (its book there is replaced); to edit one world's lore only,
    use `PUT /api/lore?world=ID&bot=ID`."""
    rt = runtime(request)
    current = rt.get_bot(bot_id)
    changes = set_fields(body)
    if not changes:
        raise ValidationFailed("nothing to change: give at least one field", field="body")
    merged = {k: current[k] for k in BotFields.model_fields if k in current}
    merged.update(changes)
    try:
        valid = BotFields.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise ValidationFailed(f"{field}: {err['msg']}", field=field) from None
    return await rt.revise_bot(bot_id, {k: valid[k] for k in changes})


@router.delete("/bots/{bot_id}", status_code=204)
async def retire_bot(request: Request, bot_id: BotId) -> Response:
    """Retire a bot; its history stays. 404 when unknown or already retired."""
    await runtime(request).retire_bot(bot_id)
    return Response(status_code=204)


@router.get(
    "/bots/{bot_id}/card",
    responses={200: {"content": {"application/json": {}, "image/png": {}}}},
)
async def export_bot_card(
    request: Request,
    bot_id: BotId,
    format: Literal["v2", "v3", "png"] = "v2",
    world: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The bot as a character card: V2 or V3 JSON, or a PNG holding both. Its character book
    is the bot's lore in `?world=ID` (404 naming `world` or `bot` when unknown or the bot
    takes no part there), by default in the world it was imported into (its first)."""
    bot = runtime(request).bot_card(bot_id, world)
    data, media_type, filename = export_card(bot, format)
    disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(data, media_type=media_type, headers={"content-disposition": disposition})
