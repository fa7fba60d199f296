"""Chat files (§11.5): import a SillyTavern chat, export a chat as SillyTavern JSONL or text."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile

from chat.app.context import runtime
from chat.cards import MAX_CARD_BYTES
from chat.errors import PayloadTooLarge, ValidationFailed
from chat.runtime.chat_io import export_chat, import_st_chat
from chat.world.st_chat import MAX_CHAT_FILE_BYTES

router = APIRouter(prefix="/api", tags=["chats"])

ChatId = Annotated[str, Path(min_length=1, max_length=128)]


async def _read(upload: UploadFile, limit: int, what: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"a {what} may be at most {limit:,} bytes", field=what.replace(" ", "_"))
    return data


@router.post("/chats/import", status_code=201)
async def import_chat(
    request: Request,
    file: Annotated[UploadFile, File(description="a SillyTavern chat (.jsonl)")],
    bot_id: Annotated[list[str] | None, Form(description="the bot(s) it is with")] = None,
    title: Annotated[str | None, Form(max_length=200)] = None,
    card: Annotated[UploadFile | None, File(description="the character's card, imported with it")] = None,
) -> dict[str, Any]:
    """Import a SillyTavern chat file as a new chat: `{id, title, bot_ids, messages}`.

    Its messages go to `bot_id` (repeat for a group), else to the bot named in the file's
    header, else to the bot made from `card`; in a group chat, a line whose `name` is another
    bot of that world goes to that bot, and the chat is with it too. Swipes become
    alternatives; dates are kept.
    A bad file is a 4xx naming the line, and nothing is appended."""
    data = await _read(file, MAX_CHAT_FILE_BYTES, "file")
    if not data.strip():
        raise ValidationFailed("the chat file is empty", field="file")
    card_data = await _read(card, MAX_CARD_BYTES, "card") if card is not None else None
    if card_data is not None and bot_id:
        raise ValidationFailed("give either bot_id or card, not both", field="bot_id")
    return await import_st_chat(
        runtime(request), data, bot_ids=bot_id or None, title=title or None,
        card=card_data or None, card_name=card.filename if card is not None else None,
    )


@router.get(
    "/chats/{chat_id}/export",
    responses={200: {"content": {"application/jsonl": {}, "text/plain": {}}}},
)
async def export(request: Request, chat_id: ChatId, format: Literal["st", "txt"] = "st") -> Response:
    """The chat as a SillyTavern chat file (`st`: the shown alternative, the others as
    swipes) or as plain text (`txt`)."""
    body, media_type, filename = await export_chat(runtime(request), chat_id, format)
    disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(body, media_type=media_type, headers={"content-disposition": disposition})
