"""GET/POST /api/snapshots and DELETE /api/snapshots/{name} (manual ones only, §10.5).

A snapshot name from the URL only ever reaches the file system through
`find_snapshot`, which accepts a bare snapshot file name and nothing else (§12.3).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response

from chat.app.context import context, runtime
from chat.app.schemas import SnapshotCreate
from chat.snapshots.api import delete_manual_snapshot, find_snapshot, list_snapshots
from chat.snapshots.store import describe

router = APIRouter(prefix="/api", tags=["snapshots"])

SnapshotName = Annotated[str, Path(max_length=200)]


@router.get("/snapshots")
async def snapshots(request: Request) -> list[dict[str, Any]]:
    """Periodic and manual snapshots, newest first: `{name, kind, created_at, last_event_id,
    size_bytes}`."""
    return list_snapshots(context(request).data_dir)


@router.post("/snapshots", status_code=201)
async def create_snapshot(
    request: Request, body: Annotated[SnapshotCreate | None, Body()] = None
) -> dict[str, Any]:
    """Take a manual snapshot (kept until deleted)."""
    path = await runtime(request).take_snapshot("manual")
    return describe(path, "manual")


@router.get("/snapshots/{name}")
async def snapshot(request: Request, name: SnapshotName) -> dict[str, Any]:
    """One snapshot's description; 404 when unknown, 422 when `name` is not a snapshot name."""
    path, kind = find_snapshot(context(request).data_dir, name)
    return describe(path, kind)


@router.delete("/snapshots/{name}", status_code=204)
async def delete_snapshot(request: Request, name: SnapshotName) -> Response:
    """Delete a manual snapshot; periodic ones are pruned by the retention rule instead."""
    delete_manual_snapshot(context(request).data_dir, name)
    return Response(status_code=204)
