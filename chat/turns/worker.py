"""The turn worker (§4.2–§4.3, §4.7): one turn at a time per chat, chats in parallel.

Each chat with work has one asyncio task that takes its queued turns in order.
A turn: ``turn_started``; speakers chosen; for each, the prompt is assembled,
the reply streams to subscribers through the stop-sequence trimmer, and the
finished reply is appended with its ``prompt_recorded``; then extraction and
reflection; ``turn_completed`` (in the same commit as extraction when no
reflection is due). Any failure ends the turn ``failed`` with a readable
reason, keeping the user's message; a reply cut off mid-stream is never stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from chat.errors import BackendError, EmptyReply, GenerationCancelled, KithError
from chat.eventlog.log import NewEvent
from chat.llm.types import ReplyRequest
from chat.memory.pin_guard import drop_newly_pinned
from chat.memory.retrieval import Weights
from chat.state.chats import get_turn
from chat.turns.chapters import ChapterDue, chapter_changes
from chat.turns.effects import world_changes
from chat.turns.lifecycle import (
    RESTART_REASON,
    close_stream,
    fail_events,
    hit_limit,
    lifecycle,
    start_events,
)
from chat.turns.phases import SUMMARISING, UPDATING_MEMORIES, WRITING, Phases
from chat.turns.plan import TurnPlan, plan_turn, prepare_prompt, stored_replies
from chat.turns.prompt import Prompt
from chat.turns.prompt_record import compact_record
from chat.turns.queues import TurnQueues
from chat.turns.stops import StopTrimmer, finish_at_sentence
from chat.world.ids import new_id

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.turns.host import TurnHost

log = logging.getLogger(__name__)
# A tiny model sometimes stops at once: sample once more before failing the turn.
EMPTY_REPLY_ATTEMPTS = 2

STOPPED_BY_USER = "stopped by the user"


class TurnWorker(TurnQueues):
    """Queues and runs turns for a `TurnHost` (the runtime owns one)."""

    def __init__(self, host: TurnHost) -> None:
        super().__init__()
        self.rt = host
        self._backends: dict[str, Backend] = {}
        """Each running turn's backend, taken as it starts (see `backend_slot`)."""
        self.phases = Phases()
        """What each running turn is doing (§4.3), published with its `turn` events."""

    # --- one turn ---------------------------------------------------------------------

    async def run_turn(self, chat_id: str, turn_id: str) -> None:
        rt = self.rt
        cancel = asyncio.Event()
        self.running[turn_id] = cancel
        self._finished[turn_id] = asyncio.Event()
        self._backends[turn_id] = backend = rt.acquire_backend()
        stored: list[str] = []
        try:
            if self._turns.get(turn_id) is None:  # else started with its message (`claim`)
                started = await rt.commit(
                    lambda conn: start_events(conn, turn_id, chat_id), chat_id, turn_id=turn_id
                )
                if not started.ids:
                    return  # cancelled or reverted while it waited
                self._turns[turn_id] = started.turn
            pending = self.pending

            def planned(conn: Any) -> tuple[TurnPlan, Prompt | None] | None:
                if (get_turn(conn, turn_id) or {}).get("status") != "running":
                    return None  # reverted meanwhile (a turn started with its message)
                plan = plan_turn(conn, turn_id, pending=pending, max_replies=rt.settings.max_replies_per_turn)
                # the first speaker's prompt in the same read: one hop to a reader thread less
                return plan, (self._prompt(conn, plan, plan.speakers[0]) if plan.speakers else None)

            found = await rt.read(planned)
            if found is None:
                return
            plan, first = found
            stored = list(plan.done_message_ids)
            skipped: dict[str, str] = {}
            replies = await self._speak(plan, cancel, stored, skipped, first)
            if cancel.is_set() and not stored:
                raise GenerationCancelled(STOPPED_BY_USER)
            if not stored:
                if skipped:  # nobody replied: the turn fails, saying why (§4.2)
                    raise EmptyReply("; ".join(skipped.values()))
                raise BackendError("no bot could answer this message")
            earlier = (  # only a retried turn has replies of its own stored already
                await rt.read(lambda conn: stored_replies(conn, plan)) if plan.done_message_ids else []
            )
            if plan.kind != "regenerate" and not cancel.is_set():
                await self._phase(plan, UPDATING_MEMORIES)
            chapter = ChapterDue(backend, plan)  # read with extraction's request
            finish = await world_changes(rt, backend, plan, earlier + replies, cancel, chapter.read)
            finish += await chapter_changes(  # §5.7: what the prompts left out, summarised
                rt, backend, plan, cancel, lambda: self._phase(plan, SUMMARISING), chapter
            )
            done = {"id": turn_id, "message_ids": stored, "skipped": skipped}
            finish.append(lifecycle("turn_completed", done, chat_id, turn_id))
            await rt.commit(lambda conn: drop_newly_pinned(conn, finish), chat_id, turn_id=turn_id)
        except (GenerationCancelled, asyncio.CancelledError) as exc:
            reason = STOPPED_BY_USER if not self._closing else RESTART_REASON
            await self._fail(chat_id, turn_id, reason, cancelled=True)
            if isinstance(exc, asyncio.CancelledError):
                raise
        except KithError as exc:
            await self._fail(chat_id, turn_id, exc.message)
        except Exception as exc:  # noqa: BLE001 - reported on the turn, logged in full
            log.exception("turn %s failed", turn_id)
            await self._fail(chat_id, turn_id, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.running.pop(turn_id, None)
            self.phases.end(turn_id)
            done = self._finished.pop(turn_id, None)
            if done is not None:
                done.set()
            self._turn_chat.pop(turn_id, None)
            self._turns.pop(turn_id, None)
            self._backends.pop(turn_id, None)
            await rt.release_backend(backend)
        await rt.snapshot_check()  # a due periodic snapshot holds this turn's end (§10.4)

    async def _phase(self, plan: TurnPlan, phase: str, bot_id: str | None = None) -> None:
        """Move the turn to ``phase`` and publish it, so clients say what it is doing."""
        fields = self.phases.set(plan.turn_id, phase, self.rt.now(), bot_id)
        turn = self._turns.get(plan.turn_id)  # as this worker's latest commit left it
        if turn is None:
            turn = await self.rt.read(lambda conn: get_turn(conn, plan.turn_id))
        if turn is not None and turn["status"] == "running":
            self.rt.bus.publish("turn", {**turn, **fields}, plan.chat["id"])

    async def _fail(self, chat_id: str, turn_id: str, reason: str, *, cancelled: bool = False) -> None:
        payload = {"id": turn_id, "reason": reason[:2000] or "failed", "cancelled": cancelled}
        try:
            await self.rt.commit(
                lambda conn: fail_events(conn, turn_id, chat_id, payload), chat_id, turn_id=turn_id
            )
        except Exception:  # noqa: BLE001 - the log keeps it queued/running; the next start recovers it
            log.exception("could not record the failure of turn %s", turn_id)

    def _prompt(self, conn: Any, plan: TurnPlan, bot: dict[str, Any]) -> Prompt:
        rt = self.rt
        return prepare_prompt(
            conn,
            plan,
            bot,
            backend=self._backends[plan.turn_id],
            now=rt.now(),
            top_k=rt.settings.memory_top_k,
            reply_tokens=rt.settings.reply_max_tokens,
            embedder=rt.embedder,
            weights=Weights.from_settings(rt.settings),
        )

    async def _speak(
        self,
        plan: TurnPlan,
        cancel: asyncio.Event,
        stored: list[str],
        skipped: dict[str, str],
        first: Prompt | None = None,
    ) -> list[tuple[dict[str, Any], str]]:
        """Each speaker's reply, streamed and stored in turn; stops early when cancelled.
        ``first``: the first speaker's prompt, built with the plan.

        A speaker whose reply comes back empty twice is skipped (added to ``skipped``) and
        the next one speaks: a group turn fails only when nobody replied (§4.2).
        """
        rt = self.rt
        replies: list[tuple[dict[str, Any], str]] = []
        for index, bot in enumerate(plan.speakers):
            if cancel.is_set():
                break
            await self._phase(plan, WRITING, bot["id"])
            if index == 0 and first is not None:
                prompt = first
            else:
                prompt = await rt.read(lambda conn, bot=bot: self._prompt(conn, plan, bot))
            # What the transcript's cut left out is due for a chapter (§5.7); a message the bot
            # did not witness is out of its prompt but was not cut, so the cut is the window's
            # start when nothing was cut, else the first message the prompt still shows.
            window = plan.history if prompt.dropped_messages == 0 else prompt.shown
            kept = [m["event_id"] for m in window if m.get("event_id")]
            if kept:
                plan.cuts.append(min(kept))
            message_id = new_id("msg")
            request = ReplyRequest(
                messages=prompt.messages,
                bot_id=bot["id"],
                bot_name=bot["name"],
                user_name=plan.user_name,
                user_text=plan.user_text,
                max_tokens=rt.settings.reply_max_tokens,
                stop=prompt.stop,
            )
            try:
                text, stopped = await self._stream(plan, bot, message_id, request, prompt.stop, cancel)
            except GenerationCancelled:
                if stored:
                    break  # keep what the others said; nothing of this reply had come yet
                raise
            except EmptyReply as exc:
                skipped[bot["id"]] = exc.message
                continue
            payload: dict[str, Any] = {
                "id": message_id,
                "chat_id": plan.chat["id"],
                "author": bot["id"],
                "text": _joined(plan.prefix, text),
                "retrieved_memory_ids": prompt.memory_ids,
            }
            if plan.alt_group:
                payload["alt_group"] = plan.alt_group
            if stopped:
                payload["stopped"] = True  # kept as far as it came, marked stopped (§4.3)
            record = {
                "message_id": message_id,
                "bot_id": bot["id"],
                "purpose": "reply",
                "messages": [m.to_dict() for m in prompt.messages],
                "memory_ids": prompt.memory_ids,
                **({"chapter_ids": prompt.chapter_ids} if prompt.chapter_ids else {}),
                "lore": prompt.lore,
                "token_count": prompt.token_count,
            }
            chat_id, turn_id = plan.chat["id"], plan.turn_id
            sources = list(prompt.shown)  # the bot's witnessed transcript (§5.3.1)

            def events(
                conn: Any, payload: dict = payload, record: dict = record, sources: list = sources,
                chat_id: str = chat_id, turn_id: str = turn_id, quoted: list = prompt.quoted,
            ) -> list[NewEvent]:
                # Compact (§8.4): references to the messages and memories, differences.
                compact = compact_record(
                    conn, record, chat_id=chat_id, history=sources, quoted=quoted, ids_in_message=True
                )
                return [
                    NewEvent("message_posted", payload, chat_id=chat_id, turn_id=turn_id, actor="model"),
                    NewEvent("prompt_recorded", compact, chat_id=chat_id, turn_id=turn_id, actor="system"),
                ]

            written = await rt.commit(
                events,
                chat_id,
                after=lambda conn, mid=message_id, tid=turn_id: (rt.message_view(conn, mid), get_turn(conn, tid)),
            )
            stored.append(message_id)
            message, self._turns[turn_id] = written.extra
            rt.bus.publish("message", message, chat_id)
            replies.append((bot, text))
            plan.history.append(message)
        return replies

    async def _stream(
        self,
        plan: TurnPlan,
        bot: dict[str, Any],
        message_id: str,
        request: ReplyRequest,
        stops: list[str],
        cancel: asyncio.Event,
    ) -> tuple[str, bool]:
        """The bot's reply, streamed, and whether the user stopped it part way; a tiny
        model that stops at once gets one more try."""
        for attempt in range(EMPTY_REPLY_ATTEMPTS):
            text, stopped = await self._stream_once(plan, bot, message_id, request, stops, cancel)
            if text:
                return text, stopped
            log.info("empty reply from %s (attempt %d); sampling again", bot["id"], attempt + 1)
            request = dataclasses.replace(request, temperature=min(1.2, request.temperature + 0.3))
        raise EmptyReply(f"the model gave {bot['name']} an empty reply twice; retry the turn")

    async def _stream_once(
        self,
        plan: TurnPlan,
        bot: dict[str, Any],
        message_id: str,
        request: ReplyRequest,
        stops: list[str],
        cancel: asyncio.Event,
    ) -> tuple[str, bool]:
        """One streamed attempt: the trimmed text, possibly empty, and whether it was stopped.

        Stop keeps what came so far (§4.3); a stop before any text raises `GenerationCancelled`.
        """
        trimmer = StopTrimmer(stops, bot["name"], plan.user_name)
        base = {"turn_id": plan.turn_id, "message_id": message_id, "bot_id": bot["id"]}
        chat_id = plan.chat["id"]
        backend = self._backends[plan.turn_id]
        stream = backend.stream_reply(request, cancel)
        pieces = 0
        try:
            async for piece in stream:
                if cancel.is_set():
                    break
                pieces += 1
                shown = trimmer.feed(piece)
                if shown:
                    self.rt.bus.publish("token", {**base, "text": shown}, chat_id)
                if trimmer.stopped:
                    break
        except GenerationCancelled:
            if not cancel.is_set():
                raise
        finally:
            await close_stream(stream)
        rest = trimmer.finish()
        if rest:
            self.rt.bus.publish("token", {**base, "text": rest}, chat_id)
        if cancel.is_set():
            if not trimmer.reply.strip():
                raise GenerationCancelled(STOPPED_BY_USER)
            return trimmer.reply.strip(), True
        if not trimmer.stopped and hit_limit(backend, trimmer.text, pieces, request.max_tokens):
            return finish_at_sentence(trimmer.reply), False  # the limit cut it: end at a sentence
        return trimmer.reply.strip(), False


def _joined(prefix: str, text: str) -> str:
    """A continued reply: the old text, then the new (a space between unless either side
    already has one); the stored text is capped at the message limit."""
    if not prefix:
        return text
    joiner = "" if prefix[-1:].isspace() or text[:1].isspace() else " "
    return (prefix + joiner + text)[:40_000]
