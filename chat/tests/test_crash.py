"""Kill -9 at random moments (§10.3, §14.1): nothing acknowledged is lost, projections stay exact.

A child process appends a realistic stream (turns, memories, edges, rewinds),
projecting each batch in the same transaction and taking periodic snapshots,
and prints every id after its commit. The parent kills it with SIGKILL at
random moments, restarts it (which cold-loads like the app), and finally
checks that every acknowledged id is in the log with the event the stream
says, and that the projections after a cold load equal a full replay.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chat
from benchmarks.core_world import realistic_events
from chat.db.connection import database_path, open_db
from chat.eventlog.log import iter_events
from chat.eventlog.projector import canonical_dump, rebuild
from chat.snapshots.cold_load import cold_load
from chat.tests.crash_child import SEED

REPO = Path(chat.__file__).resolve().parents[1]
ROUNDS = 7


def _run_once(data_dir: Path, rng: random.Random) -> tuple[int, list[int]]:
    """Start the child, kill it at a random moment; return (resume position, acknowledged ids)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "chat.tests.crash_child", str(data_dir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not lines and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert lines and lines[0].startswith("ready"), child.stderr.read() if child.poll() else lines
    time.sleep(rng.uniform(0.05, 0.6))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    reader.join(timeout=10)
    assert child.returncode == -signal.SIGKILL
    start = int(lines[0].split()[1])
    return start, [int(line) for line in lines[1:] if line.strip().isdigit()]


def test_kill_9_loses_nothing_acknowledged(data_dir: Path) -> None:
    rng = random.Random(2026)
    acknowledged: list[int] = []
    for _ in range(ROUNDS):
        start, ids = _run_once(data_dir, rng)
        # Restart resumes exactly after the last committed event: nothing acknowledged is missing.
        assert not acknowledged or start >= acknowledged[-1]
        acknowledged.extend(ids)
    assert len(acknowledged) > 50, "the child never got going"
    assert acknowledged == sorted(set(acknowledged))

    with open_db(database_path(data_dir)) as conn:
        stored = list(iter_events(conn))
        expected = list(itertools.islice(realistic_events(len(stored), seed=SEED), len(stored)))
        assert [e.id for e in stored] == list(range(1, len(stored) + 1))
        assert set(acknowledged) <= {e.id for e in stored}
        assert [(e.kind, e.payload) for e in stored] == [
            (n.kind, _normalised(n.kind, n.payload)) for n in expected
        ]
        report = cold_load(conn, data_dir)
        projected = canonical_dump(conn)
        rebuild(conn)
        assert canonical_dump(conn) == projected, report


def _normalised(kind: str, payload: dict) -> dict:
    from chat.eventlog.schemas import validate_payload

    return validate_payload(kind, payload)
