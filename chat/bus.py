"""In-process publish/subscribe of what the runtime does, for server-sent events.

Publishing never blocks the turn worker: each subscriber has its own bounded
queue, and a subscriber too slow to keep up loses its oldest items (and is told
so with a ``lagged`` event) rather than holding back every other client.
Publish and subscribe from the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

EVENT_TYPES = ("token", "message", "turn", "state", "lagged")
DEFAULT_QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One published item: ``type`` is token, message, turn, state (or lagged)."""

    type: str
    data: dict[str, Any]
    chat_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "chat_id": self.chat_id, "data": self.data}


@dataclass(eq=False)
class Subscription:
    """An async iterator of `BusEvent`s; use as ``async with bus.subscribe(...) as sub``."""

    bus: EventBus
    chat_id: str | None
    queue: asyncio.Queue[BusEvent] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE_SIZE))
    closed: bool = False

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEvent]:
        while not self.closed:
            item = await self.queue.get()
            if self.closed:
                return
            yield item

    async def get(self, timeout: float | None = None) -> BusEvent:
        """The next event (TimeoutError after ``timeout`` seconds)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self.bus._remove(self)
        self.closed = True

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _offer(self, event: BusEvent) -> None:
        if self.chat_id is not None and event.chat_id not in (None, self.chat_id):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            dropped = 0
            while not self.queue.empty() and dropped < 100:
                self.queue.get_nowait()
                dropped += 1
            self.queue.put_nowait(BusEvent("lagged", {"dropped": dropped}, self.chat_id))
            self.queue.put_nowait(event)


class EventBus:
    """Fan-out of runtime events to every subscriber (all chats, or one chat)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._taps: list[Callable[[BusEvent], None]] = []

    def tap(self, fn: Callable[[BusEvent], None]) -> Callable[[], None]:
        """Call ``fn`` with every event as it is published (the server's own watchers; not a
        client subscription, so `subscriber_count` leaves it out). Returns the untap."""
        self._taps.append(fn)
        return lambda: self._taps.remove(fn) if fn in self._taps else None

    def subscribe(self, chat_id: str | None = None) -> Subscription:
        """A new subscription: events of ``chat_id`` (and global ones), or of every chat."""
        sub = Subscription(self, chat_id)
        self._subscribers.append(sub)
        return sub

    def publish(self, type: str, data: dict[str, Any], chat_id: str | None = None) -> None:
        event = BusEvent(type, data, chat_id)
        for fn in list(self._taps):
            fn(event)
        for sub in list(self._subscribers):
            sub._offer(event)

    def close(self) -> None:
        """End every subscription (at stop): iterators finish after what they hold."""
        for sub in list(self._subscribers):
            sub.closed = True
            if not sub.queue.full():  # wake a waiting iterator so it can finish
                sub.queue.put_nowait(BusEvent("closed", {}, sub.chat_id))
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
