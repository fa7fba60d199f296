"""What a turn does to the world after its replies: extraction (§5.5) and reflection (§5.6).

Both ask the turn's backend for structured output and trust none of it (see
`extraction` and `reflection`); the events they return are appended by the worker
in the same commit as ``turn_completed``, so a turn's world changes land all at
once or not at all. A regenerate changes no state: it only adds an alternative.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat.errors import KithError
from chat.eventlog.log import NewEvent
from chat.memory import extraction as extract
from chat.memory import reflection as reflect
from chat.memory import review, sentiment
from chat.memory.extraction_request import Fit
from chat.state.world import get_scene
from chat.turns.plan import TurnPlan
from chat.turns.speakers import named_in

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.turns.host import TurnHost

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The user pressed stop while the model was working out the turn's world changes."""


async def ask(backend: Backend, request: Any, cancel: asyncio.Event) -> Any:
    """``complete_json``, abandoned as soon as the user presses stop."""
    answer = asyncio.ensure_future(backend.complete_json(request))
    stopped = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({answer, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        answer.cancel()
        raise
    finally:
        stopped.cancel()
    if not answer.done():
        answer.cancel()
        raise Stopped
    return answer.result()


async def world_changes(
    rt: TurnHost,
    backend: Backend,
    plan: TurnPlan,
    replies: list[tuple[dict[str, Any], str]],
    cancel: asyncio.Event,
    alongside: Callable[[Any], None] | None = None,
) -> list[NewEvent]:
    """Extraction and reflection events; appended with ``turn_completed`` by the caller.

    Stop pressed meanwhile ends the wait at once, and the turn keeps its replies
    with no world changes (as when stop comes between the replies of a group turn).
    ``alongside(conn)`` runs first in the read of extraction's request, for the caller
    (the chapter's read: one hop to a reader thread less); not at all when the turn
    changes no state (a regenerate, stop pressed, no reply).
    """
    try:
        return await _world_changes(rt, backend, plan, replies, cancel, alongside)
    except Stopped:
        log.info("turn %s stopped while its world changes were worked out", plan.turn_id)
        return []


async def _world_changes(
    rt: TurnHost,
    backend: Backend,
    plan: TurnPlan,
    replies: list[tuple[dict[str, Any], str]],
    cancel: asyncio.Event,
    alongside: Callable[[Any], None] | None,
) -> list[NewEvent]:
    """Extraction and reflection events; appended with ``turn_completed`` by the caller."""
    chat_id, turn_id = plan.chat["id"], plan.turn_id
    world_id = plan.chat.get("world_id") or "default"
    if cancel.is_set() or not replies or plan.kind == "regenerate":
        return []
    events: list[NewEvent] = []
    settings = rt.settings
    threshold = settings.reflection_threshold

    def reflection_due(conn: Any, pending: dict[str, int]) -> list[dict[str, Any]]:
        return [
            b for b in plan.bots
            if reflect.needs_reflection(
                conn, b["id"], threshold=threshold, pending=pending.get(b["id"], 0), world_id=world_id
            )
        ]  # fmt: skip

    def extraction_request(conn: Any) -> Any:
        if alongside is not None:
            alongside(conn)
        if not settings.extraction_enabled or not _extraction_due(
            conn, chat_id, settings.extraction_every_n_turns
        ):
            return None
        return extract.extraction_request(
            conn, chat_id=chat_id, bots=plan.bots, user_name=plan.user_name,
            user_text=plan.user_text, replies=replies,
            fit=Fit(backend.cached_count_tokens, backend.context_length()),
        )  # fmt: skip

    request = await rt.read(extraction_request)
    due: list[dict[str, Any]] | None = None
    if request is not None:
        try:
            proposal = await ask(backend, request, cancel)

            held = review.review_on(settings.extraction_review, backend.name)

            def check(conn: Any) -> tuple[extract.Extraction, list[dict[str, Any]], set[str]]:
                result = extract.check_proposal(
                    conn, proposal, chat_id=chat_id, turn_id=turn_id, bots=plan.bots  # type: ignore[arg-type]
                )
                waiting = review.waiting_changes(conn, chat_id) if held else set()
                return result, reflection_due(conn, result.importance), waiting

            result, due, waiting = await rt.read(check)
            if held:
                events.extend(review.hold_for_review(result.events, waiting))  # the user decides (§5.5)
                due = None  # held memories count once accepted, not now
            else:
                events.extend(result.events)
        except KithError as exc:
            log.warning("extraction for turn %s failed: %s", turn_id, exc.message)
            events.append(extract.failed_extraction(chat_id, turn_id, exc.message))
    if settings.sentiment_nudges and plan.user_text and any(sentiment.nudge(sentiment.tone(plan.user_text))):
        answered = [bot["id"] for bot, _ in replies]
        listeners = await rt.read(lambda conn: addressed(conn, plan, answered))
        events.extend(
            sentiment.sentiment_events(
                user_text=plan.user_text, bot_ids=listeners,
                chat_id=chat_id, turn_id=turn_id, used=sentiment.spent(events),
            )
        )  # fmt: skip
    if due is None:
        due = await rt.read(lambda conn: reflection_due(conn, {}))
    if not due or cancel.is_set():
        return [] if cancel.is_set() else events
    return events + await _reflect(rt, backend, plan, due, events, cancel)

async def _reflect(
    rt: TurnHost,
    backend: Backend,
    plan: TurnPlan,
    due: list[dict[str, Any]],
    extracted: list[NewEvent],
    cancel: asyncio.Event,
) -> list[NewEvent]:
    """Reflection events for each bot that is due, appended in the same commit as the
    extraction before them (their memories count as already remembered)."""
    chat_id, turn_id = plan.chat["id"], plan.turn_id
    world_id = plan.chat.get("world_id") or "default"
    fresh = [e.payload for e in extracted if e.kind == "memory_added"]
    new_entities = {e.payload["id"] for e in extracted if e.kind == "entity_added"}
    sources = await rt.read(
        lambda conn: {b["id"]: reflect.source_memories(conn, b["id"], world_id=world_id) for b in due}
    )
    proposals = []
    events: list[NewEvent] = []
    for bot in due:
        memories = sources[bot["id"]] + [m["text"] for m in fresh if m["owner"] == bot["id"]]
        request = reflect.reflection_request(bot, memories[-reflect.SOURCE_MEMORIES :])
        try:
            proposals.append((bot, await ask(backend, request, cancel)))
        except KithError as exc:
            log.warning("reflection of %s failed: %s", bot["id"], exc.message)
            events.append(extract.failed_extraction(chat_id, turn_id, f"reflection: {exc.message}"))
    if proposals:
        events.extend(
            await rt.read(
                lambda conn: [
                    event
                    for bot, proposal in proposals
                    for event in reflect.reflection_events(
                        conn, proposal, bot_id=bot["id"], chat_id=chat_id,  # type: ignore[arg-type]
                        turn_id=turn_id, known=new_entities,
                    )
                ]
            )
        )
    return events


def _extraction_due(conn: Any, chat_id: str, every: int) -> bool:
    """Every ``every``-th answered turn of the chat (this one included) is extracted."""
    if every <= 1:
        return True  # every turn (the default): no need to count the chat's turns
    row = conn.execute(
        "SELECT COUNT(*) FROM turns WHERE chat_id = ? AND status = 'completed' AND kind != 'regenerate'",
        (chat_id,),
    ).fetchone()
    return (int(row[0]) + 1) % max(every, 1) == 0


def addressed(conn: Any, plan: TurnPlan, answered: list[str]) -> list[str]:
    """Whom the user's words were said to, for the tone nudge (§5.2): when the message names
    bots of the chat, those of them present in the scene (an absent one heard nothing,
    §5.3.1); else every bot that answered. "Isolde, you are a liar" in a group must not
    cool Mara because she answered too."""
    named = [bot for bot in plan.bots if named_in(plan.user_text, bot) is not None]
    if not named:
        return answered
    scene = get_scene(conn, plan.chat["id"])
    return [bot["id"] for bot in named if scene is None or bot["id"] in scene["present"]]
