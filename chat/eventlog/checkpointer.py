"""WAL checkpoints on a thread of their own, so no commit waits for one (§10.1, §13).

SQLite copies the write-ahead log back into the database file (a checkpoint) inside
the commit that takes the log past 1000 pages. A turn writes about 170 pages (four
commits: the user's message, the turn's start, the reply, the extraction, each with
its projections and undo notes), so every sixth turn or so paid for copying a
thousand pages and syncing the database file: 10 to 80 ms on the shared test
machine, most of the turn overhead's p95. The writer's connection now has automatic
checkpoints off and pokes this thread instead, every `EVERY_COMMITS` commits and
after any other write; it runs a PASSIVE checkpoint on its own connection, which
never blocks the writer or a reader (what it cannot copy yet, the next one does).

Durability is unchanged: a commit is durable when its log frames are synced (every
commit, ``synchronous=FULL``), not when they reach the database file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from chat.db.connection import connect

log = logging.getLogger(__name__)

EVERY_COMMITS = 24
"""Commits between checkpoints: about 1000 pages of turns, SQLite's own default."""
CATCH_UP_TRIES = 3
"""A checkpoint copies the log as it stood when it began; commits meanwhile leave it
behind, so one that did not catch up is run again (a few new pages each time)."""
LONG_PAGES = 1000
"""The log starts over from its beginning only when a write transaction begins with
every page of it copied, which commits back to back (the writer always inside one)
never allow. A log this long after the thread's checkpoint (4 MB) is checkpointed
once more by the writer after its next commit, between two of its transactions: the
thread copied nearly all of it, so that one copies a few pages or none, and the log
starts over with the commit after it. So the log stays bounded as with SQLite's own
automatic checkpoints, while the copying stays off the commits."""
EVERY_ROWS = 5000
"""Rows changed (projections and notes included) that call one in sooner: a rewind or an
import in one commit writes far more pages than a turn."""


class Checkpointer:
    """One thread and connection that checkpoints the WAL of ``path`` when poked."""

    def __init__(self, path: Path, every: int | None = None) -> None:
        self._path = path
        self._every = max(1, every or EVERY_COMMITS)
        self._commits = 0
        self._rows = 0
        self._wake = threading.Event()
        self._closing = False
        self.done = 0
        """Checkpoints run so far (tests and benchmarks read it)."""
        self.behind = False
        """The log outgrew `LONG_PAGES`: the writer checkpoints after its next commit."""
        self._thread = threading.Thread(target=self._run, name="kith-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, rows: int) -> None:
        """One more commit by the writer, which changed ``rows`` rows: every
        `EVERY_COMMITS`-th commit, or once `EVERY_ROWS` rows add up, wakes the thread."""
        self._commits += 1
        self._rows += rows
        if self._commits >= self._every or self._rows >= EVERY_ROWS:
            self.poke()

    def poke(self) -> None:
        """Checkpoint soon (after a large write, or when commits have added up)."""
        self._commits = self._rows = 0
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after a last checkpoint (closing the last connection to the
        database checkpoints whatever is left anyway)."""
        self._closing = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                try:
                    conn = conn or connect(self._path)
                    self._catch_up(conn)
                except sqlite3.Error as exc:  # the next poke tries again; commits go on
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            if conn is not None:
                conn.close()

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        pages = 0
        for attempt in range(CATCH_UP_TRIES):
            _busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.done += 1
            if pages == copied or self._closing:
                break
            time.sleep(0.002 * (attempt + 1))  # let the writer's commit in progress end
        self.behind = pages >= LONG_PAGES


def writer_checkpoint(conn: sqlite3.Connection) -> bool:
    """The writer's own checkpoint of a log `LONG_PAGES` long, between its transactions:
    it copies what the thread's left, so the next commit starts the log over; False when
    it could not copy all (the thread's was running, or a reader holds old pages)."""
    busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return not busy and pages == copied
