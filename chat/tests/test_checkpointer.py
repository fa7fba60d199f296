"""WAL checkpoints off the writer's commits (chat/eventlog/checkpointer.py): the writer's
connection never checkpoints inside a commit, yet the log keeps starting over, also
with commits back to back, and nothing written is lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog import checkpointer
from chat.eventlog.writer import Writer

pytestmark = pytest.mark.anyio

COMMITS = 400
ROW_BYTES = 16_000  # four or five pages a commit: 400 commits put about 8 MB through the log


def _wal(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_log_starts_over_while_the_writer_commits_back_to_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits with no pause between them never let the thread's checkpoint catch up; the
    log is bounded all the same (`LONG_PAGES` here 400 pages, of about 2000 written)."""
    monkeypatch.setattr(checkpointer, "LONG_PAGES", 400)
    db = tmp_path / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:
        conn.execute("CREATE TABLE ballast (n INTEGER PRIMARY KEY, body BLOB)")
    writer = Writer(db)
    try:
        for n in range(COMMITS):
            await writer.commit(
                lambda conn, n=n: (
                    conn.execute("INSERT INTO ballast VALUES (?, randomblob(?))", (n, ROW_BYTES)),
                    [],
                )[1]
            )
        assert await writer.call(lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
        largest = _wal(db)
        done = writer._wal.done
    finally:
        writer.close()
    assert done >= COMMITS // checkpointer.EVERY_COMMITS  # the thread ran them, not the commits
    assert largest < 4_000_000, largest  # about 8 MB went through a log that started over
    with open_db(db) as conn:
        assert conn.execute("SELECT count(*), min(n), max(n) FROM ballast").fetchone() == (COMMITS, 0, COMMITS - 1)


async def test_a_log_left_behind_is_checkpointed_by_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a reader holds an old snapshot no checkpoint can catch up; once the log is
    `LONG_PAGES` long the writer checkpoints after its next commit, and when the reader
    is gone that one catches up, so the log starts over."""
    monkeypatch.setattr(checkpointer, "LONG_PAGES", 50)
    monkeypatch.setattr(checkpointer, "EVERY_COMMITS", 4)
    db = tmp_path / "kith.db"
    apply_migrations(db)
    with open_db(db) as conn:
        conn.execute("CREATE TABLE ballast (n INTEGER PRIMARY KEY, body BLOB)")
    writer = Writer(db)
    reader = sqlite3.connect(db, isolation_level=None)
    calls: list[str] = []
    real = checkpointer.writer_checkpoint
    monkeypatch.setattr("chat.eventlog.writer.writer_checkpoint", lambda conn: calls.append("writer") or real(conn))

    async def write(n: int) -> None:
        await writer.commit(
            lambda conn: (conn.execute("INSERT INTO ballast VALUES (?, randomblob(?))", (n, ROW_BYTES)), [])[1]
        )

    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM ballast").fetchone()  # holds the log's start
        for n in range(40):
            await write(n)
        for _ in range(200):  # the thread's tries end; it finds the log left behind
            if writer._wal.behind:
                break
            await __import__("asyncio").sleep(0.01)
        assert writer._wal.behind
        reader.execute("COMMIT")
        await write(40)
        for n in range(41, 60):
            await write(n)
        assert calls  # the writer checkpointed after its commits
        frames = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        assert frames < 40 * 4, frames  # the log started over: less than the 40 commits it held
    finally:
        reader.close()
        writer.close()
