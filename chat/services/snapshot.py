"""Snapshots of the projection tables, and the cold load that uses them (§10.4–§10.7).

A snapshot is one JSON file holding every projection table as of one
``last_event_id``, read in one transaction (so it is exactly the fold of
events 1..last_event_id even while appends go on) and written atomically.
Cold load restores the newest usable snapshot and replays the tail; a bad
snapshot is moved to ``snapshots/quarantine/`` and the next older one tried,
so start never fails because of a snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chat.db.connection import transaction
from chat.errors import NotFound, SnapshotInvalid, ValidationFailed
from chat.eventlog.log import last_event_id
from chat.eventlog.projector import (
    PROJECTION_VERSION,
    clear_projections,
    get_cursor,
    project,
    projection_status,
    projection_tables,
    rebuild,
    set_cursor,
)

log = logging.getLogger("kith.snapshot")

FORMAT = "kith-snapshot"
FORMAT_VERSION = 1
KINDS = ("periodic", "manual")
EVERY_EVENTS = 100
EVERY = timedelta(minutes=30)
KEEP = 5
_STAMP = "%Y%m%dT%H%M%S"
_NAME_RE = re.compile(r"^(\d{8}T\d{6})(?:\.(\d{6}))?Z(?:-e(\d+))?(?:-(\d+))?\.json$")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def snapshot_dir(data_dir: str | Path, kind: str = "periodic") -> Path:
    if kind not in (*KINDS, "quarantine"):
        raise ValidationFailed(f"snapshot kind must be one of {', '.join(KINDS)}", field="kind")
    return Path(data_dir) / "snapshots" / kind


# --- naming ------------------------------------------------------------------


def _file_name(when: datetime, last_id: int, counter: int = 0) -> str:
    stamp = when.astimezone(UTC).strftime(_STAMP) + f".{when.microsecond:06d}Z-e{last_id:012d}"
    return f"{stamp}{'-' + str(counter) if counter else ''}.json"


def _name_info(path: Path) -> tuple[datetime | None, int | None]:
    """The creation time and last_event_id a snapshot's file name encodes, when it does."""
    match = _NAME_RE.match(path.name)
    if not match:
        return None, None
    when = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
    if match[2]:
        when = when.replace(microsecond=int(match[2]))
    return when, int(match[3]) if match[3] else None


def list_snapshot_paths(data_dir: str | Path, kind: str = "periodic") -> list[Path]:
    """Snapshot files of one kind, oldest first (names sort in time order)."""
    folder = snapshot_dir(data_dir, kind)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def latest_snapshot_path(data_dir: str | Path, kind: str = "periodic") -> Path | None:
    paths = list_snapshot_paths(data_dir, kind)
    return paths[-1] if paths else None


# --- writing -----------------------------------------------------------------


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _checksum(tables_json: str) -> str:
    return "sha256:" + hashlib.sha256(tables_json.encode("utf-8")).hexdigest()


def read_tables(conn: sqlite3.Connection) -> tuple[int, dict[str, dict[str, list]]]:
    """Read the cursor and every projection table in one read transaction."""
    own_transaction = not conn.in_transaction
    if own_transaction:
        conn.execute("BEGIN")
    try:
        last_id = get_cursor(conn)
        tables: dict[str, dict[str, list]] = {}
        for table in projection_tables():
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")  # noqa: S608
            columns = [d[0] for d in cursor.description]
            tables[table] = {"columns": columns, "rows": cursor.fetchall()}
    finally:
        if own_transaction:
            conn.execute("COMMIT")
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
    folder = snapshot_dir(data_dir, kind)
    if kind == "quarantine":
        raise ValidationFailed("cannot take a quarantine snapshot", field="kind")
    folder.mkdir(parents=True, exist_ok=True)
    last_id, tables = read_tables(conn)
    when = clock()
    tables_json = _dump_json(tables)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": PROJECTION_VERSION,
        "kind": kind,
        "created_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "last_event_id": last_id,
        "checksum": _checksum(tables_json),
    }
    body = _dump_json(header)[:-1] + ',"tables":' + tables_json + "}"
    path = _unused_path(folder, when, last_id)
    _atomic_write(path, body.encode("utf-8"))
    if kind == "periodic":
        prune_periodic_snapshots(data_dir, keep=keep, known_valid=path)
    log.info("snapshot %s written: last_event_id=%d, %d bytes", path.name, last_id, len(body))
    return path


def _unused_path(folder: Path, when: datetime, last_id: int) -> Path:
    counter = 0
    while True:
        path = folder / _file_name(when, last_id, counter)
        if not path.exists():
            return path
        counter += 1


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- policy ------------------------------------------------------------------


def _snapshot_position(path: Path) -> tuple[datetime, int]:
    when, last_id = _name_info(path)
    if last_id is None:
        try:
            with open(path, encoding="utf-8") as handle:
                last_id = int(json.load(handle).get("last_event_id", 0))
        except (OSError, ValueError, AttributeError):
            last_id = 0
    if when is None:
        when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return when, last_id


def should_take_periodic_snapshot(
    conn: sqlite3.Connection,
    data_dir: str | Path,
    *,
    clock: Clock = utc_now,
    every_events: int = EVERY_EVENTS,
    every: timedelta = EVERY,
) -> bool:
    """True after ``every_events`` new events or ``every`` time since the last periodic snapshot."""
    projected = get_cursor(conn)
    latest = latest_snapshot_path(data_dir, "periodic")
    if latest is None:
        return projected > 0
    when, last_id = _snapshot_position(latest)
    new_events = projected - last_id
    if new_events >= every_events:
        return True
    return new_events > 0 and clock() - when >= every


def prune_periodic_snapshots(
    data_dir: str | Path, keep: int = KEEP, *, known_valid: Path | None = None
) -> int:
    """Keep the newest ``keep`` periodic snapshots, and always the newest valid one."""
    paths = list_snapshot_paths(data_dir, "periodic")
    if len(paths) <= keep:
        return 0
    kept = set(paths[-keep:]) if keep > 0 else set()
    newest_valid = known_valid if known_valid in paths else _newest_valid(paths)
    if newest_valid is not None:
        kept.add(newest_valid)
    removed = 0
    for path in paths:
        if path not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _newest_valid(paths: list[Path]) -> Path | None:
    for path in reversed(paths):
        try:
            load_snapshot(path)
            return path
        except SnapshotInvalid:
            continue
    return None


# --- reading and restoring ----------------------------------------------------


@dataclass(frozen=True)
class SnapshotData:
    path: Path
    last_event_id: int
    created_at: str
    kind: str
    tables: dict[str, dict[str, list]]


def load_snapshot(path: str | Path) -> SnapshotData:
    """Read and check a snapshot file; raise SnapshotInvalid saying what is wrong with it."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SnapshotInvalid(f"{path.name}: unreadable or truncated ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotInvalid(f"{path.name}: not a Kith snapshot")
    if data.get("format_version") != FORMAT_VERSION:
        raise SnapshotInvalid(f"{path.name}: format version {data.get('format_version')!r}")
    if data.get("schema_version") != PROJECTION_VERSION:
        raise SnapshotInvalid(
            f"{path.name}: schema version {data.get('schema_version')!r},"
            f" this Kith needs {PROJECTION_VERSION}"
        )
    tables = data.get("tables")
    last_id = data.get("last_event_id")
    if not isinstance(tables, dict) or not isinstance(last_id, int) or last_id < 0:
        raise SnapshotInvalid(f"{path.name}: missing tables or last_event_id")
    if data.get("checksum") != _checksum(_dump_json(tables)):
        raise SnapshotInvalid(f"{path.name}: checksum mismatch")
    return SnapshotData(path, last_id, str(data.get("created_at", "")), str(data.get("kind", "")), tables)


def _table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def restore_tables(conn: sqlite3.Connection, snapshot: SnapshotData) -> int:
    """Replace the projections with the snapshot's rows; only known tables and columns are written."""
    known = projection_tables()
    with transaction(conn):
        clear_projections(conn)
        for table, content in snapshot.tables.items():
            if table not in known:
                log.warning("snapshot %s: ignoring unknown table %r", snapshot.path.name, table)
                continue
            columns = content.get("columns") if isinstance(content, dict) else None
            rows = content.get("rows") if isinstance(content, dict) else None
            if not isinstance(columns, list) or not isinstance(rows, list):
                raise SnapshotInvalid(f"{snapshot.path.name}: table {table} is malformed")
            allowed = set(_table_columns(conn, table))
            keep = [i for i, name in enumerate(columns) if name in allowed]
            names = [columns[i] for i in keep]
            if not names:
                continue
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
            try:
                if len(keep) == len(columns):
                    conn.executemany(sql, rows)
                else:
                    conn.executemany(sql, ([row[i] for i in keep] for row in rows))
            except (sqlite3.Error, TypeError, IndexError, ValueError) as exc:
                raise SnapshotInvalid(
                    f"{snapshot.path.name}: rows of {table} cannot be restored ({exc})"
                ) from None
        set_cursor(conn, snapshot.last_event_id)
    return snapshot.last_event_id


def restore_from_snapshot(conn: sqlite3.Connection, path: str | Path) -> int:
    """Restore the projections from one snapshot file; return its last_event_id."""
    return restore_tables(conn, load_snapshot(path))


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


# --- cold load -----------------------------------------------------------------


@dataclass(frozen=True)
class ColdLoadReport:
    path: str  # "tail", "snapshot" or "full_replay"
    seconds: float
    snapshot: str | None = None
    replayed: int = 0
    quarantined: tuple[str, ...] = ()
    last_event_id: int = 0


def snapshot_candidates(data_dir: str | Path) -> list[Path]:
    """Periodic and manual snapshots, newest log position first."""
    paths = list_snapshot_paths(data_dir, "periodic") + list_snapshot_paths(data_dir, "manual")
    return sorted(paths, key=lambda p: (_snapshot_position(p)[1], p.name), reverse=True)


def cold_load(
    conn: sqlite3.Connection,
    data_dir: str | Path,
    *,
    force_rebuild: bool = False,
    on_event: Callable[[int], None] | None = None,
) -> ColdLoadReport:
    """Bring the projections up to date at start (§10.6), by the fastest safe path."""
    started = time.perf_counter()
    log_end = last_event_id(conn)
    status = projection_status(conn)
    current = (
        status is not None
        and status[1] == PROJECTION_VERSION
        and not status[2]
        and status[0] <= log_end
    )
    if current and not force_rebuild:
        result = project(conn, on_event=on_event)
        return _report("tail", started, None, result.applied, (), result.last_event_id)
    quarantined: list[str] = []
    for candidate in snapshot_candidates(data_dir):
        try:
            snapshot = load_snapshot(candidate)
            if snapshot.last_event_id > log_end:
                raise SnapshotInvalid(
                    f"{candidate.name}: ahead of the log ({snapshot.last_event_id} > {log_end})"
                )
            restore_tables(conn, snapshot)
        except SnapshotInvalid as exc:
            moved = quarantine(data_dir, candidate)
            quarantined.append(moved.name)
            log.warning("skipping snapshot: %s; moved to %s", exc.message, moved)
            continue
        result = project(conn, on_event=on_event)
        return _report(
            "snapshot", started, candidate.name, result.applied, tuple(quarantined), result.last_event_id
        )
    with transaction(conn):
        clear_projections(conn)
    result = rebuild(conn, on_event=on_event)
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


# --- listing and deleting -------------------------------------------------------


def describe(path: Path, kind: str) -> dict[str, Any]:
    when, last_id = _snapshot_position(path)
    return {
        "name": path.name,
        "kind": kind,
        "created_at": when.isoformat().replace("+00:00", "Z"),
        "last_event_id": last_id,
        "size_bytes": path.stat().st_size,
    }


def list_snapshots(data_dir: str | Path) -> list[dict[str, Any]]:
    items = [
        describe(path, kind) for kind in KINDS for path in list_snapshot_paths(data_dir, kind)
    ]
    return sorted(items, key=lambda item: item["name"], reverse=True)


def find_snapshot(data_dir: str | Path, name: str) -> tuple[Path, str]:
    """Resolve a snapshot by its file name only; never a path taken from the user."""
    if not _NAME_RE.match(name):
        raise ValidationFailed(f"not a snapshot name: {name!r}", field="name")
    for kind in KINDS:
        path = snapshot_dir(data_dir, kind) / name
        if path.is_file():
            return path, kind
    raise NotFound(f"no snapshot named {name!r}", field="name")


def delete_manual_snapshot(data_dir: str | Path, name: str) -> None:
    path, kind = find_snapshot(data_dir, name)
    if kind != "manual":
        raise ValidationFailed("only manual snapshots can be deleted; periodic ones are pruned", field="name")
    path.unlink()
