"""The periodic snapshot writer runs as a child process and never outlives the app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.eventlog.projector import project
from chat.tests.turn_support import one_to_one, running, turn


def _worker(db_path: Path, data_dir: Path, parent_pid: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chat.snapshots.worker", str(db_path), str(data_dir),
         "--when", "2026-11-24T12:00:00+00:00", "--parent-pid", str(parent_pid)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_it_writes_a_snapshot_for_its_parent(db_path: Path, data_dir: Path) -> None:
    with open_db(db_path) as conn:
        append_event(conn, kind="world_fact_set", payload={"key": "weather", "value": "fog"})
        project(conn)
    done = _worker(db_path, data_dir, os.getpid())
    assert done.returncode == 0, done.stderr
    assert len(list((data_dir / "snapshots" / "periodic").glob("*.json"))) == 1


def test_it_writes_nothing_when_the_app_that_asked_is_gone(db_path: Path, data_dir: Path) -> None:
    with open_db(db_path) as conn:
        append_event(conn, kind="world_fact_set", payload={"key": "weather", "value": "fog"})
        project(conn)
    gone = _worker(db_path, data_dir, parent_pid=2**22 + 12345)  # no such parent
    assert gone.returncode == 1
    assert "is gone" in gone.stderr
    assert not (data_dir / "snapshots").exists()


def _children() -> set[int]:
    """This process's live child processes (Linux: /proc/<pid>/task/*/children)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_standby_writer_is_ready_while_running_and_gone_after_stop(data_dir: Path) -> None:
    before = _children()

    async def run() -> set[int]:
        async with running(data_dir) as rt:
            _, chat = await one_to_one(rt)
            await turn(rt, chat["id"], "hello")  # the first turn takes the first snapshot
            await rt.wait_idle()
            deadline = time.monotonic() + 30
            while not _children() - before and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return _children() - before

    during = asyncio.run(run())
    assert len(during) == 1, during  # one standby waits for the next snapshot
    assert not _children() - before  # stopped: it exited, nothing left behind
    assert len(list((data_dir / "snapshots" / "periodic").glob("*.json"))) == 1
