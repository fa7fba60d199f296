"""The periodic snapshot after turns (§10.4): due by event count or by time, taken at once.

The rule: a periodic snapshot is due once the log is `snapshot_every_events` or more
events past the newest periodic snapshot's `last_event_id` (or `snapshot_every_minutes`
have passed since it, with anything new), and it is taken not later than the end of
the turn that crossed the line. So the check runs at the end of every turn, and a due
snapshot starts right then: the turn's task waits until the snapshot's read
transaction has begun (milliseconds: the writer child stays started; at most
`BEGIN_WAIT_S`), so the snapshot holds the state at the end of that turn and the
chat's next turn comes after it. Writing the file goes on in the background.

A snapshot is written by a child process (`chat.snapshots.worker`: serialising every
table holds a GIL, and not the app's). While one is being written, the position it
holds counts as the newest snapshot, so the next one is due 100 events after it, not
again at once; when turns outrun the writer, two children may write at the same time
(WAL readers do not block each other, names never collide, pruning keeps the newest),
and past two the turns do not wait: the check runs again when one is done.
A failure is logged and never fails a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chat.eventlog.projector import get_cursor
from chat.snapshots import api as snapshots

if TYPE_CHECKING:
    from chat.config import Settings

log = logging.getLogger(__name__)

BEGIN_WAIT_S = 0.25
"""How long a turn waits, at most, for a due snapshot's read to begin when an idle writer
child is there (it begins in milliseconds). With none idle (the first snapshot of a
process, or turns outrunning the writer) the turn does not wait: the snapshot holds
the state of when its child begins."""
MAX_WRITERS = 2
"""Snapshot children writing at once; past that a due check waits for one to finish."""

Reading = Callable[[int], None]
Take = Callable[[Reading], Awaitable[Any]]
"""Writes one periodic snapshot; calls ``reading(last_event_id)`` once its read has begun."""


class PeriodicSnapshots:
    """Decides when the periodic snapshot is written; `Runtime` owns one."""

    def __init__(
        self,
        *,
        read: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]],
        take: Take,
        settings: Callable[[], Settings],
        clock: Callable[[], datetime],
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """``read`` runs a function on a reader; ``take`` writes one periodic snapshot;
        ``settings`` and ``clock`` are read at each check, so a settings change applies;
        ``ready`` says whether a writer is started and idle (its read begins at once)."""
        self._read = read
        self._take = take
        self._settings = settings
        self._clock = clock
        self._ready = ready
        self.tasks: dict[asyncio.Task[None], int | None] = {}
        """Snapshots being written, with the log position each holds (None: not known yet)."""
        self._lock = asyncio.Lock()
        self._again = False
        self._checks: set[asyncio.Task[None]] = set()

    async def after_turn(self) -> None:
        """The check at the end of a turn: when a snapshot is due, start it and return once
        its read has begun. With `MAX_WRITERS` already writing (turns outrun the writer),
        the turn does not wait: the check runs again as soon as one of them is done."""
        async with self._lock:  # one check at a time, so two turns never start two for one due
            try:
                if not await self._due():
                    return
            except Exception:  # noqa: BLE001 - a failed check must never fail a turn
                log.exception("periodic snapshot check failed")
                return
            if len(self.tasks) >= MAX_WRITERS:
                self._again = True
                return
            wait_s = BEGIN_WAIT_S if self._ready() else 0.0  # no idle writer: do not stall turns
            began = asyncio.Event()
            task = asyncio.create_task(self._write(began), name="periodic-snapshot")
            self.tasks[task] = None
            task.add_done_callback(self._done)
            waiter = asyncio.create_task(began.wait())
            await asyncio.wait({waiter, task}, timeout=wait_s, return_when="FIRST_COMPLETED")
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.pop(task, None)
        if self._again:  # a turn found it due while the writers were busy: check now
            self._again = False
            again = asyncio.create_task(self.after_turn(), name="periodic-snapshot-check")
            self._checks.add(again)
            again.add_done_callback(self._checks.discard)

    async def settle(self) -> None:
        """Wait until no snapshot is being written or checked for."""
        while self.tasks or self._checks:
            await asyncio.gather(*self.tasks, *self._checks, return_exceptions=True)

    async def _due(self) -> bool:
        settings = self._settings()
        every_events = settings.snapshot_every_events
        every = timedelta(minutes=settings.snapshot_every_minutes)
        data_dir, clock = settings.data_dir, self._clock
        held = list(self.tasks.values())
        if held:  # one is being written: it is the newest snapshot (unknown yet: wait for it)
            if None in held:
                return False
            cursor = await self._read(get_cursor)
            return cursor - max(p for p in held if p is not None) >= every_events
        return await self._read(
            lambda conn: snapshots.should_take_periodic_snapshot(
                conn, data_dir, clock=clock, every_events=every_events, every=every
            )
        )

    async def _write(self, began: asyncio.Event) -> None:
        task = asyncio.current_task()

        def reading(last_id: int) -> None:
            if task in self.tasks:
                self.tasks[task] = last_id  # type: ignore[index]
            began.set()

        try:
            await self._take(reading)
        except Exception:  # noqa: BLE001 - a failed snapshot must never fail a turn
            log.exception("periodic snapshot failed")
        finally:
            began.set()
