"""The core commands of ``kith`` (§11.3–§11.4): exit codes, output, then rows in the database."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat import bench
from chat.cli import main
from chat.db.connection import database_path, open_db
from chat.eventlog.log import NewEvent, append_event, append_events
from chat.eventlog.projector import project

WORLD = [
    NewEvent("bot_authored", {"id": "ada", "name": "Ada"}, actor="user"),
    NewEvent("chat_created", {"id": "c1", "title": "Tea", "bot_ids": ["ada"]}, chat_id="c1", actor="user"),
    NewEvent("turn_queued", {"id": "t1", "chat_id": "c1"}, chat_id="c1", turn_id="t1", actor="user"),
    NewEvent("memory_added", {"id": "m1", "owner": "ada", "text": "likes tea", "importance": 4},
             chat_id="c1", turn_id="t1", actor="model"),
    NewEvent("turn_completed", {"id": "t1"}, chat_id="c1", turn_id="t1"),
    NewEvent("world_fact_set", {"key": "weather", "value": "fog"}, actor="model"),
    NewEvent("turns_reverted", {"chat_id": "c1", "turn_ids": ["t1"]}, chat_id="c1", actor="user"),
]


def kith(*args: str, data_dir: Path | None = None) -> object:
    runner = CliRunner()
    full = [*args] + (["--data-dir", str(data_dir)] if data_dir is not None else [])
    return runner.invoke(main, full, catch_exceptions=False)


@pytest.fixture
def world(conn: sqlite3.Connection, data_dir: Path) -> Path:
    append_events(conn, WORLD)
    project(conn)
    return data_dir


def _count(data_dir: Path, sql: str) -> int:
    with open_db(database_path(data_dir)) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.parametrize(
    "command",
    [["snapshot"], ["snapshot", "take"], ["snapshot", "list"], ["snapshot", "restore"], ["rebuild"],
     ["export"], ["import"], ["events"], ["bench"]],
)
def test_every_command_has_help_and_the_common_options(command: list[str]) -> None:
    result = kith(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines[1].strip()) > 10  # the docstring's first line
    if command != ["snapshot"]:
        assert "--data-dir" in result.stdout and "--backend" in result.stdout


def test_snapshot_take_list_restore(world: Path) -> None:
    taken = kith("snapshot", "take", data_dir=world)
    assert taken.exit_code == 0, taken.output
    name = taken.stdout.split("\t")[0]
    assert "\tmanual\tlast_event_id=7\t" in taken.stdout
    assert (world / "snapshots" / "manual" / name).is_file()

    listed = kith("snapshot", "list", data_dir=world)
    assert listed.exit_code == 0 and listed.stdout.startswith(f"{name}\tmanual\tlast_event_id=7\t")

    with open_db(database_path(world)) as conn:
        append_event(conn, kind="world_fact_set", payload={"key": "weather", "value": "rain"})
        conn.execute("DELETE FROM world_facts")  # damage the projection; the log is intact
    restored = kith("snapshot", "restore", name, data_dir=world)
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.strip() == f"restored {name} (last_event_id=7) and replayed 1 events"
    with open_db(database_path(world)) as conn:
        assert conn.execute("SELECT value FROM world_facts WHERE key = 'weather'").fetchone() == ("rain",)
        assert conn.execute("SELECT last_event_id FROM projection_state").fetchone() == (8,)


def test_snapshot_list_when_empty_and_restore_of_a_bad_name(data_dir: Path) -> None:
    assert kith("snapshot", "list", data_dir=data_dir).stdout.startswith("no snapshots yet")
    result = kith("snapshot", "restore", "../../kith.db", data_dir=data_dir)
    assert result.exit_code == 1
    assert "not a snapshot name" in result.output
    missing = kith("snapshot", "restore", "20260101T000000.000000Z-e000000000001.json", data_dir=data_dir)
    assert missing.exit_code == 1 and "no snapshot named" in missing.output


@pytest.mark.parametrize("flags", [[], ["--from-scratch"]])
def test_rebuild_verify_passes_on_a_healthy_world(world: Path, flags: list[str]) -> None:
    kith("snapshot", "take", data_dir=world)
    result = kith("rebuild", *flags, "--verify", data_dir=world)
    assert result.exit_code == 0, result.output
    how = "full replay" if flags else "snapshot "
    assert result.stdout.startswith(f"rebuilt by {how}")
    assert "verified: the rebuilt state equals the incremental one (18 tables)" in result.stdout
    assert _count(world, "SELECT COUNT(*) FROM memories") == 0  # the reverted turn stays reverted
    assert _count(world, "SELECT COUNT(*) FROM world_facts") == 1


def test_rebuild_verify_fails_when_the_projection_drifted(world: Path) -> None:
    with open_db(database_path(world)) as conn:
        conn.execute("UPDATE world_facts SET value = 'sunshine'")
    result = kith("rebuild", "--from-scratch", "--verify", data_dir=world)
    assert result.exit_code == 1
    assert "differs: world_facts (1 rows incremental, 1 rebuilt)" in result.stderr
    assert _count(world, "SELECT COUNT(*) FROM world_facts WHERE value = 'fog'") == 1  # repaired


def test_rebuild_shows_a_progress_bar_on_stderr(world: Path) -> None:
    result = kith("rebuild", "--from-scratch", data_dir=world)
    assert result.exit_code == 0
    assert "replaying events" in result.stderr
    assert "replaying" not in result.stdout


def test_events_filters_and_marks_reverted(world: Path) -> None:
    result = kith("events", data_dir=world)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(i) for i in range(1, 8)]
    assert lines[3].split("\t")[3] == "memory_added [reverted]"
    assert lines[2].split("\t")[3] == "turn_queued [reverted]"  # as the API and the page mark it

    only = kith("events", "--kind", "world_fact_set", data_dir=world).stdout.splitlines()
    assert [line.split("\t")[0] for line in only] == ["6"]
    page = kith("events", "--after", "2", "--limit", "2", "--json", data_dir=world).stdout.splitlines()
    records = [json.loads(line) for line in page]
    assert [r["id"] for r in records] == [3, 4]
    assert records[1]["reverted"] is True and records[1]["payload"]["text"] == "likes tea"
    chat = kith("events", "--chat", "c1", data_dir=world).stdout.splitlines()
    assert [line.split("\t")[0] for line in chat] == ["2", "3", "4", "5", "7"]
    bad = kith("events", "--kind", "nonsense", data_dir=world)
    assert bad.exit_code == 2 and "nonsense" in bad.output


def test_events_follow_prints_new_events(world: Path) -> None:
    def append_later() -> None:
        time.sleep(0.3)
        with open_db(database_path(world)) as conn:
            append_event(conn, kind="world_fact_set", payload={"key": "late", "value": "yes"})

    writer = threading.Thread(target=append_later)
    writer.start()
    result = kith("events", "--after", "7", "--follow", "--idle-exit", "1.0", data_dir=world)
    writer.join()
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split("\t")[:4][3] == "world_fact_set"
    assert '"key":"late"' in result.stdout


def test_export_then_import_into_an_empty_dir(world: Path, tmp_path: Path) -> None:
    file = tmp_path / "world.kith.gz"
    exported = kith("export", str(file), data_dir=world)
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.startswith(f"exported 7 events to {file}")
    again = kith("export", str(file), data_dir=world)
    assert again.exit_code == 1 and "--force" in again.output

    target = tmp_path / "copy"
    imported = kith("import", str(file), data_dir=target)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith("imported 7 events; projections rebuilt in")
    assert "importing" in imported.stderr
    assert _count(target, "SELECT COUNT(*) FROM events") == 7
    assert _count(target, "SELECT COUNT(*) FROM world_facts") == 1
    assert _count(target, "SELECT COUNT(*) FROM memories") == 0
    assert _count(target, "SELECT last_event_id FROM projection_state WHERE needs_rebuild = 0") == 7

    refused = kith("import", str(file), data_dir=target)
    assert refused.exit_code == 1 and "empty data directory" in refused.output
    assert _count(target, "SELECT COUNT(*) FROM events") == 7


def test_export_never_writes_a_secret(world: Path, tmp_path: Path, monkeypatch) -> None:
    with open_db(database_path(world)) as conn:
        append_event(conn, kind="world_fact_set", payload={"key": "oops", "value": "sk-test-987654"})
    monkeypatch.setenv("KITH_API_KEY", "sk-test-987654")
    result = kith("export", str(tmp_path / "w.kith"), data_dir=world)
    assert result.exit_code == 1
    assert "secret value appears in event 8" in result.output
    assert not (tmp_path / "w.kith").exists()


def test_bench_core_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = kith("bench", "core", "--sizes", "400", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "| full replay (rebuild) | 400 |" in result.stdout
    assert "eventsourcing SQLiteApplicationRecorder" in result.stdout
    data = json.loads(out.read_text())
    world = data["core"]["worlds"][0]
    assert world["events"] == 400 and world["cold_load_tail_events"] == 50
    assert data["core"]["append"]["eventsourcing_synchronous"] == 2


def test_bench_restore_times_the_rebuild_against_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = kith("bench", "restore", "--sizes", "1500", "--json", str(out))
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())["restore"]["rows"][0]
    assert row["events"] == 1500 and row["cold_load_path"] == "snapshot"
    assert row["floor_s"] > 0 and row["rows"]["memories"] > 0
    assert "the restore is" in result.stdout


def test_bench_registry_skips_what_is_missing(monkeypatch) -> None:
    monkeypatch.setitem(bench.REGISTRY, "turns", "bench_not_written_yet")
    outcome = bench.run_benchmark("turns")
    assert outcome.skipped and "bench_not_written_yet.py not found" in outcome.skipped
    assert bench.selected("all") == ["core", "backend", "turns", "memory"]
    bad = kith("bench", "--sizes", "ten", "core")
    assert bad.exit_code == 2 and "whole numbers" in bad.output


def test_events_shows_the_tail_and_says_what_it_left_out(world: Path) -> None:
    help_text = kith("events", "--help").stdout
    assert "newest 100" in help_text and "--all" in help_text
    tail = kith("events", "--limit", "3", data_dir=world)
    assert tail.exit_code == 0
    assert [line.split("\t")[0] for line in tail.stdout.splitlines()] == ["5", "6", "7"]  # oldest first
    assert "4 earlier events not shown" in tail.stderr and "--all" in tail.stderr and "--limit" in tail.stderr
    assert "not shown" not in kith("events", data_dir=world).stderr  # all 7 fit in the default 100
    chat = kith("events", "--chat", "c1", "--limit", "2", data_dir=world)
    assert [line.split("\t")[0] for line in chat.stdout.splitlines()] == ["5", "7"]
    assert "3 earlier events not shown" in chat.stderr  # counted under the same filter
    page = kith("events", "--after", "1", "--limit", "2", data_dir=world)
    assert [line.split("\t")[0] for line in page.stdout.splitlines()] == ["2", "3"]
    assert "4 later events not shown; --after 3" in page.stderr
    every = kith("events", "--all", "--limit", "2", data_dir=world)
    assert [line.split("\t")[0] for line in every.stdout.splitlines()] == [str(i) for i in range(1, 8)]
    assert "not shown" not in every.stderr
    assert kith("events", "--all", "--after", "2", data_dir=world).exit_code == 2
