"""The periodic snapshot check after turns (§10.4), kept out of the turns' way.

Writing a snapshot serialises every projection table; much of that holds the GIL
(JSON encoding a whole table is one C call), so a snapshot written while a turn
runs stalls the turn for up to a few hundred milliseconds. So the check runs
after every turn, but a due snapshot is written once no turn has run for
`IDLE_DELAY_S` (people take longer than that to read and type), or at once when
turns never pause and it is overdue twice over (2× the event count or the time).
It is written by a child process (`chat.snapshots.worker`: no GIL shared with the
turns) from its own read transaction, one at a time; a failure is logged and
never fails a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat.snapshots import api as snapshots

if TYPE_CHECKING:
    from chat.config import Settings

log = logging.getLogger(__name__)

IDLE_DELAY_S = 0.5
POLL_S = 0.1


class PeriodicSnapshots:
    """Decides when the periodic snapshot is written; `Runtime` owns one."""

    def __init__(
        self,
        *,
        read: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]],
        take: Callable[[], Awaitable[Path]],
        settings: Callable[[], Settings],
        clock: Callable[[], datetime],
        busy: Callable[[], bool],
        activity: Callable[[], int],
        idle_delay_s: float = IDLE_DELAY_S,
    ) -> None:
        """``read`` runs a function on a reader; ``take`` writes one periodic snapshot;
        ``settings`` and ``clock`` are read at each check, so a settings change applies."""
        self._read = read
        self._take = take
        self._settings = settings
        self._clock = clock
        self.busy = busy
        self.activity = activity
        self.idle_delay_s = idle_delay_s
        self.task: asyncio.Task[None] | None = None
        self._now = asyncio.Event()

    def check(self) -> None:
        """Called after every turn: start (or keep) the background check."""
        if self.task is not None and not self.task.done():
            return
        self._now = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="periodic-snapshot")

    async def settle(self) -> None:
        """Write a due snapshot now instead of waiting for idle time, and wait for it."""
        while self.task is not None and not self.task.done():
            self._now.set()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _due(self, factor: int) -> bool:
        settings = self._settings()
        every_events = settings.snapshot_every_events * factor
        every = timedelta(minutes=settings.snapshot_every_minutes * factor)
        data_dir, clock = settings.data_dir, self._clock
        return await self._read(
            lambda conn: snapshots.should_take_periodic_snapshot(
                conn, data_dir, clock=clock, every_events=every_events, every=every
            )
        )

    async def _run(self) -> None:
        try:
            if not await self._due(1):
                return
            loop = asyncio.get_running_loop()
            last = self.activity()
            idle_since = loop.time()
            while not self._now.is_set():
                if self.busy() or self.activity() != last:
                    last, idle_since = self.activity(), loop.time()
                    if await self._due(2):
                        break  # turns never pause: write it anyway, overdue twice over
                elif loop.time() - idle_since >= self.idle_delay_s:
                    break
                await self._wait(min(POLL_S, self.idle_delay_s))
            await self._take()
        except Exception:  # noqa: BLE001 - a failed snapshot must never fail a turn
            log.exception("periodic snapshot failed")

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._now.wait(), seconds)
