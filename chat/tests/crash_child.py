"""Child process for the crash test (§14.1): appends a realistic stream until it is killed.

It starts like the app does (migrate, cold load), resumes the deterministic
stream where the log ends (batches are atomic, so the log is always a prefix
of it), and then appends batches, each with its projection in one
transaction, taking periodic snapshots on the way. After each commit it
prints the acknowledged ids, one per line, so the parent knows what must
survive a kill -9.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from benchmarks.core_world import realistic_events
from chat.db.connection import database_path, open_db, transaction
from chat.db.migrate import apply_migrations
from chat.eventlog.log import append_events, last_event_id
from chat.eventlog.projector import project
from chat.snapshots.api import should_take_periodic_snapshot, take_snapshot
from chat.snapshots.cold_load import cold_load

SEED = 11
BATCH_SIZES = (1, 4, 2, 7, 1, 3)


def main(data_dir: Path) -> None:
    db = database_path(data_dir)
    apply_migrations(db)
    with open_db(db) as conn:
        cold_load(conn, data_dir)
        start = last_event_id(conn)
        print("ready", start, flush=True)
        stream = itertools.islice(realistic_events(10**7, seed=SEED), start, None)
        for size in itertools.cycle(BATCH_SIZES):
            batch = list(itertools.islice(stream, size))
            with transaction(conn):
                ids = append_events(conn, batch)
                project(conn)
            sys.stdout.write("".join(f"{i}\n" for i in ids))
            sys.stdout.flush()
            if should_take_periodic_snapshot(conn, data_dir, every_events=40):
                take_snapshot(conn, data_dir=data_dir, keep=3)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
