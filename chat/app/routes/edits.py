"""POST /api/edits: one manual edit of any item (§6.1) — set, delete or unpin a field (§6.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from chat.app.context import scoped_world
from chat.app.schemas import ManualEditRequest
from chat.app.writes import edit_one

router = APIRouter(prefix="/api", tags=["edits"])


@router.post("/edits")
async def manual_edit(request: Request, body: ManualEditRequest) -> dict[str, Any]:
    """`{target_type, target_id, field, value, action}`: the stored `manual_edit` payload with
    its `event_id`. An edge's target_id is `src/dst`. Unknown targets 404, bad values 422."""
    world_id = None if body.target_type == "bot" else scoped_world(request, body.world_id)
    return await edit_one(
        request, body.target_type, body.target_id, body.field, body.value, action=body.action,
        world_id=world_id,
    )  # fmt: skip
