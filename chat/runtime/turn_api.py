"""The turn half of the runtime's API (§4.2–§4.7), mixed into `Runtime`.

Posting a message, retrying, stopping, regenerating, choosing alternatives,
editing and deleting messages, and rewinding: each checks and appends inside
one writer transaction (`Runtime.commit`), then hands turns to the worker and
publishes what changed on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chat.bus import EventBus
from chat.errors import Conflict, NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.eventlog.writer import Build
from chat.llm.embeddings import embed_draft_soon, embed_query_soon, takes_drafts
from chat.state import chats as chat_state
from chat.turns.lifecycle import lifecycle
from chat.turns.message_fit import answerers, check_message_fits, fits_by_bytes
from chat.turns.plan import queued_payload, require_someone_present
from chat.turns.prompt_record import record_view
from chat.world import chats as chat_service
from chat.world.ids import new_id

if TYPE_CHECKING:
    from chat.llm.base import Backend
    from chat.turns.host import TurnHost as _Host
    from chat.turns.worker import TurnWorker
else:
    _Host = object

T = TypeVar("T")

STOP_WAIT_S = 10.0
"""How long a stop's answer waits for the turn's end to be committed (`cancel_turn`)."""


class TurnControls(_Host):
    """Turn and message operations; needs the host's writer and reads, the bus and the worker."""

    _worker: TurnWorker
    _bus: EventBus

    if TYPE_CHECKING:

        def _read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

        def get_message(self, message_id: str) -> dict[str, Any]: ...

        @property
        def backend(self) -> Backend: ...

    # --- turns (§4.2–§4.7) --------------------------------------------------------------

    async def post_message(self, chat_id: str, text: str) -> tuple[dict[str, Any], str]:
        """Durably append the user's message and ``turn_queued``, then queue the turn.

        Returns (message, turn_id) before any model call. NotFound, ValidationFailed.
        With an embedder, the message's query vector (the turn's recall query) is started
        first, on its own thread, so the turn finds it computed or under way.
        """
        if not self._read_now(lambda conn: self._check_fits(conn, chat_id, text, count=False)):
            await self.read(lambda conn: self._check_fits(conn, chat_id, text))
        if self.embedder is not None and _postable(text):  # a refused text is never embedded
            embed_query_soon(self.embedder, text)
        message_id, turn_id = new_id("msg"), new_id("turn")
        # An idle chat's turn starts in the message's own commit: one commit (and fsync)
        # less before the model starts. The log tells whether another turn of the chat is
        # waiting (a retry or regenerate whose commit came first); the worker, whether it
        # holds one.
        claimed = self._worker.claim(chat_id)
        started: list[bool] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            require_someone_present(conn, chat_service.require_writable_chat(conn, chat_id))
            checked = chat_service.check_text(text)
            message = {"id": message_id, "chat_id": chat_id, "author": "you", "text": checked}
            queued = {"id": turn_id, "chat_id": chat_id, "kind": "message", "user_message_id": message_id}
            events = [
                NewEvent("message_posted", message, chat_id=chat_id, turn_id=turn_id, actor="user"),
                NewEvent("turn_queued", queued, chat_id=chat_id, turn_id=turn_id, actor="user"),
            ]
            if claimed and not _waiting(conn, chat_id):
                events.append(lifecycle("turn_started", {"id": turn_id}, chat_id, turn_id))
                started.append(True)
            return events

        try:
            written = await self.commit(
                build,
                chat_id,
                after=lambda conn: (self.message_view(conn, message_id), chat_state.get_turn(conn, turn_id)),
            )
        finally:
            self._worker.unclaim(chat_id)
        message, turn = written.extra
        self._bus.publish("message", message, chat_id)
        self._bus.publish("turn", turn, chat_id)
        self._worker.enqueue(chat_id, turn_id, started=turn if started else None)
        return message, turn_id

    def draft(self, chat_id: str, text: str) -> bool:
        """Embed what is being typed in ``chat_id`` (the composer sends it when typing pauses),
        so a message sent as last drafted finds its recall query's vector computed.

        False when nothing is started: no embedder or one that must not see unsent text
        (`takes_drafts`), a turn running anywhere (the model is using the cores), or text
        that could not be posted. NotFound for an unknown chat. Nothing is stored."""
        self.get_chat(chat_id)
        if not takes_drafts(self.embedder) or self._worker.busy() or not _postable(text):
            return False
        embed_draft_soon(self.embedder, chat_id, text)  # type: ignore[arg-type]
        return True

    def get_turn(self, turn_id: str) -> dict[str, Any]:
        """{id, chat_id, kind, status, error, message_ids, user_message_id, created_at}."""
        turn = self._read_now(lambda conn: chat_state.get_turn(conn, turn_id))
        if turn is None:
            raise NotFound(f"no turn with id {turn_id!r}", field="turn_id")
        return {**turn, **self._worker.phases.of(turn_id)} if turn["status"] == "running" else turn

    def get_prompt(self, turn_id: str) -> list[dict[str, Any]]:
        """The ``prompt_recorded`` payloads of the turn (§8.4), oldest first, each with
        ``event_id``. NotFound for an unknown turn."""
        self.get_turn(turn_id)
        rows = self._read_now(
            lambda conn: conn.execute(
                "SELECT id, payload FROM events WHERE kind = 'prompt_recorded' AND turn_id = ?"
                " ORDER BY id",
                (turn_id,),
            ).fetchall()
        )
        def shown(event_id: int, text: str) -> dict[str, Any]:
            payload = json.loads(text)
            return {"event_id": event_id, **self._read_now(lambda conn: record_view(conn, payload, turn_id))}

        return [shown(row[0], row[1]) for row in rows]

    async def publish_turn(self, turn_id: str) -> None:
        turn = await self.read(lambda conn: chat_state.get_turn(conn, turn_id))
        if turn is not None:
            self._bus.publish("turn", turn, turn["chat_id"])

    async def retry_turn(self, turn_id: str) -> str:
        """Queue a failed turn again (same id). Conflict unless it failed."""
        holder: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            turn = chat_state.get_turn(conn, turn_id)
            if turn is None:
                raise NotFound(f"no turn with id {turn_id!r}", field="turn_id")
            if turn["status"] != "failed":
                raise Conflict(f"only a failed turn can be retried; this one is {turn['status']}")
            chat_service.require_someone_active(conn, chat_service.require_writable_chat(conn, turn["chat_id"]))
            previous = queued_payload(conn, turn_id)
            payload = {**previous, "kind": "retry"}
            holder.append(turn["chat_id"])
            return [NewEvent("turn_queued", payload, chat_id=turn["chat_id"], turn_id=turn_id, actor="user")]

        await self.commit(build, turn_id=turn_id)
        self._worker.enqueue(holder[0], turn_id)
        return turn_id

    async def cancel_turn(self, turn_id: str) -> dict[str, Any]:
        """Stop a running or queued turn; it ends failed with ``cancelled`` (or completed with
        the replies stored so far, §4.3). Conflict when it is already finished.

        The answer waits until the turn's end is committed, so an acknowledged stop survives
        a crash (§10.3): answered at once, a kill before the worker wrote the end would run
        the stopped turn again on the next start. A backend that ignores the stop holds the
        answer at most `STOP_WAIT_S`; the turn is returned as it stands then (``running``,
        a ``turn`` event follows)."""
        turn = self.get_turn(turn_id)
        if turn["status"] not in ("queued", "running"):
            raise Conflict(f"the turn is {turn['status']}; only a queued or running turn can be stopped")
        await self._cancel(turn_id, turn["chat_id"], wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._worker.finished(turn_id), STOP_WAIT_S)
        return self.get_turn(turn_id)

    async def _cancel(self, turn_id: str, chat_id: str, *, wait: bool) -> None:
        if self._worker.cancel(turn_id):
            if wait:
                await self._worker.finished(turn_id)
            return
        self._worker.dequeue(turn_id)
        payload = {"id": turn_id, "reason": "stopped by the user before it started", "cancelled": True}

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            turn = chat_state.get_turn(conn, turn_id)
            # "running" too: a turn started with its message (`post_message`) and taken out of
            # the queue above before the worker took it runs nowhere
            if turn is None or turn["status"] not in ("queued", "running"):
                return []
            return [NewEvent("turn_failed", payload, chat_id=chat_id, turn_id=turn_id)]

        await self.commit(build, chat_id, turn_id=turn_id)

    async def regenerate(self, chat_id: str) -> str:
        """Queue a turn that writes a new alternative for the last bot reply (§4.4).

        Conflict when the chat's last message is not a bot reply, or while a turn is queued
        or running there (the reply it would redo may not be the last one by then)."""
        turn_id = new_id("turn")

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            chat_service.require_someone_active(conn, chat_service.require_writable_chat(conn, chat_id))
            _require_idle(conn, chat_id, "regenerate")  # the reply to redo is not the last one yet
            last = chat_state.transcript(conn, chat_id, limit=1)
            if not last or last[0]["author"] == "you":
                raise Conflict("there is no bot reply to regenerate: the last message is yours")
            payload = {
                "id": turn_id,
                "chat_id": chat_id,
                "kind": "regenerate",
                "regenerate_group": last[0]["alt_group"],
            }
            return [NewEvent("turn_queued", payload, chat_id=chat_id, turn_id=turn_id, actor="user")]

        await self.commit(build, chat_id, turn_id=turn_id)
        self._worker.enqueue(chat_id, turn_id)
        return turn_id

    async def respond(self, chat_id: str) -> str:
        """Queue a turn that answers the conversation as it stands, with no new message from
        the user (§4.9: after an edit or a deleted reply). Conflict while a turn runs."""
        return await self._queue_extra(chat_id, "respond")

    async def continue_reply(self, chat_id: str) -> str:
        """Queue a turn that extends the last bot reply (§4.9); the longer text becomes a
        new alternative of it. Conflict when the last message is not a bot reply."""
        return await self._queue_extra(chat_id, "continue")

    async def _queue_extra(self, chat_id: str, kind: str) -> str:
        turn_id = new_id("turn")

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            chat = chat_service.require_writable_chat(conn, chat_id)
            chat_service.require_someone_active(conn, chat)
            if kind == "respond":  # a continue redoes its own bot's reply, present or not
                require_someone_present(conn, chat)
            _require_idle(conn, chat_id, "respond" if kind == "respond" else "continue")
            payload: dict[str, Any] = {"id": turn_id, "chat_id": chat_id, "kind": kind}
            last = chat_state.transcript(conn, chat_id, limit=1)
            if kind == "continue":
                if not last or last[0]["author"] == "you":
                    raise Conflict("there is no bot reply to continue: the last message is yours")
                payload["continue_message_id"] = last[0]["id"]
            elif not last:
                raise Conflict("there is nothing to respond to yet: write a message first")
            return [NewEvent("turn_queued", payload, chat_id=chat_id, turn_id=turn_id, actor="user")]

        await self.commit(build, chat_id, turn_id=turn_id)
        await self.publish_turn(turn_id)
        self._worker.enqueue(chat_id, turn_id)
        return turn_id

    def _check_fits(
        self, conn: sqlite3.Connection, chat_id: str, text: str, *, author: str = "you",
        replacing: str | None = None, count: bool = True,
    ) -> bool:
        """Refuse, before anything is stored, a text no bot of the chat could answer (§8.2):
        the chat's checks first, so their refusals keep their order. Every post runs it:
        first without ``count``, on the event loop (reads and byte lengths only, about
        0.1 ms): True when the byte bound settles it; then, when that returned False, with
        ``count`` off the loop, where the tokenizer may run. `answerers` stands for
        `require_someone_present` except where nobody can answer."""
        if replacing is None:
            chat = chat_service.require_writable_chat(conn, chat_id)
            bots = answerers(conn, chat)
            if not bots:
                require_someone_present(conn, chat)
        else:
            chat = chat_service.require_chat(conn, chat_id)
            bots = answerers(conn, chat)
        checked = chat_service.check_text(text)
        sizes = {"backend": self.backend, "reply_tokens": self.settings.reply_max_tokens}
        if not count:
            return fits_by_bytes(conn, chat, checked, author=author, bots=bots, **sizes)
        check_message_fits(conn, chat, checked, author=author, replacing=replacing, bots=bots, **sizes)
        return True

    async def _message_change(self, build: Build, message_id: str) -> dict[str, Any]:
        chat_id = self._read_now(lambda conn: chat_service.require_message(conn, message_id))["chat_id"]
        await self.commit(build, chat_id)
        message = self.get_message(message_id)
        self._bus.publish("message", message, chat_id)
        return message

    async def choose_alternative(self, message_id: str) -> dict[str, Any]:
        """Make ``message_id`` the standing alternative of its group; return it."""
        return await self._message_change(
            lambda conn: chat_service.choose_events(conn, message_id), message_id
        )

    async def edit_message(self, message_id: str, text: str) -> dict[str, Any]:
        """Append ``message_edited``; return the message. NotFound, ValidationFailed (also
        for the chat's newest message edited into a text too long to be answered,
        `_check_fits`: an older one can only drop out of a prompt, never block a reply)."""

        def check(conn: sqlite3.Connection) -> None:
            message = chat_service.require_message(conn, message_id)
            if message["deleted"]:
                return  # edit_events says it was deleted
            newest = chat_state.recent_messages(conn, message["chat_id"], limit=1)
            if newest and newest[0]["id"] == message_id:
                self._check_fits(conn, message["chat_id"], text, author=message["author"], replacing=message_id)

        await self.read(check)  # an edit is rarer than a post: one read, counting when it must
        return await self._message_change(
            lambda conn: chat_service.edit_events(conn, message_id, text), message_id
        )

    async def delete_message(self, message_id: str) -> None:
        """Append ``message_deleted``. NotFound (also when already deleted)."""
        await self._message_change(lambda conn: chat_service.delete_events(conn, message_id), message_id)

    async def rewind(self, chat_id: str, before_message_id: str) -> list[str]:
        """Revert every turn holding ``before_message_id`` or a later message (§4.6).

        Running and queued turns of the chat are stopped first. Returns the reverted
        turn ids (empty when there is nothing to revert; nothing is appended then)."""

        def check(conn: sqlite3.Connection) -> None:
            chat_service.require_writable_chat(conn, chat_id)
            message = chat_service.require_message(conn, before_message_id)
            if message["chat_id"] != chat_id:
                raise NotFound(
                    f"message {before_message_id!r} is not in chat {chat_id!r}", field="before_message_id"
                )

        self._read_now(check)
        for turn_id in self._worker.turns_of(chat_id):
            await self._cancel(turn_id, chat_id, wait=True)
        await self._worker.wait_idle(chat_id)
        reverted: list[str] = []

        def build(conn: sqlite3.Connection) -> list[NewEvent]:
            chat_service.require_writable_chat(conn, chat_id)  # archived while turns stopped
            message = chat_service.require_message(conn, before_message_id)
            reverted.extend(chat_service.turns_from(conn, chat_id, message))
            if not reverted:
                return []
            payload = {"chat_id": chat_id, "turn_ids": reverted, "before_message_id": before_message_id}
            return [NewEvent("turns_reverted", payload, chat_id=chat_id, actor="user")]

        await self.commit(build, chat_id)
        for turn_id in reverted:
            await self.publish_turn(turn_id)
        return list(reverted)


def _waiting(conn: sqlite3.Connection, chat_id: str) -> bool:
    """Whether a turn of the chat is queued or running."""
    return conn.execute(
        "SELECT 1 FROM turns WHERE chat_id = ? AND status IN ('queued', 'running') LIMIT 1",
        (chat_id,),
    ).fetchone() is not None


def _require_idle(conn: sqlite3.Connection, chat_id: str, verb: str) -> None:
    """Conflict while a turn of the chat is queued or running."""
    if _waiting(conn, chat_id):
        raise Conflict(f"a turn is still queued or running in this chat; wait for it or stop it, then {verb}")


def _postable(text: Any) -> bool:
    """Whether ``text`` passes the message check (the commit still runs it, after the chat's)."""
    try:
        chat_service.check_text(text)
    except ValidationFailed:
        return False
    return True
