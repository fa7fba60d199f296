"""A snapshot writer killed with -9 mid-write leaves a ``.NAME.json.tmp``; the next start
removes it, however recent (§10.4), while a live writer's file is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_event
from chat.eventlog.projector import project
from chat.snapshots.store import remove_stale_temporary_files
from chat.tests.turn_support import running

pytestmark = pytest.mark.anyio

STUCK_WRITER = """
import os, sys, time
from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.snapshots.api import take_snapshot
os.fsync = lambda fd: time.sleep(3600)  # stop inside write_atomically, the file half done
with open_db(sys.argv[1]) as conn:
    take_snapshot(conn, data_dir=sys.argv[2], kind=sys.argv[3])
"""


def _world(data_dir: Path) -> Path:
    db = data_dir / "kith.db"
    data_dir.mkdir(parents=True, exist_ok=True)
    apply_migrations(db)
    with open_db(db) as conn:
        append_event(conn, kind="world_fact_set", payload={"key": "weather", "value": "fog"})
        project(conn)
    return db


def _stuck_writer(db: Path, data_dir: Path, kind: str) -> tuple[subprocess.Popen, Path]:
    """A real snapshot writer, stopped after it opened (and locked) its temporary file."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", STUCK_WRITER, str(db), str(data_dir), kind], env=env
    )
    folder = data_dir / "snapshots" / kind
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leftovers = list(folder.glob(".*.json.tmp")) if folder.is_dir() else []
        if leftovers and leftovers[0].stat().st_size > 0:
            return child, leftovers[0]
        assert child.poll() is None, "the writer ended before it wrote its temporary file"
        time.sleep(0.05)
    child.kill()
    raise AssertionError("the writer never wrote its temporary file")


@pytest.mark.parametrize("kind", ["periodic", "manual"])
async def test_a_killed_writers_temporary_file_is_removed_at_start(data_dir: Path, kind: str) -> None:
    db = _world(data_dir)
    child, leftover = _stuck_writer(db, data_dir, kind)
    try:
        assert remove_stale_temporary_files(data_dir) == 0  # its writer lives: kept
        assert leftover.exists()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert leftover.exists()  # kill -9 left it behind, seconds old
    async with running(data_dir) as rt:
        assert rt.started
    assert not leftover.exists()
    assert not list((data_dir / "snapshots" / kind).glob("*.tmp"))


def test_only_temporary_files_are_removed(data_dir: Path) -> None:
    folder = data_dir / "snapshots" / "periodic"
    folder.mkdir(parents=True)
    keep = [folder / "20260101T000000.000000Z-e000000000001.json", folder / "notes.tmp"]
    for path in keep:
        path.write_text("{}")
    stale = folder / ".20260101T000000.000000Z-e000000000002.json.tmp"
    stale.write_text("{half")
    assert remove_stale_temporary_files(data_dir) == 1
    assert not stale.exists() and all(path.exists() for path in keep)
