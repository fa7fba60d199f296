"""Snapshots of the projection tables, and the cold load that uses them (§10.4–§10.7).

A snapshot is one JSON file holding every projection table as of one
``last_event_id``, read in one transaction (so it is exactly the fold of
events 1..last_event_id even while appends go on) and written atomically.
Cold load restores the newest usable snapshot and replays the tail; a bad
snapshot is moved to ``snapshots/quarantine/`` and the next older one tried,
so start never fails because of a snapshot. The file format lives in
``snapshot_format`` and the folders, names and retention in ``snapshot_store``;
this module is the API the rest of Kith uses.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat.db.connection import derived_data_durability, transaction
from chat.errors import Conflict, ProjectionFailed, SnapshotInvalid, ValidationFailed
from chat.eventlog.log import last_event_id
from chat.eventlog.projector import (
    PROJECTION_VERSION,
    CheckpointSource,
    get_cursor,
    project,
    projection_status,
    projection_tables,
    rebuild,
)
from chat.services.snapshot_format import (
    FORMAT,
    FORMAT_VERSION,
    SnapshotData,
    encode_snapshot,
    event_fingerprint,
    gc_paused,
    read_snapshot,
    write_atomically,
)
from chat.services.snapshot_restore import restore_tables
from chat.services.snapshot_store import (
    KEEP,
    KINDS,
    delete_manual_snapshot,
    find_snapshot,
    latest_snapshot_path,
    list_snapshot_paths,
    list_snapshots,
    prune_periodic,
    quarantine,
    remove_stale_temporary_files,
    snapshot_candidates,
    snapshot_dir,
    snapshot_position,
    unused_path,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KEEP",
    "ColdLoadReport",
    "SnapshotData",
    "cold_load",
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
        body = encode_snapshot(
            tables=tables,
            last_event_id=last_id,
            kind=kind,
            schema_version=PROJECTION_VERSION,
            created=when,
            log_fingerprint=fingerprint,
        )
        del tables
    path = unused_path(folder, when, last_id)
    write_atomically(path, body)
    if kind == "periodic":
        prune_periodic_snapshots(data_dir, keep=keep, known_valid=path)
    log.info("snapshot %s written: last_event_id=%d, %d bytes", path.name, last_id, len(body))
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


# --- cold load -----------------------------------------------------------------


@dataclass(frozen=True)
class ColdLoadReport:
    path: str  # "tail", "snapshot" or "full_replay"
    seconds: float
    snapshot: str | None = None
    replayed: int = 0
    quarantined: tuple[str, ...] = ()
    last_event_id: int = 0


def projections_current(conn: sqlite3.Connection) -> bool:
    """True when the stored projections can simply be brought forward by the tail."""
    status = projection_status(conn)
    return (
        status is not None
        and status[1] == PROJECTION_VERSION
        and not status[2]
        and status[0] <= last_event_id(conn)
    )


def cold_load(
    conn: sqlite3.Connection,
    data_dir: str | Path,
    *,
    force_rebuild: bool = False,
    on_event: Callable[[int], None] | None = None,
) -> ColdLoadReport:
    """Bring the projections up to date at start (§10.6), by the fastest safe path.

    Current projections: project the tail. Otherwise the newest usable snapshot plus the
    tail; a snapshot that is unreadable, fails its checksum, has another schema, is ahead
    of the log or cannot be restored is quarantined and the next older one tried; with
    none usable, the whole log is replayed. ``on_event`` sees every replayed event's id.
    """
    started = time.perf_counter()
    remove_stale_temporary_files(data_dir)
    checkpoints = snapshot_checkpoints(data_dir)
    if projections_current(conn) and not force_rebuild:
        result = project(conn, on_event=on_event, checkpoints=checkpoints)
        return _report("tail", started, None, result.applied, (), result.last_event_id)
    quarantined: list[str] = []
    suspect: Path | None = None
    for candidate in snapshot_candidates(data_dir):
        try:
            with derived_data_durability(conn), transaction(conn):
                with gc_paused():  # the rows are freed by reference counting before it resumes
                    snapshot = load_snapshot(candidate)
                    check_matches_log(conn, snapshot)
                    restore_tables(conn, snapshot)
                    del snapshot
                result = project(conn, on_event=on_event, checkpoints=checkpoints)
        except SnapshotInvalid as exc:
            moved = quarantine(data_dir, candidate)
            quarantined.append(moved.name)
            log.warning("skipping snapshot: %s; moved to %s", exc.message, moved)
            continue
        except ProjectionFailed as exc:
            # Either the log or the snapshot's rows are at fault; a full replay tells which.
            log.warning("tail after snapshot %s failed (%s); replaying the log", candidate.name, exc)
            suspect = candidate
            break
        return _report(
            "snapshot", started, candidate.name, result.applied, tuple(quarantined), result.last_event_id
        )
    result = rebuild(conn, on_event=on_event)
    if suspect is not None:
        quarantined.append(quarantine(data_dir, suspect).name)
    return _report("full_replay", started, None, result.applied, tuple(quarantined), result.last_event_id)


def _report(
    path: str,
    started: float,
    snapshot: str | None,
    replayed: int,
    quarantined: tuple[str, ...],
    last_id: int,
) -> ColdLoadReport:
    report = ColdLoadReport(path, time.perf_counter() - started, snapshot, replayed, quarantined, last_id)
    log.info(
        "cold load by %s%s: replayed %d events in %.3f s",
        path,
        f" from {snapshot}" if snapshot else "",
        replayed,
        report.seconds,
    )
    return report

