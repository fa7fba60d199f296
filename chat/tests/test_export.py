"""Export and import of a whole world (§10.5, §12.5)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from chat.db.connection import database_path, open_db
from chat.db.migrate import apply_migrations
from chat.errors import Conflict, ValidationFailed
from chat.eventlog.log import NewEvent, append_event, append_events
from chat.eventlog.projector import canonical_dump, project, projection_status
from chat.export import export_log, export_settings, import_log
from chat.snapshots.api import take_snapshot
from chat.snapshots.cold_load import cold_load

EVENTS = [
    NewEvent("bot_authored", {"id": "ada", "name": "Ada", "persona": "Ünïcode ✓"}, actor="user"),
    NewEvent("chat_created", {"id": "c1", "title": "T", "bot_ids": ["ada"]}, chat_id="c1", actor="user"),
    NewEvent("turn_queued", {"id": "t1", "chat_id": "c1"}, chat_id="c1", turn_id="t1", actor="user"),
    NewEvent("message_posted", {"id": "m1", "chat_id": "c1", "author": "you", "text": "hi"},
             chat_id="c1", turn_id="t1", actor="user"),
    NewEvent("memory_added", {"id": "mem1", "owner": "ada", "text": "said hi", "importance": 3},
             chat_id="c1", turn_id="t1", actor="model"),
    NewEvent("turn_completed", {"id": "t1", "message_ids": []}, chat_id="c1", turn_id="t1"),
    NewEvent("turns_reverted", {"chat_id": "c1", "turn_ids": ["t1"]}, chat_id="c1", actor="user"),
    NewEvent("world_fact_set", {"key": "weather", "value": "fog"}, actor="model"),
]


@pytest.fixture
def world(conn: sqlite3.Connection, data_dir: Path) -> Path:
    append_events(conn, EVENTS)
    project(conn)
    take_snapshot(conn, data_dir=data_dir, kind="manual")
    return data_dir


def _rows(path: Path) -> list[tuple]:
    with open_db(path) as conn:
        return conn.execute("SELECT * FROM events ORDER BY id").fetchall()


def _import_and_load(file: Path, target: Path) -> dict:
    report = import_log(file, target)
    with open_db(database_path(target)) as conn:
        assert projection_status(conn)[2] is True  # marked for rebuild by the import
        assert cold_load(conn, target).path == "full_replay"
        assert report.events == len(EVENTS)
        return canonical_dump(conn)


@pytest.mark.parametrize("name", ["world.kith", "world.kith.gz"])
def test_round_trip_rebuilds_the_same_world(conn: sqlite3.Connection, world: Path, tmp_path: Path,
                                            name: str) -> None:
    file = tmp_path / name
    report = export_log(conn, file)
    assert (report.events, report.last_event_id) == (len(EVENTS), len(EVENTS))
    target = tmp_path / "other"
    assert _import_and_load(file, target) == canonical_dump(conn)
    assert _rows(target / "kith.db") == _rows(world / "kith.db")  # ids, versions, times, actors
    with open_db(target / "kith.db") as copy:  # the log goes on from where it was
        assert append_event(copy, kind="world_fact_deleted", payload={"key": "weather"}) == len(EVENTS) + 1


def test_export_is_json_lines_with_header_and_trailer(conn: sqlite3.Connection, world: Path,
                                                      tmp_path: Path) -> None:
    export_log(conn, tmp_path / "w.kith")
    lines = [json.loads(line) for line in (tmp_path / "w.kith").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["format"] == "kith-export" and lines[0]["event_count"] == len(EVENTS)
    assert lines[1]["kind"] == "bot_authored" and lines[1]["version"] == 2  # v2: it names its world
    assert lines[1]["payload"]["persona"] == "Ünïcode ✓"
    assert lines[-1]["end"] == "kith-export" and lines[-1]["checksum"].startswith("sha256:")
    assert not list(tmp_path.glob(".*.tmp"))


def test_import_only_into_an_empty_data_dir(conn: sqlite3.Connection, world: Path, tmp_path: Path) -> None:
    export_log(conn, tmp_path / "w.kith")
    with pytest.raises(Conflict, match="empty data directory"):
        import_log(tmp_path / "w.kith", world)
    assert len(_rows(world / "kith.db")) == len(EVENTS)
    only_snapshots = tmp_path / "snaps"
    (only_snapshots / "snapshots" / "manual").mkdir(parents=True)
    (only_snapshots / "snapshots" / "manual" / "x.json").write_text("{}")
    with pytest.raises(Conflict):
        import_log(tmp_path / "w.kith", only_snapshots)
    empty_db = tmp_path / "emptydb"
    apply_migrations(database_path(empty_db))  # a migrated database with no events is empty
    assert import_log(tmp_path / "w.kith", empty_db).events == len(EVENTS)


def _tamper(file: Path, line_no: int, change) -> None:
    lines = file.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line_no - 1])
    change(record)
    lines[line_no - 1] = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        (lambda r: r["payload"].update(importance=11), r"line 6 \(event 5\).*importance", "importance"),
        (lambda r: r.update(kind="memory_forgotten"), "line 6: unknown event kind", "kind"),
        (lambda r: r.update(id=2), "line 6: id must be an integer above 4", "id"),
        (lambda r: r.update(version=7), "bad payload version 7", "version"),
        (lambda r: r.update(actor="robot"), "actor must be one of", "actor"),
        (lambda r: r.update(secret="x"), "unknown field", "secret"),
    ],
)
def test_a_bad_event_is_named_and_nothing_is_imported(
    conn: sqlite3.Connection, world: Path, tmp_path: Path, change, message: str, field: str
) -> None:
    file = tmp_path / "w.kith"
    export_log(conn, file)
    _tamper(file, 6, change)
    target = tmp_path / "other"
    with pytest.raises(ValidationFailed, match=message) as caught:
        import_log(file, target)
    assert caught.value.field == field
    assert not (target / "kith.db").exists()  # a refused import leaves no database behind


def test_truncated_or_altered_exports_are_refused(conn: sqlite3.Connection, world: Path,
                                                   tmp_path: Path) -> None:
    file = tmp_path / "w.kith"
    export_log(conn, file)
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "cut.kith").write_text("".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(ValidationFailed, match="truncated"):
        import_log(tmp_path / "cut.kith", tmp_path / "a")
    _tamper(file, 9, lambda r: r["payload"].update(value="sunny"))  # still a valid event
    with pytest.raises(ValidationFailed, match="checksum"):
        import_log(file, tmp_path / "b")
    (tmp_path / "junk.kith").write_bytes(b"\x00\x01 not an export")
    with pytest.raises(ValidationFailed, match="not a Kith export|cannot be read"):
        import_log(tmp_path / "junk.kith", tmp_path / "c")
    gz = tmp_path / "broken.kith.gz"
    gz.write_bytes(gzip.compress(file.read_bytes())[:-20])
    with pytest.raises(ValidationFailed, match="cannot be read"):
        import_log(gz, tmp_path / "d")
    for target in "abcd":
        assert list((tmp_path / target).iterdir()) == []


def test_an_export_of_a_newer_kith_is_refused_by_name(conn: sqlite3.Connection, world: Path, tmp_path: Path) -> None:
    """Its payloads may be in forms this Kith would store and then misread (migration 0105)."""
    file = tmp_path / "w.kith"
    export_log(conn, file)
    _tamper(file, 1, lambda header: header["schema_migrations"].append(9999))
    with pytest.raises(ValidationFailed, match=r"written by a newer Kith \(its database at migration 9999"):
        import_log(file, tmp_path / "newer")
    assert not (tmp_path / "newer").exists() or not any((tmp_path / "newer").iterdir())  # nothing written


def test_secrets_never_leave_in_an_export(conn: sqlite3.Connection, data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "kith.toml").write_text('backend = "openai"\nmodel = "llama3"\nmemory_top_k = 5\n')
    assert export_settings(data_dir) == {"backend": "openai", "model": "llama3", "memory_top_k": 5}
    append_event(conn, kind="world_fact_set", payload={"key": "note", "value": "the key is sk-live-123456"})
    file = tmp_path / "w.kith"
    with pytest.raises(Conflict, match="secret value appears in event 1"):
        export_log(conn, file, secrets=["sk-live-123456"])
    assert not file.exists() and not list(tmp_path.glob(".*"))
    report = export_log(conn, file, settings=export_settings(data_dir), secrets=["other-secret"])
    assert report.events == 1
    target = tmp_path / "other"
    assert import_log(file, target).settings_written
    assert 'model = "llama3"' in (target / "kith.toml").read_text()
    assert "api_key =" not in (target / "kith.toml").read_text()
