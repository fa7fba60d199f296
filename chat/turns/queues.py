"""The turn worker's queues (§4.2, §4.7): one turn at a time per chat, chats in parallel.

Each chat with work has one asyncio task that takes its queued turns in order and runs
each with `run_turn` (the worker's half, chat/turns/worker.py). Kept apart from running
one turn: this part knows which turns wait, run, and have finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

log = logging.getLogger(__name__)


class TurnQueues:
    """Per-chat queues of turn ids and the tasks that run them (`run_turn` is the worker's)."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[str]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, asyncio.Event] = {}
        """Each running turn's cancel flag."""
        self._finished: dict[str, asyncio.Event] = {}
        self._turn_chat: dict[str, str] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._turns: dict[str, dict[str, Any] | None] = {}
        """Each started turn as its latest commit left it (only the worker writes it)."""
        self._claimed: set[str] = set()
        self._closing = False

    async def run_turn(self, chat_id: str, turn_id: str) -> None:
        raise NotImplementedError

    @property
    def pending(self) -> set[str]:
        """Turns queued here that have not started."""
        return {turn for queue in self.queues.values() for turn in queue}

    def claim(self, chat_id: str) -> bool:
        """Whether a message posted to ``chat_id`` now may start its turn in the same commit
        (nothing of the chat queued or running here); the chat is held until `enqueue` or
        `unclaim`. Saves a commit, and its fsync, before the model starts (§10.3 unchanged:
        the turn is durable as queued and started at once)."""
        if self._closing or chat_id in self.tasks or chat_id in self._claimed or self.queues.get(chat_id):
            return False
        self._claimed.add(chat_id)
        return True

    def unclaim(self, chat_id: str) -> None:
        self._claimed.discard(chat_id)

    def enqueue(self, chat_id: str, turn_id: str, started: dict[str, Any] | None = None) -> None:
        """Queue the turn; ``started``: it was started in the commit that queued it (the turn
        as that commit left it), so the worker does not start it again."""
        self._claimed.discard(chat_id)
        if self._closing:
            return  # stays queued (or running) in the log; the next start picks it up
        if started is not None:
            self._turns[turn_id] = started
        self.queues.setdefault(chat_id, deque()).append(turn_id)
        self._turn_chat[turn_id] = chat_id
        if chat_id not in self.tasks:
            self._idle.setdefault(chat_id, asyncio.Event()).clear()
            self.tasks[chat_id] = asyncio.create_task(self._chat_loop(chat_id), name=f"turns-{chat_id}")

    def dequeue(self, turn_id: str) -> bool:
        """Take a turn that has not started out of its queue; True when it was there."""
        chat_id = self._turn_chat.get(turn_id)
        queue = self.queues.get(chat_id or "")
        if queue is None or turn_id not in queue:
            return False
        queue.remove(turn_id)
        self._turns.pop(turn_id, None)
        self._turn_chat.pop(turn_id, None)
        return True

    def turns_of(self, chat_id: str) -> list[str]:
        """The chat's turns that are queued here or running, oldest first."""
        return [turn for turn, chat in self._turn_chat.items() if chat == chat_id]

    def cancel(self, turn_id: str) -> bool:
        """Ask a running turn to stop; False when it is not running here."""
        event = self.running.get(turn_id)
        if event is None:
            return False
        event.set()
        return True

    async def finished(self, turn_id: str) -> None:
        """Return once the turn is no longer running here (at once when it is not)."""
        done = self._finished.get(turn_id)
        if done is not None:
            await done.wait()

    def busy(self, chat_id: str | None = None) -> bool:
        if chat_id is None:
            return bool(self.tasks)
        return chat_id in self.tasks

    async def wait_idle(self, chat_id: str | None = None) -> None:
        while True:
            tasks = list(self.tasks.values()) if chat_id is None else [
                t for c, t in self.tasks.items() if c == chat_id
            ]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking turns; cancel running ones (they end failed) and wait for them."""
        self._closing = True
        for queue in self.queues.values():
            queue.clear()
        for event in self.running.values():
            event.set()
        tasks = list(self.tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _chat_loop(self, chat_id: str) -> None:
        queue = self.queues[chat_id]
        try:
            while queue and not self._closing:
                turn_id = queue.popleft()
                try:
                    await self.run_turn(chat_id, turn_id)
                except Exception:  # noqa: BLE001 - one broken turn must not stop the chat
                    log.exception("turn %s crashed", turn_id)
        finally:
            self.tasks.pop(chat_id, None)
            if not queue:
                self.queues.pop(chat_id, None)
            self._idle.setdefault(chat_id, asyncio.Event()).set()
