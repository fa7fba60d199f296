"""Turns (§4.2–§4.3, §8.4): status, retry, cancel, and the exact prompts behind the replies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chat.app.context import reader, runtime
from chat.state.memory import get_memory

router = APIRouter(prefix="/api", tags=["turns"])

TurnId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/turns/{turn_id}")
async def turn(request: Request, turn_id: TurnId) -> dict[str, Any]:
    """`{id, chat_id, status, error, message_ids, ...}`; status is queued, running, completed,
    failed or reverted."""
    return runtime(request).get_turn(turn_id)


@router.post("/turns/{turn_id}/retry", status_code=202)
async def retry(request: Request, turn_id: TurnId) -> dict[str, Any]:
    """Queue a failed turn again; 409 unless it failed."""
    return {"turn_id": await runtime(request).retry_turn(turn_id)}


@router.post("/turns/{turn_id}/cancel", status_code=202)
async def cancel(request: Request, turn_id: TurnId) -> dict[str, Any]:
    """Stop a running or queued turn (it ends failed, cancelled); 409 when already finished."""
    current = await runtime(request).cancel_turn(turn_id)
    return {"turn_id": turn_id, **current}


@router.get("/turns/{turn_id}/prompt")
async def prompt(request: Request, turn_id: TurnId) -> list[dict[str, Any]]:
    """The exact prompts the turn sent to the model, oldest first ("why did it say that?").
    Each carries ``recalled``: the memories it recalled (``memory_ids``) as they are now,
    `{id, owner, kind, text, superseded_by}`, or `{id, forgotten: true}` for one deleted
    since, so the page can list them by their words beside the prompt."""
    prompts = runtime(request).get_prompt(turn_id)
    conn = reader(request)
    for record in prompts:
        record["recalled"] = [_recalled(conn, str(memory_id)) for memory_id in record.get("memory_ids") or []]
    return prompts


def _recalled(conn: Any, memory_id: str) -> dict[str, Any]:
    memory = get_memory(conn, memory_id)
    if memory is None:
        return {"id": memory_id, "forgotten": True}
    return {key: memory[key] for key in ("id", "owner", "kind", "text", "superseded_by")}
