"""Where snapshot files live: folders, names, listing, retention and quarantine (§10.4–§10.6).

Names are ``<UTC time with microseconds>Z-e<last_event_id>.json``: they sort in
time order, say which log position they hold without opening the file, and
never collide (a clash moves the time on by a microsecond). Only a name that
matches this pattern is ever resolved from user input.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chat.errors import NotFound, SnapshotInvalid, ValidationFailed
from chat.snapshots.format import lock_file, read_snapshot

KINDS = ("periodic", "manual")
KEEP = 5
_STAMP = "%Y%m%dT%H%M%S"
NAME_RE = re.compile(r"(\d{8}T\d{6})(?:\.(\d{6}))?Z(?:-e(\d+))?(?:-(\d+))?\.json")


def snapshot_dir(data_dir: str | Path, kind: str = "periodic") -> Path:
    if kind not in (*KINDS, "quarantine"):
        raise ValidationFailed(f"snapshot kind must be one of {', '.join(KINDS)}", field="kind")
    return Path(data_dir) / "snapshots" / kind


def file_name(when: datetime, last_id: int) -> str:
    stamp = when.astimezone(UTC).strftime(_STAMP) + f".{when.microsecond:06d}Z"
    return f"{stamp}-e{last_id:012d}.json"


def unused_path(folder: Path, when: datetime, last_id: int) -> Path:
    """A new file name; on a clash the time moves on by a microsecond, so names keep time order."""
    while True:
        path = folder / file_name(when, last_id)
        if not path.exists():
            return path
        when += timedelta(microseconds=1)


def name_info(path: Path) -> tuple[datetime | None, int | None]:
    """The creation time and last_event_id a snapshot's file name encodes, when it does."""
    match = NAME_RE.fullmatch(path.name)
    if not match:
        return None, None
    when = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
    if match[2]:
        when = when.replace(microsecond=int(match[2]))
    return when, int(match[3]) if match[3] else None


def snapshot_position(path: Path) -> tuple[datetime, int]:
    """(creation time, last_event_id) from the name, or from the file when the name says nothing."""
    when, last_id = name_info(path)
    if last_id is None:
        try:
            with open(path, encoding="utf-8") as handle:
                last_id = int(json.load(handle).get("last_event_id", 0))
        except (OSError, ValueError, AttributeError, TypeError, RecursionError):
            last_id = 0
    if when is None:
        when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return when, last_id


def list_snapshot_paths(data_dir: str | Path, kind: str = "periodic") -> list[Path]:
    """Snapshot files of one kind, oldest first (names sort in time order)."""
    folder = snapshot_dir(data_dir, kind)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def remove_stale_temporary_files(data_dir: str | Path) -> int:
    """Delete half-written ``.NAME.tmp`` files a killed writer left behind (never a snapshot).

    A writer holds a lock on its temporary file until it has renamed it (`write_atomically`),
    so a temporary file whose lock can be taken belongs to nobody: its writer died (kill -9,
    power loss), however recently. One being written right now by another process (a
    `kith snapshot` beside the app) is locked and stays.
    """
    removed = 0
    for kind in (*KINDS, "quarantine"):
        folder = snapshot_dir(data_dir, kind)
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            try:
                if not path.is_file() or path.is_symlink():
                    continue
                with open(path, "rb") as handle:
                    if not lock_file(handle, wait=False):
                        continue  # a live writer holds it
                    path.unlink()
                removed += 1
            except OSError:
                continue
    return removed


def latest_snapshot_path(data_dir: str | Path, kind: str = "periodic") -> Path | None:
    paths = list_snapshot_paths(data_dir, kind)
    return paths[-1] if paths else None


def snapshot_candidates(data_dir: str | Path) -> list[Path]:
    """Periodic and manual snapshots, newest log position first."""
    paths = list_snapshot_paths(data_dir, "periodic") + list_snapshot_paths(data_dir, "manual")
    return sorted(paths, key=lambda p: (snapshot_position(p)[1], p.name), reverse=True)


def is_valid_file(path: Path, schema_version: int) -> bool:
    """Header and checksum check without parsing the tables (cheap enough for pruning)."""
    try:
        read_snapshot(path, schema_version=schema_version, with_tables=False)
    except SnapshotInvalid:
        return False
    return True


def prune_periodic(
    data_dir: str | Path, keep: int, schema_version: int, known_valid: Path | None = None
) -> int:
    """Keep the newest ``keep`` periodic snapshots and always the newest valid one; never events.

    "Newest" is by name, that is by time. When the just-written file is the newest it is
    known to be valid; otherwise files are checked from the newest down until one passes.
    """
    paths = list_snapshot_paths(data_dir, "periodic")
    if len(paths) <= keep:
        return 0
    kept = set(paths[-keep:]) if keep > 0 else set()
    if known_valid is not None and known_valid == paths[-1]:
        kept.add(known_valid)
    else:
        for path in reversed(paths):
            if is_valid_file(path, schema_version):
                kept.add(path)
                break
    removed = 0
    for path in paths:
        if path not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def quarantine(data_dir: str | Path, path: Path) -> Path:
    """Move a bad snapshot aside (never delete it) so the next start does not trip on it."""
    folder = snapshot_dir(data_dir, "quarantine")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.parent.name}-{path.name}"
    counter = 1
    while target.exists():
        target = folder / f"{path.parent.name}-{counter}-{path.name}"
        counter += 1
    os.replace(path, target)
    return target


def describe(path: Path, kind: str) -> dict[str, Any]:
    when, last_id = snapshot_position(path)
    return {
        "name": path.name,
        "kind": kind,
        "created_at": when.isoformat().replace("+00:00", "Z"),
        "last_event_id": last_id,
        "size_bytes": path.stat().st_size,
    }


def list_snapshots(data_dir: str | Path) -> list[dict[str, Any]]:
    """Every periodic and manual snapshot, newest first."""
    items = [describe(path, kind) for kind in KINDS for path in list_snapshot_paths(data_dir, kind)]
    return sorted(items, key=lambda item: item["name"], reverse=True)


def find_snapshot(data_dir: str | Path, name: str) -> tuple[Path, str]:
    """Resolve a snapshot by its file name only; never a path taken from the user."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValidationFailed(f"not a snapshot name: {name!r}", field="name")
    for kind in KINDS:
        path = snapshot_dir(data_dir, kind) / name
        if path.is_file():
            return path, kind
    raise NotFound(f"no snapshot named {name!r}", field="name")


def delete_manual_snapshot(data_dir: str | Path, name: str) -> None:
    path, kind = find_snapshot(data_dir, name)
    if kind != "manual":
        raise ValidationFailed(
            "only manual snapshots can be deleted; periodic ones are pruned", field="name"
        )
    path.unlink()
