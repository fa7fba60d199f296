"""Write one snapshot in a child process: ``python -m chat.snapshots.worker``.

Serialising every projection table holds the GIL for long stretches (fetching rows
and JSON-encoding a table are single C calls), so in the app's own process a
periodic snapshot of a big world would stall streaming replies and turns for as
long. A child process reads the same database (WAL: one consistent read
transaction, never blocking the writer) and writes the file with
`snapshot.take_snapshot`, exactly as in-process. With ``--standby`` it starts ahead of
time (Python and the imports take a good part of a second) and waits for its order
on stdin, so a due snapshot begins within milliseconds. It prints ``{"reading": last_event_id}``
as soon as its read transaction holds the state it will write (the app waits for that
line, not for the file), then ``{"path": ...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import sys
from datetime import datetime

from chat.db.connection import open_db
from chat.errors import KithError
from chat.eventlog.projector import get_cursor
from chat.snapshots.api import take_snapshot

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> bool:
    """Ask Linux to kill this process when the app dies; False when it is already gone.

    A snapshot writer that outlived a killed app would finish harmlessly, but it would
    still hold the database open while the app restarts or someone copies the files.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the check below helps
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return parent_pid is None or os.getppid() == parent_pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write one Kith snapshot.")
    parser.add_argument("db")
    parser.add_argument("data_dir")
    parser.add_argument("--kind", default="periodic")
    parser.add_argument("--keep", type=int, default=5)
    parser.add_argument("--when", help="the snapshot's UTC time, ISO 8601 (required unless --standby)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit if this process is gone")
    parser.add_argument(
        "--standby",
        action="store_true",
        help='start, then wait for one line on stdin: {"when": ..., "kind": ..., "keep": ...}'
        " (end of input: exit, writing nothing)",
    )
    args = parser.parse_args(argv)
    if not die_with_parent(args.parent_pid):
        print("the app that asked for this snapshot is gone", file=sys.stderr)
        return 1
    if args.standby:  # started ahead of time: the snapshot begins the moment it is asked for
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        order = json.loads(line)
        args.when, args.kind, args.keep = order["when"], order["kind"], int(order["keep"])
    if not args.when:
        parser.error("--when is required")
    when = datetime.fromisoformat(args.when)
    try:
        with open_db(args.db) as conn:
            conn.execute("BEGIN")  # the read transaction the snapshot is taken from
            reading = get_cursor(conn)  # its first read fixes what the snapshot holds (WAL)
            print(json.dumps({"reading": reading}), flush=True)  # the app may go on now
            try:
                path = take_snapshot(
                    conn, data_dir=args.data_dir, kind=args.kind, clock=lambda: when, keep=args.keep
                )
            finally:
                conn.execute("COMMIT")
    except KithError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(json.dumps({"path": str(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
