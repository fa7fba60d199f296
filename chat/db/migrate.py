"""Numbered SQL migrations, applied in order, each with its record in one transaction.

Like sqlite-utils' migrations: a migration and the row that says it ran commit
together, so a failure leaves the database at the previous version and a later
run picks up where it stopped. Running again applies nothing.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from chat.db.connection import connect
from chat.errors import MigrationFailed

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in ``chat/db/migrations``, sorted and checked for unique numbers."""
    folder = resources.files("chat.db") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return checked(found)


def checked(migrations: list[Migration]) -> list[Migration]:
    """The migrations sorted by number; two with one number are an error, not a guess."""
    ordered = sorted(migrations, key=lambda m: m.number)
    numbers = [m.number for m in ordered]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise MigrationFailed(f"two migrations share a number: {duplicates}")
    return ordered


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
    )


def applied_numbers(conn: sqlite3.Connection) -> set[int]:
    _ensure_table(conn)
    return {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}


def apply_to_connection(
    conn: sqlite3.Connection, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply the pending migrations on an open connection; return the numbers applied."""
    migrations = bundled_migrations() if migrations is None else checked(migrations)
    done = applied_numbers(conn)
    newest_known = max((m.number for m in migrations), default=0)
    if done and max(done) > newest_known:
        raise MigrationFailed(
            f"the database is at migration {max(done)}, newer than this Kith knows"
            f" ({newest_known}); upgrade Kith or use another --data-dir"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.number in done:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name) VALUES (?, ?)",
                (migration.number, migration.name),
            )
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.Error):
                raise
            raise MigrationFailed(
                f"migration {migration.number:04d}_{migration.name} failed: {exc}; "
                "the database is left at the previous version"
            ) from exc
        applied.append(migration.number)
    return applied


def apply_migrations(path: str | Path, migrations: list[Migration] | None = None) -> list[int]:
    """Create or upgrade the database at ``path``; idempotent."""
    conn = connect(path)
    try:
        return apply_to_connection(conn, migrations)
    finally:
        conn.close()


def _split_statements(sql: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
