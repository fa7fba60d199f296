"""Small pieces of the turn worker's life cycle: its lifecycle events, closing a reply
stream, and telling whether the token limit cut a reply (the backends do not say)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chat.eventlog.log import NewEvent
from chat.state.chats import get_turn

if TYPE_CHECKING:
    from chat.llm.base import Backend

log = logging.getLogger(__name__)

RESTART_REASON = "Kith stopped while this turn was running; retry it"
"""Why a turn failed when Kith stopped under it: shut down while it ran, or found running
after a crash (chat.runtime.recovery). One wording, so the chat shows one reason."""


async def close_stream(stream: Any) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # noqa: BLE001 - closing a broken stream must not hide the real error
            log.debug("closing a reply stream failed", exc_info=True)


def hit_limit(backend: Backend, text: str, pieces: int, max_tokens: int) -> bool:
    """Whether the reply ran into the token limit (the backends do not say why a stream ended)."""
    if pieces >= max_tokens:
        return True
    try:
        return backend.count_tokens(text) >= max_tokens - 2
    except Exception:  # noqa: BLE001 - a counter that fails must not fail the reply
        return False


def lifecycle(kind: str, payload: dict[str, Any], chat_id: str, turn_id: str) -> NewEvent:
    return NewEvent(kind, payload, chat_id=chat_id, turn_id=turn_id, actor="system")


def start_events(conn: Any, turn_id: str, chat_id: str) -> list[NewEvent]:
    turn = get_turn(conn, turn_id)
    if turn is None or turn["status"] != "queued":
        return []
    return [lifecycle("turn_started", {"id": turn_id}, chat_id, turn_id)]


def fail_events(conn: Any, turn_id: str, chat_id: str, payload: dict[str, Any]) -> list[NewEvent]:
    turn = get_turn(conn, turn_id)
    if turn is None or turn["status"] in ("completed", "failed", "reverted"):
        return []
    return [lifecycle("turn_failed", payload, chat_id, turn_id)]
