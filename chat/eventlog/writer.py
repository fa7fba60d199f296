"""The one writer connection and a pool of readers (§10.1, datasette's execute_write_fn).

Every write runs on a single dedicated thread that owns the writer connection,
so writes are serial without a lock and the event loop never waits on a
commit's fsync. A write appends its events and projects them in the same
``BEGIN IMMEDIATE`` transaction: when it returns, the change is durable and
already visible to every reader; when it raises, nothing was appended.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chat.db.connection import connect, transaction
from chat.eventlog.connection_thread import ConnectionThread
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import CheckpointSource, project
from chat.eventlog.wal import WalCheckpointer

T = TypeVar("T")
Build = Callable[[sqlite3.Connection], list[NewEvent]]


@dataclass(frozen=True)
class Written:
    """What one write appended: the new event ids and their kinds, in order."""

    ids: list[int]
    kinds: list[str]
    extra: Any = None
    """What the ``after`` function of `Writer.commit` returned, read right after the commit."""
    turn: dict[str, Any] | None = None
    """`Runtime.commit` with a ``turn_id``: that turn as the commit left it."""


class Writer:
    """Owns the writer connection; `commit` and `call` run on its thread, one at a time."""

    def __init__(self, path: Path, checkpoints: CheckpointSource | None = None) -> None:
        """``checkpoints`` lets a rewind refold from a snapshot instead of event 1."""
        self._path = path
        self._checkpoints = checkpoints
        self.wal = WalCheckpointer(path)
        """Copies the log back into the database between commits, not inside one."""
        self._thread = ConnectionThread(path, "kith-writer", setup=self.wal.configure_writer)

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the writer thread (for work that must not interleave with writes)."""
        thread = self._thread
        return await asyncio.wrap_future(thread.submit(lambda: fn(thread.connection())))

    async def commit(
        self, build: Build, after: Callable[[sqlite3.Connection], Any] | None = None
    ) -> Written:
        """Run ``build(conn)`` for the events to append, append them and project, atomically.

        ``build`` reads current state and raises (NotFound, Conflict, ...) to refuse;
        it runs inside the write transaction, so its checks cannot race another write.
        ``after(conn)`` runs on the writer thread once committed (saves a thread hop
        for reading back what changed); its result is `Written.extra`.
        """

        def run(conn: sqlite3.Connection) -> Written:
            written = commit_now(conn, build, self._checkpoints)
            self.wal.committed()
            if after is None:
                return written
            return Written(written.ids, written.kinds, after(conn))

        return await self.call(run)

    def close(self) -> None:
        self._thread.close()
        self.wal.close()


def commit_now(
    conn: sqlite3.Connection, build: Build, checkpoints: CheckpointSource | None = None
) -> Written:
    """Append what ``build`` returns and project it, in one transaction (writer thread only)."""
    with transaction(conn):
        events = build(conn)
        ids = append_events(conn, events) if events else []
        project(conn, checkpoints=checkpoints)
    return Written(ids, [event.kind for event in events])


class ReaderPool:
    """Read connections handed out one borrower at a time (they hop threads safely)."""

    def __init__(self, path: Path, size: int = 8) -> None:
        self._path = path
        self._size = size
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = connect(self._path)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed and len(self._idle) < self._size
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def commit_batches(
    conn: sqlite3.Connection,
    events: list[NewEvent],
    *,
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
    checkpoints: CheckpointSource | None = None,
) -> Written:
    """Append many events in one transaction, projecting every ``batch`` of them.

    For imports (§11.4, §11.5): all or nothing like `commit_now`, while ``progress(done,
    total)`` can move a progress bar and each projection step stays small."""
    ids: list[int] = []
    with transaction(conn):
        for start in range(0, len(events), batch):
            ids.extend(append_events(conn, events[start : start + batch]))
            project(conn, checkpoints=checkpoints)
            if progress is not None:
                progress(min(start + batch, len(events)), len(events))
    return Written(ids, [event.kind for event in events])
