"""GET /api/events: the log, oldest first, with events of reverted turns marked (§4.6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from chat.app.context import reader
from chat.errors import ValidationFailed
from chat.eventlog.log import read_events
from chat.eventlog.projected import shown_reverted
from chat.eventlog.projector import reverted_turns
from chat.eventlog.schemas import SCHEMAS

router = APIRouter(prefix="/api", tags=["events"])

MAX_PAGE = 1000


@router.get("/events/kinds")
async def event_kinds() -> list[str]:
    """Every event kind the log knows, sorted: the Event log page's kind filter is built
    from this, so a new kind shows up there without a hand-kept list."""
    return sorted(SCHEMAS)


@router.get("/events")
async def list_events(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    chat_id: Annotated[str | None, Query(max_length=128)] = None,
    turn_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    """Events with id > `after`, oldest first: `{id, kind, payload, created_at, chat_id, turn_id,
    actor, reverted}`. `reverted` is true for events of turns a rewind reverted; they stay."""
    if kind is not None and kind not in SCHEMAS:
        raise ValidationFailed(
            f"unknown event kind {kind!r}; known kinds: {', '.join(sorted(SCHEMAS))}", field="kind"
        )
    conn = reader(request)
    events = read_events(conn, after=after, limit=limit, kind=kind, chat_id=chat_id, turn_id=turn_id)
    reverted = reverted_turns(conn) if events else set()
    out = []
    for event in events:
        item = event.to_dict()
        item["reverted"] = shown_reverted(event.kind, event.turn_id, reverted)
        out.append(item)
    return out
