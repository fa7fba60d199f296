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


class ChapterDue:
    """The read that finds a turn's due chapter and its request. `read` can run alongside
    another read (extraction's request, `effects.world_changes`), one hop to a reader
    thread less a turn; `chapter_changes` reads it itself when that did not happen.
    Read so, the stretch is read before extraction's model call, not after it: a message
    edited during that call is summarised as it was, and the stale-chapter pass
    (`chapter_writer.stale_stretch`) writes it again at the next turn."""

    def __init__(self, backend: Backend, plan: TurnPlan) -> None:
        self.plan = plan
        self.sizes: dict[str, Any] = {}
        if plan.cuts and plan.kind != "regenerate":  # else nothing is read
            self.sizes = {"count_tokens": backend.cached_count_tokens, "context_length": backend.context_length()}
        self.found: tuple[writer.Stretch, JsonRequest] | None = None
        self.done = False

    def read(self, conn: Any) -> None:
        plan = self.plan
        self.found, self.done = None, True
        if not plan.cuts or plan.kind == "regenerate":
            return  # a regenerate only adds an alternative; it changes no state
        chat_id, cut = plan.chat["id"], max(plan.cuts)
        # a new chapter first; else one a message edit made stale; its request in the same read
        stretch = writer.pending_stretch(conn, chat_id, cut, **self.sizes) or writer.stale_stretch(
            conn, chat_id, **self.sizes
        )
        if stretch is not None:
            self.found = (stretch, writer.chapter_request(conn, stretch, user_name=plan.user_name))


async def chapter_changes(
    rt: TurnHost,
    backend: Backend,
    plan: TurnPlan,
    cancel: asyncio.Event,
    on_start: Callable[[], Awaitable[None]],
    due: ChapterDue | None = None,
) -> list[NewEvent]:
    """The turn's ``chapter_written`` (or why there is none); [] when nothing is due.

    ``on_start`` is awaited just before the model call (the worker publishes the phase);
    ``due``: its read, when it ran already alongside another."""
    if not plan.cuts or cancel.is_set() or plan.kind == "regenerate":
        return []  # a regenerate only adds an alternative; it changes no state
    turn_id = plan.turn_id
    if due is None or not due.done:
        due = due or ChapterDue(backend, plan)
        await rt.read(due.read)
    if due.found is None:
        return []
    stretch, request = due.found
    await on_start()
    try:
        proposal = await ask(backend, request, cancel)
    except Stopped:
        return []
    except KithError as exc:
        log.warning("chapter for turn %s failed: %s", turn_id, exc.message)
        return [writer.failed_chapter(plan.chat["id"], turn_id, exc.message)]
    if not isinstance(proposal, ChapterProposal):
        proposal = ChapterProposal.model_validate(proposal.model_dump())
    return await rt.read(
        lambda conn: writer.chapter_events(conn, proposal, stretch, turn_id=turn_id)
    )
