"""The periodic snapshot writer runs as a child process and never outlives the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.eventlog.projector import project


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
