"""SQLite connections with the durability settings of §10.1.

Connections run in autocommit mode (``isolation_level=None``) and every write
goes through :func:`transaction`, which opens ``BEGIN IMMEDIATE`` so that one
writer at a time holds the lock and ids are assigned in commit order: a reader
never sees event k+1 before event k. Nested ``transaction`` blocks become
savepoints, so a service can group several appends atomically.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
DATABASE_NAME = "kith.db"
# A larger page cache and memory-mapped reads keep replay and restore of a 100k-event
# world off the disk (§13); both are per connection and cost nothing when unused.
CACHE_SIZE_KIB = 65_536
# Bulk work on derived data (a rebuild, a snapshot restore) gets a larger page cache for
# its duration: at 1M events the projections are ~1.7M rows and their primary-key
# B-trees stop fitting in 64 MiB, so each insert went to the disk (restore inserts took
# 45 % less time at 300k events with it). Pages are only allocated as used.
BULK_CACHE_SIZE_KIB = 524_288
MMAP_SIZE_BYTES = 256 * 1024 * 1024


def database_path(data_dir: str | Path) -> Path:
    """The one SQLite database of a data directory (§10.1)."""
    return Path(data_dir) / DATABASE_NAME


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with WAL, synchronous=FULL, foreign keys and a busy timeout."""
    path = Path(path)
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
        conn.execute(f"PRAGMA mmap_size = {MMAP_SIZE_BYTES}")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Debian's SQLite zeroes every freed page (SECURE_DELETE), which doubles the writes
        # of a rebuild. It protects nothing here: the immutable log keeps every event anyway.
        conn.execute("PRAGMA secure_delete = OFF")
    except BaseException:  # a locked or broken file: no half-set-up connection left open
        conn.close()
        raise
    return conn


@contextmanager
def open_db(path: str | Path, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """Yield a connection; commit what is open on success, roll back on error, close."""
    conn = connect(path, readonly=readonly)
    try:
        yield conn
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


@contextmanager
def derived_data_durability(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``synchronous=NORMAL`` and a larger page cache for a block that writes only derived
    data (projections).

    A rebuild or snapshot restore rewrites tens of megabytes that the log can always
    recreate; with NORMAL the commit skips its fsync (WAL frames stay ordered, so a crash
    loses at most this rebuild, never an event: the next FULL commit syncs them too).
    Only at the outermost level: inside a caller's transaction, that caller's events may
    be in the same commit and keep FULL.
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_SIZE_KIB}")
    try:
        yield conn
    finally:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block atomically: BEGIN IMMEDIATE at the outermost level, a savepoint inside."""
    if conn.in_transaction:
        name = f"sp_{id(conn)}_{_next_savepoint()}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_savepoint_counter = 0


def _next_savepoint() -> int:
    global _savepoint_counter
    _savepoint_counter += 1
    return _savepoint_counter
