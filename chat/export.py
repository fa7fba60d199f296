"""Export and import of a whole world as one file (§10.5, §12.5).

The export is JSON Lines: a header (format, versions, counts, the non-secret
settings of the data directory), one line per event exactly as stored (id,
kind, payload version, payload, time, chat, turn, actor), and a trailer with
the event count and a SHA-256 of the event lines, so a truncated or altered
file is refused. Projections and snapshots are not exported: everything is
rebuilt from the log. Secrets are never in the log, the settings file or the
export; as a last guard, export refuses to write a file in which a known
secret value appears. Import only goes into an empty data directory,
validates every event (kind, version, payload after upcasting, ids strictly
increasing) in one transaction, so a bad file appends nothing, and then
rebuilds the projections.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from chat.db.connection import database_path, open_db
from chat.db.migrate import applied_numbers, apply_migrations, bundled_migrations
from chat.errors import Conflict, KithError, ValidationFailed
from chat.eventlog.columns import leave_out, with_columns
from chat.eventlog.log import ACTORS, MAX_PAYLOAD_BYTES
from chat.eventlog.projector import PROJECTION_VERSION, mark_needs_rebuild
from chat.eventlog.schemas import ID_RE, SCHEMA_VERSIONS, payload_json, validate_payload
from chat.eventlog.upcasting import upcast

FORMAT = "kith-export"
FORMAT_VERSION = 1
SECRET_SETTINGS = frozenset({"api_key", "access_token"})
_ID = re.compile(ID_RE)
_COLUMNS = ("id", "kind", "version", "payload", "created_at", "chat_id", "turn_id", "actor")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    events: int
    last_event_id: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class ImportReport:
    events: int
    last_event_id: int
    seconds: float
    settings_written: bool


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@contextmanager
def _open(path: Path, mode: str, *, compressed: bool) -> Iterator[IO[str]]:
    """Text handle on ``path``; gzip-compressed when ``compressed``."""
    if compressed:
        with gzip.open(path, mode + "t", encoding="utf-8", newline="\n") as handle:
            yield handle
    else:
        with open(path, mode, encoding="utf-8", newline="\n") as handle:
            yield handle


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def export_settings(data_dir: Path) -> dict[str, Any]:
    """The data directory's settings file, without secrets or the data directory itself."""
    from chat.config import CONFIG_FILE_NAME, read_settings_file

    values = read_settings_file(Path(data_dir) / CONFIG_FILE_NAME)
    return {k: v for k, v in values.items() if k not in SECRET_SETTINGS and k != "data_dir"}


def export_log(
    conn: sqlite3.Connection,
    path: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    secrets: Iterable[str] = (),
    on_event: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write the whole event log to ``path`` atomically (temporary file, then rename)."""
    started = time.perf_counter()
    path = Path(path)
    guards = [s for s in secrets if s and len(s) >= 4]
    tmp = path.with_name(f".{path.name}.tmp")
    digest = hashlib.sha256()
    count = last_id = 0
    own_transaction = not conn.in_transaction
    if own_transaction:
        conn.execute("BEGIN")  # one read transaction: the export is one consistent log prefix
    try:
        total, end = conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM events").fetchone()
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "schema_migrations": sorted(applied_numbers(conn)),
            "projection_version": PROJECTION_VERSION,
            "event_versions": dict(sorted(SCHEMA_VERSIONS.items())),
            "event_count": total,
            "last_event_id": end,
            "settings": settings or {},
        }
        select = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE id <= ? ORDER BY id"  # noqa: S608
        with _open(tmp, "w", compressed=path.suffix == ".gz") as out:
            _write_line(out, _dumps(header), guards, "the header")
            for row in conn.execute(select, (end,)):
                record = dict(zip(_COLUMNS, row, strict=True))
                record["payload"] = with_columns(row[1], json.loads(record["payload"]), row[5], row[6])
                line = _dumps(record)
                _write_line(out, line, guards, f"event {row[0]}")
                digest.update(line.encode("utf-8") + b"\n")
                count, last_id = count + 1, row[0]
                if on_event is not None:
                    on_event(row[0])
            trailer = {"end": FORMAT, "event_count": count, "checksum": "sha256:" + digest.hexdigest()}
            out.write(_dumps(trailer) + "\n")
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if own_transaction:
            conn.execute("COMMIT")
    os.replace(tmp, path)
    return ExportReport(path, count, last_id, path.stat().st_size, time.perf_counter() - started)


def _write_line(out: IO[str], line: str, secrets: list[str], what: str) -> None:
    for secret in secrets:
        if secret in line:
            raise Conflict(f"export refused: a secret value appears in {what}; nothing was written")
    out.write(line + "\n")


def data_dir_is_empty(data_dir: Path) -> bool:
    """No events and no snapshots: the only place an import may go."""
    snapshots = Path(data_dir) / "snapshots"
    if snapshots.is_dir() and any(p.is_file() for p in snapshots.rglob("*")):
        return False
    db = database_path(data_dir)
    if not db.exists():
        return True
    with open_db(db) as conn:
        has_events = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'events'"
        ).fetchone() and conn.execute("SELECT 1 FROM events LIMIT 1").fetchone()
    return not has_events


def import_log(
    path: str | Path,
    data_dir: str | Path,
    *,
    on_event: Callable[[int], None] | None = None,
    on_header: Callable[[dict[str, Any]], None] | None = None,
) -> ImportReport:
    """Read an export into an empty data directory and mark the projections for rebuild.

    Every event is checked before the one transaction commits; the first bad line
    raises an error naming its line number and field, and nothing is appended. The
    caller rebuilds (``cold_load``) afterwards, with a progress bar if it likes.
    """
    started = time.perf_counter()
    path, data_dir = Path(path), Path(data_dir)
    if not path.is_file():
        raise ValidationFailed(f"no export file at {path}", field="file")
    if not data_dir_is_empty(data_dir):
        raise Conflict(
            f"{data_dir} already holds events or snapshots; import only into an empty data directory"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    db = database_path(data_dir)
    created = not db.exists()
    apply_migrations(db)
    try:
        with _open(path, "r", compressed=_is_gzip(path)) as lines, open_db(db) as conn:
            header = _read_header(next(lines, ""))
            if on_header is not None:
                on_header(header)
            conn.execute("BEGIN IMMEDIATE")
            count, last_id = _insert_events(conn, lines, on_event)
            mark_needs_rebuild(conn)
            conn.execute("COMMIT")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        if created:
            _remove_database(db)
        raise ValidationFailed(f"{path.name} cannot be read as an export ({exc})", field="file") from None
    except BaseException:
        if created:  # a refused import leaves the directory as it found it
            _remove_database(db)
        raise
    written = _write_settings(header.get("settings"), data_dir)
    return ImportReport(count, last_id, time.perf_counter() - started, written)


def _remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _read_header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line) if line else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValidationFailed("not a Kith export: line 1 must be its header", field="file")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValidationFailed(
            f"export format version {header.get('format_version')!r} is not supported", field="file"
        )
    written = [n for n in header.get("schema_migrations") or [] if isinstance(n, int)]
    known = max(m.number for m in bundled_migrations())
    if written and max(written) > known:  # its payloads may be in forms this Kith misreads
        raise ValidationFailed(
            f"this export was written by a newer Kith (its database at migration {max(written)},"
            f" this Kith knows {known}); upgrade Kith to import it",
            field="file",
        )
    return header


def _insert_events(
    conn: sqlite3.Connection, lines: Iterable[str], on_event: Callable[[int], None] | None
) -> tuple[int, int]:
    digest = hashlib.sha256()
    count = last_id = 0
    trailer = None
    batch: list[tuple] = []
    insert = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    for number, line in enumerate(lines, start=2):
        if trailer is not None:
            raise ValidationFailed(f"line {number}: text after the end of the export", field="file")
        record = _parse(line, number)
        if "end" in record:
            trailer = record
            continue
        row = _checked_row(record, number, last_id)
        digest.update(line.rstrip("\n").encode("utf-8") + b"\n")
        batch.append(row)
        count, last_id = count + 1, row[0]
        if len(batch) >= 5000:
            conn.executemany(insert, batch)
            batch.clear()
        if on_event is not None:
            on_event(row[0])
    conn.executemany(insert, batch)
    if trailer is None:
        raise ValidationFailed("the export is truncated: its end line is missing", field="file")
    if trailer.get("event_count") != count or trailer.get("checksum") != "sha256:" + digest.hexdigest():
        raise ValidationFailed("the export's checksum or event count does not match", field="file")
    return count, last_id


def _parse(line: str, number: int) -> dict[str, Any]:
    if len(line) > 2 * MAX_PAYLOAD_BYTES:
        raise ValidationFailed(f"line {number}: too long", field="file")
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise ValidationFailed(f"line {number}: not valid JSON", field="file") from None
    if not isinstance(record, dict):
        raise ValidationFailed(f"line {number}: must be a JSON object", field="file")
    return record


def _checked_row(record: dict[str, Any], number: int, previous_id: int) -> tuple:
    """The event row for one export line, after every check an append would make."""
    where = f"line {number}"
    unknown = set(record) - set(_COLUMNS)
    if unknown:
        raise ValidationFailed(f"{where}: unknown field(s) {sorted(unknown)}", field=sorted(unknown)[0])
    event_id, kind, version = record.get("id"), record.get("kind"), record.get("version")
    if type(event_id) is not int or event_id <= previous_id:
        raise ValidationFailed(f"{where}: id must be an integer above {previous_id}", field="id")
    if kind not in SCHEMA_VERSIONS:
        raise ValidationFailed(f"{where}: unknown event kind {kind!r}", field="kind")
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSIONS[kind]:
        raise ValidationFailed(f"{where}: bad payload version {version!r} for {kind}", field="version")
    if record.get("actor") not in ACTORS:
        raise ValidationFailed(f"{where}: actor must be one of {ACTORS}", field="actor")
    created_at = record.get("created_at")
    if not isinstance(created_at, str) or not created_at:
        raise ValidationFailed(f"{where}: created_at must be a time stamp", field="created_at")
    for name in ("chat_id", "turn_id"):
        value = record.get(name)
        if value is not None and not (isinstance(value, str) and _ID.match(value)):
            raise ValidationFailed(f"{where}: bad {name} {value!r}", field=name)
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise ValidationFailed(f"{where}: payload must be an object", field="payload")
    try:
        if version == SCHEMA_VERSIONS[kind]:  # the very text append would have stored
            chat_id, turn_id = record.get("chat_id"), record.get("turn_id")
            payload = with_columns(kind, payload, chat_id, turn_id)
            text = payload_json(kind, payload, leave_out(kind, payload, chat_id, turn_id))
        else:
            validate_payload(kind, upcast(kind, version, dict(payload)))
            text = _dumps(payload)  # an old version is stored as it was, upgraded on read
    except KithError as exc:
        raise ValidationFailed(f"{where} (event {event_id}): {exc.message}", field=exc.field) from None
    except ValueError as exc:
        raise ValidationFailed(f"{where} (event {event_id}): {exc}", field="version") from None
    return (event_id, kind, version, text, created_at, record.get("chat_id"),
            record.get("turn_id"), record["actor"])


def _write_settings(values: Any, data_dir: Path) -> bool:
    """Write the exported non-secret settings, unless the directory already has its own."""
    from chat.config import CONFIG_FILE_NAME, Settings, save_settings_file

    target = data_dir / CONFIG_FILE_NAME
    if not isinstance(values, dict) or not values or target.exists():
        return False
    clean = {k: v for k, v in values.items() if k not in SECRET_SETTINGS and k != "data_dir"}
    try:
        settings = Settings.model_validate({**clean, "data_dir": data_dir})
    except ValueError:
        return False  # settings are a convenience; a bad value never blocks the import
    save_settings_file(settings, target)
    return True

