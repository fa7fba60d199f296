"""A SQLite connection that lives on one thread of its own.

SQLite connections must not be used from two threads at once; the writer (every
commit) and the WAL checkpointer (checkpoints between commits) each keep theirs on a
single-thread executor, opened on first use there and closed there at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from chat.db.connection import connect

T = TypeVar("T")


class ConnectionThread:
    """One thread, one connection to ``path``; ``setup`` runs on it once, when it opens."""

    def __init__(
        self, path: Path, name: str, setup: Callable[[sqlite3.Connection], None] | None = None
    ) -> None:
        self._path = path
        self._setup = setup
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
        """The connection, opened now if need be: call it only from this thread's work."""
        if self._conn is None:
            conn = connect(self._path)
            if self._setup is not None:
                try:
                    self._setup(conn)
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the thread, after what was submitted before it."""
        return self._executor.submit(fn)

    def close(self) -> None:
        """Wait for what was submitted, close the connection on its thread, end the thread."""

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
