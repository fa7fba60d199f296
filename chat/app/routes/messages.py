"""Messages (§4.4–§4.5): read, edit, delete, and the alternatives of a reply ("swipes")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from chat.app.context import reader, runtime
from chat.app.schemas import MessageEdit
from chat.state.chats import alternatives

router = APIRouter(prefix="/api", tags=["messages"])

MessageId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/messages/{message_id}")
async def message(request: Request, message_id: MessageId) -> dict[str, Any]:
    return runtime(request).get_message(message_id)


@router.patch("/messages/{message_id}")
async def edit_message(request: Request, message_id: MessageId, body: MessageEdit) -> dict[str, Any]:
    """Replace a message's text (a `message_edited` event)."""
    return await runtime(request).edit_message(message_id, body.text)


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(request: Request, message_id: MessageId) -> Response:
    """Delete a message (a `message_deleted` event; it stays in the log)."""
    await runtime(request).delete_message(message_id)
    return Response(status_code=204)


@router.get("/messages/{message_id}/alternatives")
async def message_alternatives(request: Request, message_id: MessageId) -> list[dict[str, Any]]:
    """Every alternative of this reply, oldest first; `chosen` marks the one that stands."""
    current = runtime(request).get_message(message_id)
    return alternatives(reader(request), current["alt_group"])


@router.post("/messages/{message_id}/choose")
async def choose(request: Request, message_id: MessageId) -> dict[str, Any]:
    """Make this alternative the one that stands."""
    return await runtime(request).choose_alternative(message_id)
