"""WAL checkpoints between commits, on a thread of their own (chat/eventlog/wal.py).

The writer's commits no longer copy the log back themselves (past a far fallback mark):
every few commits a PASSIVE checkpoint runs on another connection. These show it runs,
copies the whole log back when no reader holds it, loses nothing a commit made durable,
and stops with the writer.
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path

from chat.db.connection import connect
from chat.db.migrate import apply_migrations
from chat.eventlog import wal
from chat.eventlog.log import NewEvent
from chat.eventlog.writer import Writer


def _fact(n: int) -> NewEvent:
    return NewEvent("world_fact_set", {"key": f"fact_{n}", "value": f"value {n}"})


def test_checkpoints_run_every_few_commits_and_copy_the_log_back(tmp_path: Path) -> None:
    path = tmp_path / "kith.db"
    apply_migrations(path)

    async def run() -> Writer:
        writer = Writer(path)
        for n in range(3 * wal.COMMITS_PER_CHECKPOINT):
            await writer.commit(lambda conn, n=n: [_fact(n)])
        return writer

    writer = asyncio.run(run())
    try:
        writer.wal.settle()
        assert writer.wal.runs >= 2  # one every COMMITS_PER_CHECKPOINT commits at most
        assert writer.wal.last is not None
        busy, log_pages, copied = writer.wal.last
        assert busy == 0 and log_pages > 0 and copied == log_pages  # no reader held it
        level = asyncio.run(writer.call(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]))
        assert level == wal.FALLBACK_PAGES
    finally:
        writer.close()
    with closing(connect(path)) as conn:  # every commit is there, the log copied back or not
        facts = conn.execute("SELECT count(*) FROM world_facts").fetchone()[0]
    assert facts == 3 * wal.COMMITS_PER_CHECKPOINT


def test_a_closed_checkpointer_queues_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kith.db"
    apply_migrations(path)
    checkpointer = wal.WalCheckpointer(path, every=1)
    checkpointer.committed()
    checkpointer.settle()
    assert checkpointer.runs == 1
    checkpointer.close()
    checkpointer.committed()  # after close: counted, never run (its thread is gone)
    assert checkpointer.runs == 1
