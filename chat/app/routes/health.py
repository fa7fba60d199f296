"""GET /api/health: liveness, log position, backend and how the last start loaded state."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from chat.app.context import context, reader
from chat.eventlog.log import last_event_id
from chat.eventlog.projector import get_cursor

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness and log position: `{status, last_event_id, projected_event_id, backend}`."""
    ctx = context(request)
    conn = reader(request)
    report = ctx.cold_load
    return {
        "status": "ok",
        "last_event_id": last_event_id(conn),
        "projected_event_id": get_cursor(conn),
        "backend": ctx.settings.backend,
        "model": ctx.settings.model,
        "cold_load": None if report is None else asdict(report),
    }
