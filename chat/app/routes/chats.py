"""Chats (§4): list, create, read with its scene, transcript, post, regenerate, rewind, stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from chat.app.context import WorldParam, context, reader, runtime
from chat.app.schemas import ChatCreate, MessagePost, Rewind
from chat.app.sse import sse_stream
from chat.llm.embeddings import takes_drafts
from chat.state.chats import last_turn
from chat.state.world import get_scene
from chat.world.chats import transcript_page

router = APIRouter(prefix="/api", tags=["chats"])

ChatId = Annotated[str, Path(min_length=1, max_length=128)]
PAGE = 100
MAX_PAGE = 100_000


@router.get("/chats")
async def chats(request: Request, world: WorldParam = None) -> list[dict[str, Any]]:
    """Every chat, newest first: `{id, title, bot_ids, created_at, world_id}`; with `?world=`
    only that world's chats."""
    rt = runtime(request)
    if world is not None:
        rt.get_world(world, field="world")
    return rt.list_chats(world)


@router.post("/chats", status_code=201)
async def create_chat(request: Request, body: ChatCreate) -> dict[str, Any]:
    """Create a chat with `bot_ids` in `world_id` (default: the only world); each bot's
    kickoff prose becomes its first message, and a bot new to the world joins it."""
    return await runtime(request).create_chat(body.bot_ids, body.title, body.world_id)


@router.get("/chats/{chat_id}")
async def chat(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """The chat with its scene (`location`, `present`) and `last_turn`: the turn queued most
    recently (a retry counts) that a rewind has not reverted, shaped as GET /api/turns/{id},
    or null. The UI shows a failed one with its reason and Retry after a reload, whatever
    its kind (a failed regenerate leaves no message that would point at it)."""
    item = dict(runtime(request).get_chat(chat_id))
    conn = reader(request)
    item["scene"] = get_scene(conn, chat_id)
    item["last_turn"] = last_turn(conn, chat_id)
    return item


@router.get("/chats/{chat_id}/messages")
async def messages(
    request: Request,
    chat_id: ChatId,
    include_hidden: Annotated[bool, Query()] = False,
    before: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> list[dict[str, Any]]:
    """The transcript, oldest first: `{id, chat_id, author, text, created_at, turn_id, ...}`:
    the newest `limit` messages (100 by default), or those before the message `before`.
    `include_hidden=true` adds deleted messages and alternatives not chosen."""
    return await runtime(request).read(
        lambda conn: transcript_page(conn, chat_id, include_hidden=include_hidden, before=before, limit=limit)
    )


@router.post("/chats/{chat_id}/messages", status_code=202)
async def post_message(request: Request, chat_id: ChatId, body: MessagePost) -> dict[str, Any]:
    """Post a message: it is stored before any model call; the replies come by the stream.
    Answers `{message, turn_id}`."""
    message, turn_id = await runtime(request).post_message(chat_id, body.text)
    return {"message": message, "turn_id": turn_id}


@router.post("/chats/{chat_id}/draft")
async def draft(request: Request, chat_id: ChatId, body: MessagePost) -> dict[str, bool]:
    """What the composer holds when typing pauses, embedded now so that the message sent as
    drafted is recalled without embedding its query when it is sent. Nothing is stored.
    `{embedding}`: whether it was started (only with an embedder on this machine, while no
    turn runs); `{drafts}`: whether this server takes drafts at all (no: stop sending)."""
    rt = runtime(request)
    return {"embedding": rt.draft(chat_id, body.text), "drafts": takes_drafts(rt.embedder)}


@router.post("/chats/{chat_id}/regenerate", status_code=202)
async def regenerate(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """A new alternative for the last bot reply (a turn); 409 when there is none."""
    return {"turn_id": await runtime(request).regenerate(chat_id)}


@router.post("/chats/{chat_id}/respond", status_code=202)
async def respond(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """A reply to the conversation as it stands, without a new message (§4.9); 409 while a
    turn runs or when the chat is empty."""
    return {"turn_id": await runtime(request).respond(chat_id)}


@router.post("/chats/{chat_id}/continue", status_code=202)
async def continue_reply(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """Extend the last bot reply (§4.9): the longer text is a new alternative of it; 409
    when the last message is yours."""
    return {"turn_id": await runtime(request).continue_reply(chat_id)}


@router.post("/chats/{chat_id}/rewind")
async def rewind(request: Request, chat_id: ChatId, body: Rewind) -> dict[str, Any]:
    """Revert every turn from `before_message_id` on; the world is as it was before them."""
    reverted = await runtime(request).rewind(chat_id, body.before_message_id)
    return {"reverted_turn_ids": reverted}


@router.get(
    "/chats/{chat_id}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(request: Request, chat_id: ChatId) -> StreamingResponse:
    """Server-sent events of this chat: `token`, `message`, `turn`, `state` (each a JSON
    `data:` line), keep-alive comments when idle; ends when the client disconnects."""
    rt = runtime(request)
    rt.get_chat(chat_id)
    subscription = rt.bus.subscribe(chat_id)
    keepalive = context(request).keepalive_s

    async def receive_next() -> tuple[str, Any]:
        event = await subscription.get()
        return event.type, event.data

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in sse_stream(receive_next, keepalive_s=keepalive):
                yield chunk
        finally:
            subscription.close()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
