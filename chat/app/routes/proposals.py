"""The review tray (§5.5): what extraction proposes waits here when ``extraction_review`` is on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import reader, runtime
from chat.app.schemas import Body
from chat.memory.review import edited_text, pending, review_events, review_on

router = APIRouter(prefix="/api", tags=["review"])

ChatId = Annotated[str, Path(min_length=1, max_length=128)]
ProposalId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/review")
async def review_state(request: Request) -> dict[str, Any]:
    """`{enabled, backend}`: whether proposals wait for review with the backend in use."""
    rt = runtime(request)
    backend = rt.backend.name
    return {"enabled": review_on(rt.settings.extraction_review, backend), "backend": backend}


@router.get("/chats/{chat_id}/proposals")
async def chat_proposals(request: Request, chat_id: ChatId) -> list[dict[str, Any]]:
    """The chat's pending proposals, oldest first: `{id, kind, payload, summary, turn_id, ...}`."""
    return pending(reader(request), chat_id)


class AcceptBody(Body):
    """An optional rewrite of a proposed memory, accepted in place of the model's text."""

    text: Any = None
    """Checked as a memory edit's text is (`review.edited_text`), so the error names ``text``."""


async def _decide(
    request: Request, ids: list[str], decision: str, chat_id: str | None, text: str | None = None
) -> dict[str, Any]:
    rt = runtime(request)
    holder: list[int] = []
    if text is not None:
        text = edited_text(text)  # a bad text is refused before anything is written

    def build(conn: Any) -> list[Any]:
        events = review_events(conn, ids, decision, chat_id=chat_id, text=text)
        holder.append(sum(e.kind == "proposal_reviewed" for e in events))
        return events

    await rt.commit(build, chat_id)
    return {"decision": decision, "count": holder[0] if holder else 0}


@router.post("/proposals/{proposal_id}/accept")
async def accept(request: Request, proposal_id: ProposalId, body: AcceptBody | None = None) -> dict[str, Any]:
    """Apply the proposal: the very event extraction would have appended, with its turn id.
    `{"text": ...}` accepts a proposed memory with the user's text (422 naming `text` when
    it is blank, too long, not a string or the proposal is not a memory; nothing written)."""
    return await _decide(request, [proposal_id], "accepted", None, body.text if body else None)


@router.post("/proposals/{proposal_id}/reject")
async def reject(request: Request, proposal_id: ProposalId) -> dict[str, Any]:
    """Refuse the proposal; the decision is logged, nothing changes. 404 unless pending."""
    return await _decide(request, [proposal_id], "rejected", None)


@router.post("/chats/{chat_id}/proposals/accept")
async def accept_all(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """Accept every pending proposal of the chat."""
    return await _decide(request, [], "accepted", chat_id)


@router.post("/chats/{chat_id}/proposals/reject")
async def reject_all(request: Request, chat_id: ChatId) -> dict[str, Any]:
    """Reject every pending proposal of the chat."""
    return await _decide(request, [], "rejected", chat_id)
