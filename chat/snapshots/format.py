"""The snapshot file: one JSON document, written atomically, checked before use (§10.4, §10.7).
Over ``COMPRESS_OVER`` bytes it is written zstd-compressed (`packed`); readers inflate it
first (`unpacked`, which also reads the gzip files older Kiths wrote), so everything
below is about the JSON either way.

Layout: a small header object (format, versions, creation time, ``last_event_id``,
a fingerprint of that event, a checksum, and ``table_ranges``) whose last member
is ``"tables"``, every projection table as ``{"columns": [...], "rows": [[...], ...]}``.
The checksum is the SHA-256 of the exact bytes of the ``tables`` value, so a
reader verifies it before parsing the tables (a truncated or altered file is
refused cheaply) and never re-serialises them.

``table_ranges`` maps each table to the byte range of its value inside the
``tables`` value, so a restore parses and inserts one table at a time instead
of holding every row of the world as Python objects at once (a third less
time at 100k events, and a fraction of the peak memory). The header is not
under the checksum, so the ranges are trusted only after they are shown to
tile the checksummed bytes exactly: ``{"name":<range>,"name":<range>}`` with
nothing else in between, each name as written in the file. Files without
ranges (older ones) or written by hand in another layout are still accepted:
they are parsed whole, and for the latter the checksum is recomputed over the
canonical serialisation. Nothing in a file is ever executed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from chat.errors import SnapshotInvalid
from chat.snapshots.packing import unpacked

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
    tables: Mapping[str, Any]  # a dict, or LazyTables parsing one table per lookup
    log_fingerprint: str | None = None


class LazyTables(Mapping[str, Any]):
    """The tables of a checked snapshot file, each parsed from its own byte range on lookup.

    Nothing is cached, so a restore that handles one table at a time frees its rows
    before the next table is parsed. Built only from ranges ``verified_ranges`` accepted.
    """

    def __init__(self, raw: bytes, base: int, ranges: dict[str, tuple[int, int]], name: str) -> None:
        self._raw = raw
        self._base = base
        self._ranges = ranges
        self._name = name

    def __getitem__(self, table: str) -> Any:
        start, stop = self._ranges[table]
        return _loads(self._raw[self._base + start : self._base + stop], f"table {table}", self._name)

    def __contains__(self, table: object) -> bool:  # Mapping's own would parse the table
        return table in self._ranges

    def __iter__(self) -> Iterator[str]:
        return iter(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)


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


def table_json(content: Any) -> bytes:
    """``dump_json(content)``'s values as UTF-8 JSON, for a table's columns and rows, 7x
    faster (orjson: 0.06 s against 0.37 s for a 100k-event world's 41 MB, a third of the
    snapshot write; docs/benchmarks.md, "Snapshot write"). The same bytes but for how
    some floats are spelt (``1e-5`` for ``1e-05``); the checksum covers the bytes written,
    so nothing re-serialises them. Where the two would differ otherwise they cannot meet
    here: a projection holds no NaN (SQLite stores it as NULL) and no infinity (its
    numbers come from JSON payloads and clamped sums), and its integers fit in 64 bits.
    `test_snapshot_encoding.py` holds the two encoders to the same values and bytes."""
    return orjson.dumps(content)


def checksum(data: bytes | memoryview) -> str:
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


def encode_snapshot(**fields: Any) -> bytes:
    """The bytes of a snapshot file for these tables (see ``encode_snapshot_parts``)."""
    return b"".join(encode_snapshot_parts(**fields))


def encode_snapshot_parts(
    *,
    tables: dict[str, dict[str, list]],
    last_event_id: int,
    kind: str,
    schema_version: int,
    created: datetime,
    log_fingerprint: str | None,
) -> list[bytes]:
    """The bytes of a snapshot file for these tables, as consecutive parts.

    The ``tables`` value holds ``dump_json(tables)``'s values (`table_json`), written table by table so the
    byte range of each table's value can go into the header. The parts are written one
    after the other, never joined: at 1M events the file is ~400 MB, and each join or
    concatenation copied all of it (three copies took a sixth of the write).
    """
    parts: list[bytes] = []
    ranges: dict[str, list[int]] = {}
    digest = hashlib.sha256()
    at = 0
    for number, (table, content) in enumerate(tables.items()):
        label = ("{" if number == 0 else ",").encode() + dump_json(table).encode("utf-8") + b":"
        value = table_json(content)
        parts += [label, value]
        digest.update(label)
        digest.update(value)
        ranges[table] = [at + len(label), at + len(label) + len(value)]
        at = ranges[table][1]
    parts.append(b"}" if parts else b"{}")
    digest.update(parts[-1])
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": schema_version,
        "kind": kind,
        "created_at": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "last_event_id": last_event_id,
        "log_fingerprint": log_fingerprint,
        "checksum": "sha256:" + digest.hexdigest(),
        "table_ranges": ranges,
    }
    return [dump_json(header).encode("utf-8")[:-1] + _TABLES_KEY, *parts, b"}"]


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: ``.NAME.tmp``."""
    return path.with_name(f".{path.name}.tmp")


def lock_file(handle: Any, *, wait: bool) -> bool:
    """An exclusive advisory lock on an open file, held until it is closed; False when
    another process holds it (``wait=False``). Without ``fcntl`` there are no locks: True."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def write_atomically(path: Path, data: bytes | list[bytes]) -> None:
    """Temporary file, fsync, rename, fsync of the folder: a reader sees all or nothing.

    The writer holds a lock on its temporary file while it lives, so a temporary file
    that nobody holds is a leftover of a killed writer (see `remove_stale_temporary_files`).
    """
    tmp = temporary_path(path)
    while True:
        with open(tmp, "wb") as handle:
            lock_file(handle, wait=True)
            try:
                if os.stat(tmp).st_ino != os.fstat(handle.fileno()).st_ino:
                    continue  # a cleaner took it for a leftover before the lock: again
            except FileNotFoundError:
                continue
            for part in [data] if isinstance(data, bytes) else data:
                handle.write(part)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, path)  # renamed while still locked: never mistaken for a leftover
        break
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refuse_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a value a snapshot holds")


def _loads(data: bytes | str, what: str, name: str) -> Any:
    try:
        with gc_paused():
            return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise SnapshotInvalid(f"{name}: {what} is not valid JSON, or is truncated ({exc})") from None


def _split(raw: bytes, name: str) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """(header, (start, stop) of the tables value in ``raw``) for our layout; (document, None) else."""
    at = raw.find(_TABLES_KEY, 0, _HEADER_LIMIT)
    if at > 0 and raw.startswith(b"{") and raw.rstrip().endswith(b"}"):
        try:
            header = json.loads(raw[:at] + b"}")
        except (ValueError, RecursionError, UnicodeDecodeError):
            header = None
        if isinstance(header, dict) and "tables" not in header:
            return header, (at + len(_TABLES_KEY), len(raw.rstrip()) - 1)
    return _loads(raw, "the file", name), None


def verified_ranges(
    ranges: Any, section: memoryview, name: str
) -> dict[str, tuple[int, int]]:
    """The header's ``table_ranges``, once shown to tile the checksummed ``tables`` bytes.

    They must be in file order and contiguous: ``{`` then, for each table, its name as
    JSON and a colon right before its range, a comma between tables, ``}`` after the
    last. So no range can point outside the section, overlap another, skip bytes or
    carry another table's name; what each range holds is checked when it is parsed.
    """
    if not isinstance(ranges, dict):
        raise SnapshotInvalid(f"{name}: table_ranges must be an object")
    at = 0
    for number, (table, span) in enumerate(ranges.items()):
        if (
            type(span) is not list
            or len(span) != 2
            or type(span[0]) is not int
            or type(span[1]) is not int
        ):
            raise SnapshotInvalid(f"{name}: table_ranges has a bad range for table {table!r}")
        label = (b"{" if number == 0 else b",") + dump_json(table).encode("utf-8") + b":"
        start, stop = span
        if start != at + len(label) or not start < stop <= len(section) or section[at:start] != label:
            raise SnapshotInvalid(
                f"{name}: table_ranges do not match the tables section (at table {table!r})"
            )
        at = stop
    if section[at:] != (b"}" if ranges else b"{}"):
        raise SnapshotInvalid(f"{name}: table_ranges do not cover the tables section")
    return {table: (span[0], span[1]) for table, span in ranges.items()}


def read_snapshot(path: Path, *, schema_version: int, with_tables: bool = True) -> SnapshotData:
    """Read and check a snapshot file; raise SnapshotInvalid saying what is wrong with it."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SnapshotInvalid(f"{name}: cannot be read ({exc})") from None
    raw = unpacked(raw, name)
    data, span = _split(raw, name)
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
    tables: Mapping[str, Any]
    if span is not None:
        section = memoryview(raw)[span[0] : span[1]]
        if data.get("checksum") != checksum(section):
            raise SnapshotInvalid(f"{name}: checksum mismatch (file altered or truncated)")
        if "table_ranges" in data:
            ranges = verified_ranges(data["table_ranges"], section, name)
            tables = LazyTables(raw, span[0], ranges, name)
        else:  # written before table_ranges: parsed whole
            tables = _loads(section.tobytes(), "the tables section", name) if with_tables else {}
    else:
        tables = data.get("tables")
        if not isinstance(tables, dict):
            raise SnapshotInvalid(f"{name}: missing tables")
        if data.get("checksum") != checksum(dump_json(tables).encode("utf-8")):
            raise SnapshotInvalid(f"{name}: checksum mismatch")
    if not isinstance(tables, Mapping):
        raise SnapshotInvalid(f"{name}: tables must be an object")
    return SnapshotData(
        path, last_id, str(data.get("created_at", "")), str(data.get("kind", "")), tables, fingerprint
    )


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def check_table_names(snapshot: SnapshotData, known: list[str]) -> None:
    """Refuse a snapshot that does not hold exactly the known projection tables."""
    name = snapshot.path.name
    extra = sorted(str(t) for t in snapshot.tables if t not in known)
    if extra:
        raise SnapshotInvalid(f"{name}: unknown table(s) {extra!r}")
    missing = [t for t in known if t not in snapshot.tables]
    if missing:
        raise SnapshotInvalid(f"{name}: missing table(s) {missing!r}")


def checked_table(
    conn: sqlite3.Connection, snapshot: SnapshotData, table: str
) -> tuple[list[str], list]:
    """(columns, rows) of one known table, after checking its columns against the schema.

    The table must have exactly its schema's columns (in any order) and rows that are
    lists; anything else (an extra column, a name that looks like SQL) makes the whole
    file invalid. The column names returned are the schema's own, never the file's.
    """
    name = snapshot.path.name
    content = snapshot.tables[table]
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
    return [schema_columns[schema_columns.index(c)] for c in columns], rows


def checked_tables(
    conn: sqlite3.Connection, snapshot: SnapshotData, known: list[str]
) -> Iterator[tuple[str, list[str], list]]:
    """(table, columns, rows) to restore, one table at a time, every name checked first.

    A snapshot must hold exactly the known projection tables, each with exactly its
    columns (see ``checked_table``). Names that reach SQL are always the schema's own.
    Raises SnapshotInvalid before yielding anything when the set of tables is wrong.
    """
    check_table_names(snapshot, known)
    return ((table, *checked_table(conn, snapshot, table)) for table in known)
