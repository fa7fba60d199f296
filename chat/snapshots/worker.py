"""Write one snapshot in a child process: ``python -m chat.snapshots.worker``.

Serialising every projection table holds the GIL for long stretches (fetching rows
and JSON-encoding a table are single C calls), so in the app's own process a
periodic snapshot of a big world would stall streaming replies and turns for as
long. A child process reads the same database (WAL: one consistent read
transaction, never blocking the writer) and writes the file with
`snapshot.take_snapshot`, exactly as in-process. With ``--standby`` it stays started
and writes one snapshot per order line on stdin (Python and the imports take a good
part of a second, paid once), so a due snapshot begins within milliseconds. It prints ``{"reading": last_event_id}``
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


def write_one(db: str, data_dir: str, kind: str, keep: int, when: datetime) -> str:
    """Take one snapshot; print ``{"reading": id}`` once its read transaction has begun."""
    with open_db(db) as conn:
        conn.execute("BEGIN")  # the read transaction the snapshot is taken from
        reading = get_cursor(conn)  # its first read fixes what the snapshot holds (WAL)
        print(json.dumps({"reading": reading}), flush=True)  # the app may go on now
        try:
            path = take_snapshot(conn, data_dir=data_dir, kind=kind, clock=lambda: when, keep=keep)
        finally:
            conn.execute("COMMIT")
    return str(path)


def serve_orders(db: str, data_dir: str) -> int:
    """``--standby``: one order a line, ``{"when", "kind", "keep"}``; answer ``{"reading"}``
    then ``{"path"}`` or ``{"error"}`` for each; end of input ends the process."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            order = json.loads(line)
            path = write_one(
                db, data_dir, order["kind"], int(order["keep"]), datetime.fromisoformat(order["when"])
            )
            print(json.dumps({"path": path}), flush=True)
        except (KithError, OSError, ValueError, KeyError, TypeError) as exc:
            message = exc.message if isinstance(exc, KithError) else f"{type(exc).__name__}: {exc}"
            print(json.dumps({"error": message}), flush=True)
    return 0


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
        help='stay started and write a snapshot for each line on stdin: {"when", "kind", "keep"}',
    )
    args = parser.parse_args(argv)
    if not die_with_parent(args.parent_pid):
        print("the app that asked for this snapshot is gone", file=sys.stderr)
        return 1
    if args.standby:
        return serve_orders(args.db, args.data_dir)
    if not args.when:
        parser.error("--when is required")
    try:
        path = write_one(args.db, args.data_dir, args.kind, args.keep, datetime.fromisoformat(args.when))
    except KithError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(json.dumps({"path": path}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
