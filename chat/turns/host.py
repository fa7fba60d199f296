"""What the turn worker needs from whoever runs it: the `TurnHost` protocol.

The worker and the world changes after a reply are handed a host instead of
importing the runtime, so ``turns/`` stays below ``runtime/`` (architecture
review §4.3) and can be built with anything that keeps the one-writer rule.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from chat.bus import EventBus
    from chat.config import Settings
    from chat.eventlog.writer import Build, Written
    from chat.llm.base import Backend
    from chat.memory.retrieval import Embedder

T = TypeVar("T")


class TurnHost(Protocol):
    """The runtime as the turn worker sees it: settings, reads, the one writer, the bus."""

    settings: Settings
    embedder: Embedder | None

    @property
    def bus(self) -> EventBus: ...

    def now(self) -> datetime: ...

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def commit(
        self,
        build: Build,
        chat_id: str | None = None,
        *,
        turn_id: str | None = None,
        after: Callable[[sqlite3.Connection], Any] | None = None,
    ) -> Written: ...

    def acquire_backend(self) -> Backend: ...

    async def release_backend(self, backend: Backend) -> None: ...

    def message_view(self, conn: sqlite3.Connection, message_id: str) -> dict[str, Any]: ...

    async def snapshot_check(self) -> None: ...
