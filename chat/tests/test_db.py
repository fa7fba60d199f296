"""The database layer (§10.1–§10.2): connection settings, transactions, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat.db.connection import connect, database_path, open_db, transaction
from chat.db.migrate import (
    Migration,
    apply_migrations,
    apply_to_connection,
    bundled_migrations,
    checked,
)
from chat.errors import MigrationFailed


def test_database_path_is_kith_db_in_the_data_dir(tmp_path: Path) -> None:
    assert database_path(tmp_path / "data") == tmp_path / "data" / "kith.db"


def test_connection_settings(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.isolation_level is None
    finally:
        conn.close()


def test_transaction_commits_and_rolls_back(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1]


def test_nested_transaction_is_a_savepoint(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("inner fails")
        conn.execute("INSERT INTO t VALUES (3)")
    assert [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]


def test_open_db_rolls_back_on_error(db_path: Path) -> None:
    with pytest.raises(KeyError), open_db(db_path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO world_facts VALUES ('default', 'k', 'v', 1)")
        raise KeyError("boom")
    with open_db(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM world_facts").fetchone()[0] == 0


# --- migrations ----------------------------------------------------------------


def _migrations(*sqls: str) -> list[Migration]:
    return [Migration(i + 1, f"m{i + 1}", sql) for i, sql in enumerate(sqls)]


def _version(path: Path) -> list[int]:
    with open_db(path) as conn:
        return [r[0] for r in conn.execute("SELECT number FROM schema_migrations ORDER BY number")]


def test_bundled_migrations_are_numbered_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    numbers = [m.number for m in bundled_migrations()]
    assert numbers == sorted(numbers) and numbers[0] == 1
    assert apply_migrations(path) == numbers
    assert apply_migrations(path) == []
    assert _version(path) == numbers


def test_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    good = "CREATE TABLE a (x INTEGER);"
    bad = "CREATE TABLE b (y INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    with pytest.raises(MigrationFailed, match="0002_m2 failed.*previous version"):
        apply_migrations(path, _migrations(good, bad))
    assert _version(path) == [1]
    with open_db(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables  # the failed migration's first statement rolled back

    fixed = "CREATE TABLE b (y INTEGER);\nINSERT INTO b VALUES (1);"
    assert apply_migrations(path, _migrations(good, fixed)) == [2]
    assert _version(path) == [1, 2]
    assert apply_migrations(path, _migrations(good, fixed)) == []


def test_duplicate_migration_numbers_are_rejected(tmp_path: Path) -> None:
    twins = [Migration(1, "a", "CREATE TABLE a (x);"), Migration(1, "b", "CREATE TABLE b (x);")]
    with pytest.raises(MigrationFailed, match=r"share a number: \[1\]"):
        checked(twins)
    with pytest.raises(MigrationFailed, match="share a number"):
        apply_migrations(tmp_path / "k.db", twins)
    with open_db(tmp_path / "k.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name IN ('a', 'b')").fetchall() == []


def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    apply_migrations(path, _migrations("CREATE TABLE a (x);", "CREATE TABLE b (x);"))
    with pytest.raises(MigrationFailed, match="newer than this Kith knows"):
        apply_migrations(path, _migrations("CREATE TABLE a (x);"))


def test_a_kith_from_before_the_short_log_payloads_refuses_a_database_that_may_hold_them(tmp_path: Path) -> None:
    """Session 25's payload forms need a reader that knows them; a Kith that knew
    migrations up to 0103 only must refuse such a database, not misread it."""
    path = tmp_path / "k.db"
    bundled = bundled_migrations()
    assert 105 in apply_migrations(path, bundled)  # the mark, applied with the rest
    with open_db(path) as conn:
        assert conn.execute("SELECT name FROM schema_migrations WHERE number = 105").fetchone() == (
            "log_payloads_format_3",
        )
    older = [m for m in bundled if m.number <= 103]
    with pytest.raises(MigrationFailed, match=r"at migration 105, newer than this Kith knows \(103\)"):
        apply_migrations(path, older)


def test_trigger_bodies_stay_whole(tmp_path: Path) -> None:
    sql = (
        "CREATE TABLE a (x INTEGER);\n-- a comment\n"
        "CREATE TRIGGER a_no_delete BEFORE DELETE ON a\nBEGIN\n"
        "    SELECT RAISE(ABORT, 'no; really');\nEND;\n"
    )
    path = tmp_path / "k.db"
    apply_migrations(path, _migrations(sql))
    with open_db(path) as conn:
        conn.execute("INSERT INTO a VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError, match="no; really"):
            conn.execute("DELETE FROM a")


def test_apply_to_connection_on_a_migrated_db_applies_nothing(conn: sqlite3.Connection) -> None:
    assert apply_to_connection(conn) == []
