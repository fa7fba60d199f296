"""A turn's chapter (§5.7): after the replies, summarise what the prompts left out.

The worker notes, for each reply prompt, the first message it kept (``TurnPlan.cuts``).
When the oldest messages before the latest such cut are not yet covered by a chapter
(at least `chapter_writer.MIN_MESSAGES` of them), one model call summarises them and the
``chapter_written`` event is appended with the turn's other world changes, carrying the
turn id. The replies are stored and shown before this starts, so it never delays them;
the turn is in phase ``summarising`` meanwhile, and stop abandons the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chat.errors import KithError
from chat.eventlog.log import NewEvent
from chat.llm.schemas import ChapterProposal
from chat.memory import chapter_writer as writer
from chat.turns.effects import Stopped, ask
from chat.turns.plan import TurnPlan

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.llm.types import JsonRequest
    from chat.turns.host import TurnHost

log = logging.getLogger(__name__)


async def chapter_changes(
    rt: TurnHost,
    backend: Backend,
    plan: TurnPlan,
    cancel: asyncio.Event,
    on_start: Callable[[], Awaitable[None]],
) -> list[NewEvent]:
    """The turn's ``chapter_written`` (or why there is none); [] when nothing is due.

    ``on_start`` is awaited just before the model call (the worker publishes the phase)."""
    if not plan.cuts or cancel.is_set() or plan.kind == "regenerate":
        return []  # a regenerate only adds an alternative; it changes no state
    chat_id, turn_id, cut = plan.chat["id"], plan.turn_id, max(plan.cuts)
    sizes = {
        "count_tokens": backend.cached_count_tokens,
        "context_length": backend.context_length(),
    }

    def due(conn: Any) -> tuple[writer.Stretch, JsonRequest] | None:
        # a new chapter first; else one a message edit made stale; its request in the same read
        stretch = writer.pending_stretch(conn, chat_id, cut, **sizes) or writer.stale_stretch(
            conn, chat_id, **sizes
        )
        return None if stretch is None else (stretch, writer.chapter_request(conn, stretch, user_name=plan.user_name))

    found = await rt.read(due)
    if found is None:
        return []
    stretch, request = found
    await on_start()
    try:
        proposal = await ask(backend, request, cancel)
    except Stopped:
        return []
    except KithError as exc:
        log.warning("chapter for turn %s failed: %s", turn_id, exc.message)
        return [writer.failed_chapter(chat_id, turn_id, exc.message)]
    if not isinstance(proposal, ChapterProposal):
        proposal = ChapterProposal.model_validate(proposal.model_dump())
    return await rt.read(
        lambda conn: writer.chapter_events(conn, proposal, stretch, turn_id=turn_id)
    )
