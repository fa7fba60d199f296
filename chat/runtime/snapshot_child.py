"""Snapshot writers in child processes (`chat.snapshots.worker --standby`), kept started.

Starting Python and importing Kith takes a good part of a second, more on a busy
machine; a periodic snapshot is due at the end of the turn that crossed the line
(§10.4) and that turn waits until the snapshot's read has begun. So a child, once
started, stays: it writes one snapshot per order line on its stdin and begins each
read within milliseconds. Two snapshots at once use two children. Children die with
the app (PR_SET_PDEATHSIG) and exit on end of input when the app stops.
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
        self._idle: list[Process] = []
        self._busy: set[Process] = set()
        self._starting: asyncio.Task[Process] | None = None

    @property
    def ready(self) -> bool:
        """Whether an idle, started child is there (a snapshot then begins at once)."""
        return bool(self._idle)

    def prepare(self) -> None:
        """Start a child in the background now, so the first snapshot need not wait for it."""
        if self._starting is None and not self._idle:
            self._starting = asyncio.create_task(self._spawn(), name="snapshot-child-start")

    async def _spawn(self) -> Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chat.snapshots.worker", str(self.db_path), str(self.data_dir),
            "--standby", "--parent-pid", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=1 << 20,
        )  # fmt: skip

    async def take(
        self, kind: str, keep: int, when: datetime, reading: Callable[[int], None] | None = None
    ) -> Path:
        """Write one snapshot in a child; ``reading(last_event_id)`` once its read has begun."""
        if self._idle:
            process = self._idle.pop()
        elif self._starting is not None:
            starting, self._starting = self._starting, None
            process = await starting
        else:
            process = await self._spawn()
        self._busy.add(process)
        healthy = False
        try:
            assert process.stdin is not None and process.stdout is not None
            order = {"when": when.isoformat(), "kind": kind, "keep": keep}
            process.stdin.write((json.dumps(order) + "\n").encode())
            with contextlib.suppress(ConnectionError):  # it died: said below
                await process.stdin.drain()
            answer = json.loads(await process.stdout.readline() or b"{}")
            if "reading" in answer:
                if reading is not None:
                    reading(int(answer["reading"]))
                answer = json.loads(await process.stdout.readline() or b"{}")
            if "path" in answer:
                healthy = True
                return Path(answer["path"])
            if "error" in answer:
                healthy = True
                raise SnapshotFailed(f"the snapshot process failed: {answer['error']}")
            raise SnapshotFailed(f"the snapshot process failed: {await self._reason(process)}")
        finally:
            self._busy.discard(process)
            if healthy:
                self._idle.append(process)
            else:
                await self._end(process)

    async def _reason(self, process: Process) -> str:
        await self._end(process)
        err = await process.stderr.read() if process.stderr is not None else b""
        lines = err.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else f"it exited with status {process.returncode}"

    @staticmethod
    async def _end(process: Process) -> None:
        if process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def close(self) -> None:
        """End every idle child (end of input: it exits, writing nothing more)."""
        idle, self._idle = self._idle, []
        if self._starting is not None:
            starting, self._starting = self._starting, None
            with contextlib.suppress(Exception):
                idle.append(await starting)
        await asyncio.gather(*(self._end(process) for process in idle))
