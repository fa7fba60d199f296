"""Rewind in O(turn): what each recent event changed, so a rewind undoes only that (§4.6, §13).

While ``project`` applies events one by one, SQLite triggers on every projection
table note each row an event inserts, updates or deletes, with the row as it was
before (``undo_<table>``, keyed by the row's primary key as a JSON array, ``k``).
The notes say which rows (keys) each event touched and what each row was before
any event: a rewind (``chat.eventlog.rewind``, ``chat.eventlog.cutoff``) refolds only
the events whose rows the reverted turns changed, in log order, and stops a chain
where a row comes out as it was. The older path, ``undo_to``, restores every row
touched since an event and refolds all events from there: exact for any handler, but
it costs every event in between. A rewind refolds some events and leaves others, so
a row's notes are ordered by event id, then seq (a refolded event's new notes have
higher seq than the notes of later events it left).

The notes cover the events after ``from_event_id`` (the horizon; older notes are
pruned, keeping ``KEEP_EVENTS``). Bulk work (a rebuild, a snapshot restore, a
refold from a checkpoint) drops the triggers for its duration and marks the notes
invalid; the next ``prepare`` starts afresh at the cursor. A rewind beyond the
horizon falls back to the refold from a checkpoint. The shadow tables mirror the
projection tables' columns and are recreated whenever those change (a migration),
so no migration of another table needs to know about them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

KEEP_EVENTS = 20_000
_PREFIX = "undo_"
_FORMAT = "keys-1"  # part of the signature: shadows of another layout are recreated


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]  # noqa: S608 - registry


def key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The primary key's columns in key order; ``["rowid"]`` for a table without one."""
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()  # noqa: S608 - registry
    keyed = sorted((row[5], row[1]) for row in info if row[5])
    return [name for _order, name in keyed] or ["rowid"]


def _signature(conn: sqlite3.Connection, tables: list[str]) -> str:
    text = _FORMAT + ";" + ";".join(f"{t}:{','.join(_columns(conn, t))}" for t in tables)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _trigger_sql(table: str, columns: list[str], keys: list[str]) -> list[str]:
    shadow = f"{_PREFIX}{table}"
    names = ", ".join(f'"v_{c}"' for c in columns)
    old = ", ".join(f'old."{c}"' for c in columns)
    old_key = "json_array(" + ", ".join(f"old.{quoted(k)}" for k in keys) + ")"
    new_key = "json_array(" + ", ".join(f"new.{quoted(k)}" for k in keys) + ")"
    when = "WHEN (SELECT event_id FROM undo_ctl) IS NOT NULL"
    now = "(SELECT event_id FROM undo_ctl)"
    return [
        f"CREATE TRIGGER {shadow}_i AFTER INSERT ON {table} {when} BEGIN"
        f" INSERT INTO {shadow} (event_id, op, k) VALUES ({now}, 'i', {new_key}); END",
        f"CREATE TRIGGER {shadow}_u AFTER UPDATE ON {table} {when} BEGIN"
        f" INSERT INTO {shadow} (event_id, op, k, {names}) VALUES ({now}, 'u', {old_key}, {old}); END",
        # A key that changes: the new key did not exist before this event.
        f"CREATE TRIGGER {shadow}_k AFTER UPDATE ON {table} {when} AND {new_key} IS NOT {old_key}"
        f" BEGIN INSERT INTO {shadow} (event_id, op, k) VALUES ({now}, 'i', {new_key}); END",
        f"CREATE TRIGGER {shadow}_d AFTER DELETE ON {table} {when} BEGIN"
        f" INSERT INTO {shadow} (event_id, op, k, {names}) VALUES ({now}, 'd', {old_key}, {old}); END",
    ]


def quoted(column: str) -> str:
    """A column as SQL names it (``rowid`` is no column of its own)."""
    return column if column == "rowid" else f'"{column}"'


def _state(conn: sqlite3.Connection) -> tuple[int, int, int, str] | None:
    row = conn.execute(
        "SELECT from_event_id, at_event_id, valid, signature FROM undo_state WHERE name = 'main'"
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]), str(row[3]))


def _write_state(conn: sqlite3.Connection, start: int, at: int, valid: int, signature: str) -> None:
    conn.execute(
        "INSERT INTO undo_state (name, from_event_id, at_event_id, valid, signature)"
        " VALUES ('main', ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
        " from_event_id = excluded.from_event_id, at_event_id = excluded.at_event_id,"
        " valid = excluded.valid, signature = excluded.signature",
        (start, at, valid, signature),
    )


def _shadow_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'undo\\_%' ESCAPE '\\'"
        " AND name NOT IN ('undo_ctl', 'undo_state')"
    ).fetchall()
    return [row[0] for row in rows]


def undo_triggers(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, sql) of the recording triggers, for bulk work to drop and recreate."""
    return conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'undo\\_%' ESCAPE '\\'"
        " ORDER BY name"
    ).fetchall()


def invalidate(conn: sqlite3.Connection) -> None:
    """The projections are being replaced wholesale: the notes no longer describe them."""
    conn.execute("UPDATE undo_state SET valid = 0 WHERE name = 'main'")


TRIGGERS_PER_TABLE = 4
_checked: dict[int, int] = {}  # id(conn) -> PRAGMA schema_version when the shadows were checked


def prepare(conn: sqlite3.Connection, tables: list[str], cursor: int) -> tuple[int, int, int, str]:
    """Make the shadow tables and triggers match ``tables``; start afresh at ``cursor``
    when the notes are invalid or describe another position. Inside project()'s transaction.
    Returns the notes' state as it now stands, for `advance` (one read of it a projection).

    The shadows and triggers are counted and compared only when the schema changed since
    this connection last checked them (``PRAGMA schema_version``): every drop and create
    of a trigger changes it, and bulk work restores the triggers it drops in the same
    transaction. Counting them on every projection cost ~80 us, three times a turn."""
    # INSERT OR REPLACE deletes the row it replaces; only with recursive triggers does
    # that deletion fire the DELETE trigger, so the replaced row's image is noted too.
    conn.execute("PRAGMA recursive_triggers = ON")
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    state = _state(conn)
    if _checked.get(id(conn)) != version or state is None:
        triggers = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'undo\\_%' ESCAPE '\\'"
        ).fetchone()[0]
        signature = _signature(conn, tables)
        if state is None or state[3] != signature or triggers != TRIGGERS_PER_TABLE * len(tables):
            _recreate(conn, tables)
            _write_state(conn, cursor, cursor, 1, signature)
            state = _state(conn)
        _checked[id(conn)] = conn.execute("PRAGMA schema_version").fetchone()[0]
    assert state is not None
    start, at, valid, signature = state
    if not valid or at != cursor:
        for shadow in _shadow_tables(conn):
            conn.execute(f"DELETE FROM {shadow}")  # noqa: S608 - from sqlite_master
        _write_state(conn, cursor, cursor, 1, signature)
        state = (cursor, cursor, 1, signature)
    return state


def _recreate(conn: sqlite3.Connection, tables: list[str]) -> None:
    for name, _sql in undo_triggers(conn):
        conn.execute(f'DROP TRIGGER "{name}"')
    for shadow in _shadow_tables(conn):
        conn.execute(f'DROP TABLE "{shadow}"')
    for table in tables:
        columns = _columns(conn, table)
        shadow = f"{_PREFIX}{table}"
        values = ", ".join(f'"v_{c}"' for c in columns)
        conn.execute(
            f"CREATE TABLE {shadow} (seq INTEGER PRIMARY KEY, event_id INTEGER NOT NULL,"
            f" op TEXT NOT NULL, k TEXT NOT NULL, {values})"
        )
        conn.execute(f"CREATE INDEX {shadow}_event ON {shadow} (event_id)")
        conn.execute(f"CREATE INDEX {shadow}_key ON {shadow} (k, event_id)")
        for sql in _trigger_sql(table, columns, key_columns(conn, table)):
            conn.execute(sql)


def recording(conn: sqlite3.Connection, event_id: int | None) -> None:
    """Note the following row changes as made by ``event_id`` (None: note nothing)."""
    conn.execute("UPDATE undo_ctl SET event_id = ? WHERE id = 1", (event_id,))


def horizon(conn: sqlite3.Connection) -> int | None:
    """The oldest position the notes can bring the projections back to (None: none)."""
    state = _state(conn)
    return None if state is None or not state[2] else state[0]


def advance(
    conn: sqlite3.Connection, position: int, state: tuple[int, int, int, str] | None = None
) -> None:
    """The projections now stand at ``position``; drop notes older than KEEP_EVENTS.
    ``state``: the notes' state as `prepare` left it, when nothing changed it since
    (saves reading it again); else it is read."""
    if state is None:
        state = _state(conn)
    if state is None or not state[2]:
        return
    start, at, _valid, signature = state
    if position - start > 2 * KEEP_EVENTS:
        start = position - KEEP_EVENTS
        for shadow in _shadow_tables(conn):
            conn.execute(f"DELETE FROM {shadow} WHERE event_id <= ?", (start,))  # noqa: S608
    elif at == position:
        return  # nothing applied: the state already says so
    _write_state(conn, start, position, 1, signature)


def restart(conn: sqlite3.Connection, position: int) -> None:
    """After a bulk refold inside project(): the notes start again at ``position``."""
    state = _state(conn)
    signature = state[3] if state else ""
    for shadow in _shadow_tables(conn):
        conn.execute(f"DELETE FROM {shadow}")  # noqa: S608 - from sqlite_master
    _write_state(conn, position, position, 1, signature)


def undo_to(conn: sqlite3.Connection, tables: list[str], position: int) -> int:
    """Bring every projection row back to how it stood after event ``position`` (which
    must be >= the horizon) and forget the notes after it; return the rows restored."""
    restored = 0
    recording(conn, None)
    for table in tables:
        shadow = f"{_PREFIX}{table}"
        keys = [
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT k FROM {shadow} WHERE event_id > ?", (position,)  # noqa: S608
            )
        ]
        restored += _restore(conn, table, keys, position)
        conn.execute(f"DELETE FROM {shadow} WHERE event_id > ?", (position,))  # noqa: S608
    return restored


def _restore(conn: sqlite3.Connection, table: str, keys: list[str], position: int) -> int:
    """Each key's row as it stood after ``position``: the image in its earliest later note.

    Earliest by event, then seq: a rewind refolds some events and leaves others, so a
    refolded event's new notes come after (in seq) the notes of later events it left.
    Within one event, the lower seq: when a rewind gives up half way, an event it refolded
    holds its original notes (lower seq) beside the new ones (``chat.eventlog.cutoff``)."""
    if not keys:
        return 0
    shadow = f"{_PREFIX}{table}"
    columns = _columns(conn, table)
    key_cols = key_columns(conn, table)
    images = ", ".join(f'"v_{c}"' for c in columns)
    first_note = (
        f"SELECT op, {images} FROM {shadow} WHERE k = ? AND event_id > ?"  # noqa: S608
        " ORDER BY event_id, seq LIMIT 1"
    )
    where = " AND ".join(f"{quoted(c)} = ?" for c in key_cols)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    restored = 0
    for key in keys:
        note = conn.execute(first_note, (key, position)).fetchone()
        if note is None:
            continue
        conn.execute(f"DELETE FROM {table} WHERE {where}", json.loads(key))  # noqa: S608
        if note[0] != "i" and key_cols == ["rowid"]:  # keep the rowid: it is the key
            conn.execute(
                f"INSERT INTO {table} (rowid, {names}) VALUES (?, {marks})",  # noqa: S608
                (*json.loads(key), *note[1:]),
            )
        elif note[0] != "i":
            conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", note[1:])  # noqa: S608
        restored += 1
    return restored


def written_keys(
    conn: sqlite3.Connection, tables: list[str], event_ids: list[int]
) -> dict[str, set[str]]:
    """table -> keys of the rows these events changed (from their notes)."""
    found: dict[str, set[str]] = {}
    for table in tables:
        shadow = f"{_PREFIX}{table}"
        for start in range(0, len(event_ids), BATCH):
            chunk = event_ids[start : start + BATCH]
            marks = ",".join("?" for _ in chunk)
            for (key,) in conn.execute(
                f"SELECT DISTINCT k FROM {shadow} WHERE event_id IN ({marks})", chunk  # noqa: S608
            ):
                found.setdefault(table, set()).add(key)
    return found


def keys_between(conn: sqlite3.Connection, tables: list[str], first: int, last: int) -> set[tuple[str, str]]:
    """(table, key) of every row the events ``first``..``last`` changed (from their notes)."""
    return {
        (table, key)
        for table in tables
        for (key,) in conn.execute(
            f"SELECT DISTINCT k FROM {_PREFIX}{table} WHERE event_id >= ? AND event_id <= ?",  # noqa: S608
            (first, last),
        )
    }


def settle(conn: sqlite3.Connection, table: str, mark: int, event_ids: list[int], refolded: bool) -> None:
    """After a rewind refolded ``event_ids`` (their new notes have seq above ``mark``,
    their original ones at most ``mark``; a reverted turn's own event has none new, and
    with ``refolded`` False none of them has): one set of notes per event and row. Where
    an event's new notes of a row are the same as its original ones (as for a history
    row it inserted again), the original ones stay and the new ones go; else the
    original ones go. The rows of the notes that stay are the same either way; keeping
    an original leaves its page unwritten (at 1M events six in ten of a refolded event's
    notes are the same as before)."""
    shadow = f"{_PREFIX}{table}"
    if not refolded:
        for start in range(0, len(event_ids), BATCH):
            chunk = event_ids[start : start + BATCH]
            conn.execute(
                f"DELETE FROM {shadow} WHERE event_id IN ({','.join('?' for _ in chunk)})"  # noqa: S608
                " AND seq <= ?",
                (*chunk, mark),
            )
        return
    images = ", ".join(f'"v_{c}"' for c in _columns(conn, table))
    original: dict[tuple[int, str], list[tuple]] = {}
    for start in range(0, len(event_ids), BATCH):
        chunk = event_ids[start : start + BATCH]
        marks = ",".join("?" for _ in chunk)
        for row in conn.execute(
            f"SELECT seq, event_id, k, op, {images} FROM {shadow}"  # noqa: S608
            f" WHERE event_id IN ({marks}) AND seq <= ?",
            (*chunk, mark),
        ):
            original.setdefault((row[1], row[2]), []).append(row)
    new: dict[tuple[int, str], list[tuple]] = {}
    for row in conn.execute(
        f"SELECT seq, event_id, k, op, {images} FROM {shadow} WHERE seq > ? ORDER BY seq",  # noqa: S608
        (mark,),
    ):
        new.setdefault((row[1], row[2]), []).append(row)
    gone: list[int] = []
    for pair, notes in original.items():
        notes.sort()
        fresh = new.get(pair)
        same = fresh is not None and [n[3:] for n in fresh] == [n[3:] for n in notes]
        gone.extend(note[0] for note in (fresh if same else notes))
    for start in range(0, len(gone), BATCH):
        chunk = gone[start : start + BATCH]
        conn.execute(f"DELETE FROM {shadow} WHERE seq IN ({','.join('?' for _ in chunk)})", chunk)  # noqa: S608


BATCH = 500  # SQLite caps the bound variables of one statement
