"""Write one snapshot in a child process: ``python -m chat.services.snapshot_worker``.

Serialising every projection table holds the GIL for long stretches (fetching rows
and JSON-encoding a table are single C calls), so in the app's own process a
periodic snapshot of a big world would stall streaming replies and turns for as
long. A child process reads the same database (WAL: one consistent read
transaction, never blocking the writer) and writes the file with
`snapshot.take_snapshot`, exactly as in-process. It prints ``{"path": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from chat.db.connection import open_db
from chat.errors import KithError
from chat.services.snapshot import take_snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write one Kith snapshot.")
    parser.add_argument("db")
    parser.add_argument("data_dir")
    parser.add_argument("--kind", default="periodic")
    parser.add_argument("--keep", type=int, default=5)
    parser.add_argument("--when", required=True, help="the snapshot's UTC time, ISO 8601")
    args = parser.parse_args(argv)
    when = datetime.fromisoformat(args.when)
    try:
        with open_db(args.db) as conn:
            path = take_snapshot(
                conn, data_dir=args.data_dir, kind=args.kind, clock=lambda: when, keep=args.keep
            )
    except KithError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(json.dumps({"path": str(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
