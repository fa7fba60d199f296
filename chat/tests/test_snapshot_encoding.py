"""A snapshot's tables are encoded with orjson (fast) where the format is defined by
`dump_json` (§10.4): the two must give the same values for anything a projection row holds,
and the same bytes for rows without floats (a float may be spelt differently, 1e-05 / 0.00001)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import PROJECTION_VERSION, project
from chat.snapshots.api import read_tables, take_snapshot
from chat.snapshots.format import dump_json, read_snapshot, table_json

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # SQLite text is UTF-8
NO_FLOAT = st.one_of(st.none(), INT64, TEXT)
VALUE = st.one_of(NO_FLOAT, st.floats(allow_nan=False, allow_infinity=False))


def _table(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(st.tuples(values, values, values), max_size=12).map(
        lambda rows: {"columns": ["a", "b", "c"], "rows": rows}
    )


@settings(max_examples=400)
@given(_table(NO_FLOAT))
def test_a_table_without_floats_is_encoded_byte_for_byte_as_dump_json(table: dict) -> None:
    assert table_json(table) == dump_json(table).encode("utf-8")


@settings(max_examples=400)
@given(_table(VALUE))
def test_a_table_is_encoded_to_the_values_dump_json_gives(table: dict) -> None:
    assert json.loads(table_json(table)) == json.loads(dump_json(table))


def test_a_snapshot_holds_every_table_as_read(conn: sqlite3.Connection, data_dir: Path) -> None:
    """Other scripts, control characters and line separators, as a projection holds them."""
    append_events(conn, [
        NewEvent("bot_authored", {"id": "b1", "name": "Zoë \u2028😀"}),
        NewEvent("memory_added", {"id": "m1", "owner": "b1", "text": "tab\there \x01 \"q\" \\", "importance": 7}),
    ])
    project(conn)
    _, tables = read_tables(conn)
    path = take_snapshot(conn, data_dir=data_dir, kind="manual")
    snapshot = read_snapshot(path, schema_version=PROJECTION_VERSION)
    for name, table in tables.items():
        assert snapshot.tables[name] == {"columns": table["columns"], "rows": [list(r) for r in table["rows"]]}
    assert any("Zoë \u2028😀" in row for row in snapshot.tables["bots"]["rows"])
