"""Snapshots of the projection tables: take, policy, prune, load, check, restore (§10.4–§10.7).

A snapshot is one JSON file holding every projection table as of one
``last_event_id``, read in one transaction (so it is exactly the fold of
events 1..last_event_id even while appends go on) and written atomically.
The cold load that uses them lives in ``cold_load``. The file format lives in
``format`` and the folders, names and retention in ``store``; this module is
the API the rest of Kith uses.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat.errors import Conflict, SnapshotInvalid, ValidationFailed
from chat.eventlog.log import last_event_id
from chat.eventlog.projector import (
    PROJECTION_VERSION,
    CheckpointSource,
    get_cursor,
    projection_status,
    projection_tables,
)
from chat.snapshots.format import (
    FORMAT,
    FORMAT_VERSION,
    SnapshotData,
    encode_snapshot_parts,
    event_fingerprint,
    gc_paused,
    read_snapshot,
    write_atomically,
)
from chat.snapshots.packing import packed
from chat.snapshots.restore import restore_tables
from chat.snapshots.store import (
    KEEP,
    KINDS,
    delete_manual_snapshot,
    find_snapshot,
    latest_snapshot_path,
    list_snapshot_paths,
    list_snapshots,
    prune_periodic,
    quarantine,
    snapshot_candidates,
    snapshot_dir,
    snapshot_position,
    unused_path,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KEEP",
    "SnapshotData",
    "delete_manual_snapshot",
    "find_snapshot",
    "latest_snapshot_path",
    "list_snapshot_paths",
    "list_snapshots",
    "load_snapshot",
    "prune_periodic_snapshots",
    "quarantine",
    "read_tables",
    "restore_from_snapshot",
    "restore_tables",
    "should_take_periodic_snapshot",
    "snapshot_candidates",
    "snapshot_checkpoints",
    "snapshot_dir",
    "take_snapshot",
]

log = logging.getLogger("kith.snapshot")

EVERY_EVENTS = 100
EVERY = timedelta(minutes=30)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- writing -----------------------------------------------------------------


def _read_state(conn: sqlite3.Connection) -> tuple[int, dict[str, dict[str, list]], str | None]:
    """The cursor, every projection table and the cursor event's fingerprint, in one read.

    In WAL mode one read transaction sees one committed state, and ``project`` moves
    the cursor in the same transaction as the rows, so the tables are exactly the fold
    of events 1..cursor even while another connection appends and projects.
    """
    own_transaction = not conn.in_transaction
    if own_transaction:
        conn.execute("BEGIN")
    try:
        status = projection_status(conn)
        if status is not None and (status[1] != PROJECTION_VERSION or status[2]):
            raise Conflict(
                "the projections need a rebuild before a snapshot can be taken; run `kith rebuild`"
            )
        last_id = get_cursor(conn)
        tables: dict[str, dict[str, list]] = {}
        for table in projection_tables():
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")  # noqa: S608
            columns = [d[0] for d in cursor.description]
            tables[table] = {"columns": columns, "rows": cursor.fetchall()}
        fingerprint = event_fingerprint(conn, last_id)
    finally:
        if own_transaction:
            conn.execute("COMMIT")
    return last_id, tables, fingerprint


def read_tables(conn: sqlite3.Connection) -> tuple[int, dict[str, dict[str, list]]]:
    """Read the cursor and every projection table in one read transaction."""
    last_id, tables, _ = _read_state(conn)
    return last_id, tables


def take_snapshot(
    conn: sqlite3.Connection,
    *,
    data_dir: str | Path,
    kind: str = "periodic",
    clock: Clock = utc_now,
    keep: int = KEEP,
) -> Path:
    """Write a snapshot of the projections atomically; prune old periodic ones (never manual)."""
    if kind not in KINDS:
        raise ValidationFailed(f"snapshot kind must be one of {', '.join(KINDS)}", field="kind")
    folder = snapshot_dir(data_dir, kind)
    folder.mkdir(parents=True, exist_ok=True)
    with gc_paused():
        last_id, tables, fingerprint = _read_state(conn)
        when = clock()
        body = encode_snapshot_parts(
            tables=tables,
            last_event_id=last_id,
            kind=kind,
            schema_version=PROJECTION_VERSION,
            created=when,
            log_fingerprint=fingerprint,
        )
        del tables
    path = unused_path(folder, when, last_id)
    write_atomically(path, packed(body))
    if kind == "periodic":
        prune_periodic_snapshots(data_dir, keep=keep, known_valid=path)
    log.info(
        "snapshot %s written: last_event_id=%d, %d bytes", path.name, last_id, sum(map(len, body))
    )
    return path


# --- policy ------------------------------------------------------------------


def should_take_periodic_snapshot(
    conn: sqlite3.Connection,
    data_dir: str | Path,
    *,
    clock: Clock = utc_now,
    every_events: int = EVERY_EVENTS,
    every: timedelta = EVERY,
) -> bool:
    """True after ``every_events`` new events or ``every`` time since the last periodic snapshot.

    The time rule reads ``clock``, so tests move time instead of sleeping.
    """
    projected = get_cursor(conn)
    latest = latest_snapshot_path(data_dir, "periodic")
    if latest is None:
        return projected > 0
    when, last_id = snapshot_position(latest)
    new_events = projected - last_id
    if new_events >= every_events:
        return True
    return new_events > 0 and clock() - when >= every


def prune_periodic_snapshots(
    data_dir: str | Path, keep: int = KEEP, *, known_valid: Path | None = None
) -> int:
    """Keep the newest ``keep`` periodic snapshots, and always the newest valid one."""
    return prune_periodic(data_dir, keep, PROJECTION_VERSION, known_valid)


# --- reading and restoring ----------------------------------------------------


def load_snapshot(path: str | Path) -> SnapshotData:
    """Read and check a snapshot file; raise SnapshotInvalid saying what is wrong with it."""
    return read_snapshot(Path(path), schema_version=PROJECTION_VERSION)


def check_matches_log(conn: sqlite3.Connection, snapshot: SnapshotData) -> None:
    """Refuse a snapshot that is ahead of this log or was taken from another log."""
    log_end = last_event_id(conn)
    if snapshot.last_event_id > log_end:
        raise SnapshotInvalid(
            f"{snapshot.path.name}: ahead of the log ({snapshot.last_event_id} > {log_end})"
        )
    fingerprint = snapshot.log_fingerprint
    if fingerprint is not None and event_fingerprint(conn, snapshot.last_event_id) != fingerprint:
        raise SnapshotInvalid(f"{snapshot.path.name}: taken from another event log")


def restore_from_snapshot(conn: sqlite3.Connection, path: str | Path) -> int:
    """Restore the projections from one snapshot file; return its last_event_id."""
    return restore_tables(conn, load_snapshot(path))


def snapshot_checkpoints(data_dir: str | Path) -> CheckpointSource:
    """A checkpoint source for ``project``: rewinds refold from a snapshot, not from event 1."""

    def restore_usable(conn: sqlite3.Connection, usable: Callable[[int], bool]) -> int | None:
        for path in snapshot_candidates(data_dir):
            if not usable(snapshot_position(path)[1]):
                continue
            try:
                snapshot = load_snapshot(path)
                if not usable(snapshot.last_event_id):
                    continue
                check_matches_log(conn, snapshot)
                return restore_tables(conn, snapshot)
            except SnapshotInvalid as exc:
                log.warning("checkpoint skipped: %s", exc.message)
        return None

    return restore_usable
