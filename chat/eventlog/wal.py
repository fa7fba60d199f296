"""WAL checkpoints off the writer's thread (§10.1: the commits themselves stay FULL).

SQLite copies the write-ahead log back into the database once it holds 1,000 pages
(``wal_autocheckpoint``), inside the COMMIT that crosses the mark: a turn writes ~154
pages, so every sixth or seventh turn's commit also copied ~1,000 pages and synced the
database file, 2.5-5 ms of CPU and 7-44 ms of wall on this machine (`docs/benchmarks.md`,
"Session 22"), most of a turn's p95. Here the writer connection checkpoints only past a
far mark (a fallback), and this thread runs a PASSIVE checkpoint on its own connection
after every ``every`` commits: it copies what no reader still needs and never blocks a
writer or a reader. A checkpoint changes nothing a commit made durable: the log is synced
by each commit, and a crash mid-checkpoint is repaired from it on the next open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from chat.eventlog.connection_thread import ConnectionThread

log = logging.getLogger(__name__)

COMMITS_PER_CHECKPOINT = 7
"""~350 pages at ~50 a commit: a third of SQLite's own mark, so the log stays short."""
FALLBACK_PAGES = 4_000
"""The writer's own mark, for when this thread falls behind (a long read pins the log)."""


class WalCheckpointer:
    """Checkpoints the database at ``path`` on a thread of its own; `committed` is called
    by the writer after each commit (on the writer's thread)."""

    def __init__(self, path: Path, every: int = COMMITS_PER_CHECKPOINT) -> None:
        self._path = path
        self._every = every
        self._commits = 0
        self._pending = threading.Event()  # set while a checkpoint is queued or running
        self._thread = ConnectionThread(path, "kith-wal")
        self._closed = False
        self.runs = 0
        """Checkpoints run so far (for tests and benchmarks)."""
        self.last: tuple[int, int, int] | None = None
        """The last checkpoint's (busy, pages in the log, pages copied back)."""

    @staticmethod
    def configure_writer(conn: sqlite3.Connection) -> None:
        """The writer checkpoints itself only past `FALLBACK_PAGES`."""
        conn.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_PAGES}")

    def committed(self) -> None:
        """Count a commit; every ``every``-th queues a checkpoint, unless one still runs."""
        self._commits += 1
        if self._closed or self._commits % self._every or self._pending.is_set():
            return
        self._pending.set()
        self._thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            row = self._thread.connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.last = (int(row[0]), int(row[1]), int(row[2]))
            self.runs += 1
        except sqlite3.Error as exc:  # the writer's fallback mark still bounds the log
            log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            self._pending.clear()

    def settle(self) -> None:
        """Wait for a queued or running checkpoint (for tests and benchmarks)."""
        self._thread.submit(lambda: None).result()

    def close(self) -> None:
        """Wait for a running checkpoint, then close the connection."""
        self._closed = True
        self._thread.close()
