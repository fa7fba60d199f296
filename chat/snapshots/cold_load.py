"""Cold load (§10.6): bring the projections up to date at start by the fastest safe path.

Current projections: project the tail. Otherwise the newest usable snapshot plus
the tail; a bad snapshot is moved to ``snapshots/quarantine/`` and the next older
one tried, so start never fails because of a snapshot.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chat.db.connection import derived_data_durability, transaction
from chat.errors import ProjectionFailed, SnapshotInvalid
from chat.eventlog.log import last_event_id
from chat.eventlog.projector import PROJECTION_VERSION, project, projection_status, rebuild
from chat.snapshots.api import check_matches_log, load_snapshot, snapshot_checkpoints
from chat.snapshots.format import gc_paused
from chat.snapshots.restore import restore_tables
from chat.snapshots.store import quarantine, remove_stale_temporary_files, snapshot_candidates

__all__ = ["ColdLoadReport", "cold_load", "projections_current"]

log = logging.getLogger("kith.snapshot")


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

