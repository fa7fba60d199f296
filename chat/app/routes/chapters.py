"""Chapters (§5.7): the summaries of the stretches of a chat that no longer fit a prompt.

Listed per chat (the transcript shows each above its stretch) and edited one at a time:
an edit is a pinning ``manual_edit`` of the chapter's text (§6), which sets every present
bot's copy too; the model never writes over it afterwards.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import found, reader, runtime
from chat.app.schemas import ChapterPatch
from chat.app.writes import edit_fields
from chat.state.chapters import chapter_view, list_chapters

router = APIRouter(prefix="/api", tags=["chapters"])

ChatId = Annotated[str, Path(min_length=1, max_length=128)]
ChapterId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/chats/{chat_id}/chapters")
async def chapters(request: Request, chat_id: ChatId) -> list[dict[str, Any]]:
    """The chat's chapters in transcript order: `{id, chat_id, first_message_id,
    last_message_id, first_event_id, last_event_id, message_count, text, owners, turn_id,
    event_id, created_at, world_id, pinned}`; 404 naming `chat_id` for an unknown chat."""
    runtime(request).get_chat(chat_id)
    return list_chapters(reader(request), chat_id)


def _chapter_or_404(request: Request, chapter_id: str) -> dict[str, Any]:
    return found(chapter_view(reader(request), chapter_id), "chapter", chapter_id, "chapter_id")


@router.get("/chapters/{chapter_id}")
async def chapter(request: Request, chapter_id: ChapterId) -> dict[str, Any]:
    return _chapter_or_404(request, chapter_id)


@router.patch("/chapters/{chapter_id}")
async def edit_chapter(
    request: Request, chapter_id: ChapterId, body: ChapterPatch
) -> dict[str, Any]:
    """Rewrite a chapter by hand `{text}`: a manual edit that pins it (§6.2) and sets each
    bot's copy; 404 naming `chapter_id` when unknown, 422 naming `text` when it is blank or
    too long; nothing is appended then."""
    current = _chapter_or_404(request, chapter_id)
    await edit_fields(request, "chapter", chapter_id, body, world_id=current["world_id"])
    return _chapter_or_404(request, chapter_id)
