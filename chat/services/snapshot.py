"""Re-exports of ``chat.snapshots`` for the acceptance test, which imports this path.

Nothing in Kith imports this module; use ``chat.snapshots.api`` and
``chat.snapshots.cold_load``.
"""

from chat.snapshots.api import (
    EVERY,
    EVERY_EVENTS,
    FORMAT,
    FORMAT_VERSION,
    KEEP,
    SnapshotData,
    check_matches_log,
    delete_manual_snapshot,
    find_snapshot,
    latest_snapshot_path,
    list_snapshot_paths,
    list_snapshots,
    load_snapshot,
    prune_periodic_snapshots,
    quarantine,
    read_tables,
    restore_from_snapshot,
    restore_tables,
    should_take_periodic_snapshot,
    snapshot_candidates,
    snapshot_checkpoints,
    snapshot_dir,
    take_snapshot,
)
from chat.snapshots.cold_load import ColdLoadReport, cold_load, projections_current

__all__ = [
    "EVERY",
    "EVERY_EVENTS",
    "FORMAT",
    "FORMAT_VERSION",
    "KEEP",
    "ColdLoadReport",
    "SnapshotData",
    "check_matches_log",
    "cold_load",
    "delete_manual_snapshot",
    "find_snapshot",
    "latest_snapshot_path",
    "list_snapshot_paths",
    "list_snapshots",
    "load_snapshot",
    "projections_current",
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
