"""The snapshot file: one JSON document, written atomically, checked before use (§10.4, §10.7).

Layout: a small header object (format, versions, creation time, ``last_event_id``,
a fingerprint of that event, a checksum) whose last member is ``"tables"``,
every projection table as ``{"columns": [...], "rows": [[...], ...]}``. The
checksum is the SHA-256 of the exact bytes of the ``tables`` value, so a
reader verifies it before parsing the tables (a truncated or altered file is
refused cheaply) and never re-serialises them. Files written by hand in
another layout are still accepted: the checksum is then recomputed over the
canonical serialisation. Nothing in a file is ever executed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chat.errors import SnapshotInvalid

FORMAT = "kith-snapshot"
FORMAT_VERSION = 1
_TABLES_KEY = b',"tables":'
_HEADER_LIMIT = 4096


@dataclass(frozen=True)
class SnapshotData:
    path: Path
    last_event_id: int
    created_at: str
    kind: str
    tables: dict[str, dict[str, list]]
    log_fingerprint: str | None = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while a whole snapshot is parsed or gathered.

    Building a million small objects triggers collection after collection, each walking
    everything built so far (about a third of the parse time); JSON values hold no cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def event_fingerprint(conn: sqlite3.Connection, event_id: int) -> str | None:
    """A short hash of one event, so a snapshot can be matched to the log it was taken from."""
    if event_id <= 0:
        return None
    row = conn.execute(
        "SELECT id, kind, created_at, payload FROM events WHERE id = ?", (event_id,)
    ).fetchone()
    if row is None:
        return None
    text = f"{row[0]}|{row[1]}|{row[2]}|{row[3]}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def encode_snapshot(
    *,
    tables: dict[str, dict[str, list]],
    last_event_id: int,
    kind: str,
    schema_version: int,
    created: datetime,
    log_fingerprint: str | None,
) -> bytes:
    """The bytes of a snapshot file for these tables."""
    tables_bytes = dump_json(tables).encode("utf-8")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": schema_version,
        "kind": kind,
        "created_at": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "last_event_id": last_event_id,
        "log_fingerprint": log_fingerprint,
        "checksum": checksum(tables_bytes),
    }
    return dump_json(header).encode("utf-8")[:-1] + _TABLES_KEY + tables_bytes + b"}"


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename, fsync of the folder: a reader sees all or nothing."""
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


def _loads(data: bytes | str, what: str, name: str) -> Any:
    try:
        with gc_paused():
            return json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise SnapshotInvalid(f"{name}: {what} is not valid JSON, or is truncated ({exc})") from None


def _split(raw: bytes, name: str) -> tuple[dict[str, Any], bytes | None]:
    """(header, exact bytes of the tables value) for our layout; (whole document, None) otherwise."""
    at = raw.find(_TABLES_KEY, 0, _HEADER_LIMIT)
    if at > 0 and raw.startswith(b"{") and raw.rstrip().endswith(b"}"):
        try:
            header = json.loads(raw[:at] + b"}")
        except (ValueError, RecursionError, UnicodeDecodeError):
            header = None
        if isinstance(header, dict) and "tables" not in header:
            return header, raw[at + len(_TABLES_KEY) : len(raw.rstrip()) - 1]
    return _loads(raw, "the file", name), None


def read_snapshot(path: Path, *, schema_version: int, with_tables: bool = True) -> SnapshotData:
    """Read and check a snapshot file; raise SnapshotInvalid saying what is wrong with it."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SnapshotInvalid(f"{name}: cannot be read ({exc})") from None
    data, tables_bytes = _split(raw, name)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotInvalid(f"{name}: not a Kith snapshot")
    if data.get("format_version") != FORMAT_VERSION:
        raise SnapshotInvalid(f"{name}: format version {data.get('format_version')!r}")
    if data.get("schema_version") != schema_version:
        raise SnapshotInvalid(
            f"{name}: schema version {data.get('schema_version')!r}, this Kith needs {schema_version}"
        )
    last_id = data.get("last_event_id")
    if type(last_id) is not int or last_id < 0:
        raise SnapshotInvalid(f"{name}: missing or bad last_event_id")
    fingerprint = data.get("log_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise SnapshotInvalid(f"{name}: bad log_fingerprint")
    if tables_bytes is not None:
        if data.get("checksum") != checksum(tables_bytes):
            raise SnapshotInvalid(f"{name}: checksum mismatch (file altered or truncated)")
        tables = _loads(tables_bytes, "the tables section", name) if with_tables else {}
    else:
        tables = data.get("tables")
        if not isinstance(tables, dict):
            raise SnapshotInvalid(f"{name}: missing tables")
        if data.get("checksum") != checksum(dump_json(tables).encode("utf-8")):
            raise SnapshotInvalid(f"{name}: checksum mismatch")
    if not isinstance(tables, dict):
        raise SnapshotInvalid(f"{name}: tables must be an object")
    return SnapshotData(
        path, last_id, str(data.get("created_at", "")), str(data.get("kind", "")), tables, fingerprint
    )


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def checked_tables(
    conn: sqlite3.Connection, snapshot: SnapshotData, known: list[str]
) -> list[tuple[str, list[str], list]]:
    """(table, columns, rows) to restore, after checking every name against the schema.

    A snapshot must hold exactly the known projection tables, each with exactly its
    columns, and rows that are lists: anything else (an extra table or column, a name
    that looks like SQL, a missing table) makes the whole file invalid. Names that
    reach SQL are always the schema's own, never the file's.
    """
    name = snapshot.path.name
    tables = snapshot.tables
    extra = sorted(str(t) for t in tables if t not in known)
    if extra:
        raise SnapshotInvalid(f"{name}: unknown table(s) {extra!r}")
    missing = [t for t in known if t not in tables]
    if missing:
        raise SnapshotInvalid(f"{name}: missing table(s) {missing!r}")
    plan = []
    for table in known:
        content = tables[table]
        columns = content.get("columns") if isinstance(content, dict) else None
        rows = content.get("rows") if isinstance(content, dict) else None
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise SnapshotInvalid(f"{name}: table {table} has no columns or rows list")
        schema_columns = table_columns(conn, table)
        if sorted(map(str, columns)) != sorted(schema_columns) or len(columns) != len(schema_columns):
            raise SnapshotInvalid(
                f"{name}: table {table} has columns {columns!r}, expected {schema_columns!r}"
            )
        if not all(type(row) is list for row in rows):
            raise SnapshotInvalid(f"{name}: table {table} has a row that is not a list")
        # Map the file's column order onto the schema's names (the file's strings are not used).
        ordered = [schema_columns[schema_columns.index(c)] for c in columns]
        plan.append((table, ordered, rows))
    return plan
