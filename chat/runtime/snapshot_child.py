"""Snapshot writers in child processes (`chat.snapshots.worker`), one kept on standby.

Starting Python and importing Kith takes a good part of a second, more on a busy
machine; a periodic snapshot is due at the end of the turn that crossed the line
(§10.4) and that turn waits until the snapshot's read has begun. So one child is
started ahead of time and waits for its order on stdin: asked, it begins its read
transaction within milliseconds. A new standby is started as soon as the last one has begun its read.
Children die with the app (PR_SET_PDEATHSIG) and the standby exits on end of input
when the app stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from chat.errors import SnapshotFailed

Process = asyncio.subprocess.Process


class SnapshotChildren:
    """Runs snapshot children for one data directory; `Runtime` owns one."""

    def __init__(self, db_path: Path, data_dir: Path) -> None:
        self.db_path = db_path
        self.data_dir = data_dir
        self._standby: asyncio.Task[Process] | None = None
        self._closed = False

    def prepare(self) -> None:
        """Start a standby child in the background, unless one is there."""
        if self._standby is None and not self._closed:
            self._standby = asyncio.create_task(self._spawn(), name="snapshot-standby")

    async def _spawn(self) -> Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chat.snapshots.worker", str(self.db_path), str(self.data_dir),
            "--standby", "--parent-pid", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def take(
        self, kind: str, keep: int, when: datetime, reading: Callable[[int], None] | None = None
    ) -> Path:
        """Write one snapshot in a child; ``reading(last_event_id)`` once its read has begun."""
        self.prepare()
        assert self._standby is not None
        standby, self._standby = self._standby, None
        process = await standby
        try:
            assert process.stdin is not None and process.stdout is not None
            order = {"when": when.isoformat(), "kind": kind, "keep": keep}
            process.stdin.write((json.dumps(order) + "\n").encode())
            with contextlib.suppress(ConnectionError):  # it died: its stderr says why, below
                await process.stdin.drain()
            first = await process.stdout.readline()  # {"reading": id} once its read has begun
            self.prepare()  # the next one starts while this one's file is written
            if reading is not None and first.strip():
                reading(int(json.loads(first)["reading"]))
            out, err = await process.communicate()
        finally:
            self.prepare()
        if process.returncode != 0 or not (first + out).strip():
            reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise SnapshotFailed(f"the snapshot process failed: {reason[0]}")
        lines = (first + out).decode("utf-8", "replace").splitlines()
        return Path(json.loads(lines[-1])["path"])

    async def close(self) -> None:
        """End the standby child (end of input: it exits, writing nothing)."""
        self._closed = True
        standby, self._standby = self._standby, None
        if standby is None:
            return
        process = await standby
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.communicate(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
