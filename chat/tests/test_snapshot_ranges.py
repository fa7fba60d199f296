"""The per-table byte ranges of a snapshot file, and the bulk restore that uses them (§10.4–§10.7).

The ranges sit in the header, outside the checksum, so every test here hands
the reader a file whose tables bytes are intact (valid checksum) and whose
index lies in some way: each must be refused with SnapshotInvalid, and at
cold load the file is quarantined and the older snapshot used. Restores that
fail half-way leave rows, indexes and triggers as they were.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chat.errors import SnapshotInvalid
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import canonical_dump, mark_needs_rebuild, project, rebuild
from chat.snapshots.api import load_snapshot, restore_from_snapshot, take_snapshot
from chat.snapshots.cold_load import cold_load
from chat.snapshots.format import checksum, dump_json

TABLES_KEY = b',"tables":'


def _world(conn: sqlite3.Connection, start: int, count: int) -> None:
    events = [NewEvent("bot_authored", {"id": "bot0", "name": "Ada"})] if start == 0 else []
    for i in range(start, start + count):
        events.append(NewEvent("memory_added", {"id": f"m{i}", "owner": "bot0", "text": f"lamp {i}",
                                                "importance": 1 + i % 10}))
        events.append(NewEvent("edge_changed", {"src": "bot0", "dst": "you", "affinity_delta": 2}))
    append_events(conn, events)
    project(conn)


@pytest.fixture
def two_snapshots(conn: sqlite3.Connection, data_dir: Path) -> tuple[Path, Path]:
    _world(conn, 0, 4)
    older = take_snapshot(conn, data_dir=data_dir)
    _world(conn, 4, 4)
    newer = take_snapshot(conn, data_dir=data_dir)
    _world(conn, 8, 2)
    return older, newer


def _parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    at = raw.index(TABLES_KEY)
    return json.loads(raw[:at] + b"}"), raw[at + len(TABLES_KEY) : -1]


def _write(path: Path, header: dict, section: bytes) -> None:
    path.write_bytes(dump_json(header).encode()[:-1] + TABLES_KEY + section + b"}")


def _edit_ranges(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Rewrite only the header's table_ranges; the checksummed tables bytes stay intact.

    ``change`` edits the ranges in place (returning None) or returns new ones.
    """

    def edit(path: Path) -> None:
        header, section = _parts(path)
        result = change(header["table_ranges"])
        if result is not None:
            header["table_ranges"] = result
        _write(path, header, section)

    return edit


def _swap_names(ranges: dict) -> dict:
    names = list(ranges)
    names[0], names[1] = names[1], names[0]
    return dict(zip(names, ranges.values(), strict=True))


def _rename(first: str, second: str) -> Callable[[dict], dict]:
    """Swap two table names of equal length: every offset still adds up, only the name lies."""

    def change(ranges: dict) -> dict:
        names = {first: second, second: first}
        return {names.get(table, table): span for table, span in ranges.items()}

    return change


def _overlap(ranges: dict) -> None:
    ranges["entities"][0] = ranges["bots"][1] - 5


LIES: dict[str, Callable[[Path], None]] = {
    "range past the end of the section": _edit_ranges(lambda r: r["item_history"].__setitem__(1, 10**9)),
    "negative start": _edit_ranges(lambda r: r["bots"].__setitem__(0, -1)),
    "empty range": _edit_ranges(lambda r: r["bots"].__setitem__(1, r["bots"][0])),
    "overlapping ranges": _edit_ranges(_overlap),
    "names swapped": _edit_ranges(_swap_names),
    "same-length names swapped": _edit_ranges(_rename("bots", "pins")),
    "same-length names swapped, same columns count": _edit_ranges(_rename("entities", "memories")),
    "ranges out of order": _edit_ranges(lambda r: dict(reversed(list(r.items())))),
    "a table left out": _edit_ranges(lambda r: {k: v for k, v in r.items() if k != "pins"}),
    "the last table left out": _edit_ranges(lambda r: dict(list(r.items())[:-1])),
    "an extra table": _edit_ranges(lambda r: r.__setitem__("events", [0, 1])),
    "strings for offsets": _edit_ranges(lambda r: r.__setitem__("bots", [str(x) for x in r["bots"]])),
    "booleans for offsets": _edit_ranges(lambda r: r.__setitem__("bots", [True, r["bots"][1]])),
    "floats for offsets": _edit_ranges(lambda r: r.__setitem__("bots", [8.0, float(r["bots"][1])])),
    "three numbers": _edit_ranges(lambda r: r["bots"].append(1)),
    "not an object": _edit_ranges(lambda r: list(r.values())),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_lying_range_index_is_refused(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path], lie: str
) -> None:
    older, newer = two_snapshots
    expected = canonical_dump(conn)
    LIES[lie](newer)
    with pytest.raises(SnapshotInvalid, match="table_ranges"):
        load_snapshot(newer)
    mark_needs_rebuild(conn)

    report = cold_load(conn, data_dir)

    assert (report.path, report.snapshot) == ("snapshot", older.name)
    assert report.quarantined == (f"periodic-{newer.name}",)
    assert canonical_dump(conn) == expected


def test_ranges_tile_exactly_the_canonical_tables_bytes(
    conn: sqlite3.Connection, data_dir: Path
) -> None:
    _world(conn, 0, 3)
    header, section = _parts(take_snapshot(conn, data_dir=data_dir))
    tables = json.loads(section)
    assert section == dump_json(tables).encode()  # the same bytes as before ranges existed
    assert list(header["table_ranges"]) == list(tables)
    for table, (start, stop) in header["table_ranges"].items():
        assert json.loads(section[start:stop]) == tables[table]


def _honest_ranges(tables: dict) -> dict[str, list[int]]:
    ranges, at = {}, 0
    for number, (table, content) in enumerate(tables.items()):
        label = (b"{" if number == 0 else b",") + dump_json(table).encode() + b":"
        value = dump_json(content).encode()
        ranges[table] = [at + len(label), at + len(label) + len(value)]
        at = ranges[table][1]
    return ranges


def test_a_range_cut_inside_a_value_is_refused_when_parsed(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    """Labels that match but sit inside another table's value: the pieces are not JSON."""
    older, newer = two_snapshots
    header, section = _parts(newer)
    tables = json.loads(section)
    first, second = list(tables)[:2]
    # The bytes ,"<second>": now also occur inside the first table's value.
    tables[first] = {**tables[first], "x": {"a": 1, second: {}}}
    section = dump_json(tables).encode()
    ranges = _honest_ranges(tables)
    label = b"," + dump_json(second).encode() + b":"
    inside = section.index(label)
    assert inside < ranges[first][1]
    ranges[first][1] = inside
    ranges[second][0] = inside + len(label)
    header.update(table_ranges=ranges, checksum=checksum(section))
    _write(newer, header, section)
    assert load_snapshot(newer).last_event_id > 0  # the index tiles the bytes: the header passes
    expected = canonical_dump(conn)

    with pytest.raises(SnapshotInvalid, match=f"table {first} is not valid JSON"):
        restore_from_snapshot(conn, newer)
    assert canonical_dump(conn) == expected
    mark_needs_rebuild(conn)
    assert cold_load(conn, data_dir).snapshot == older.name


def _rewrite_table(path: Path, table: str, value: bytes) -> None:
    """Replace one table's bytes and re-derive ranges and checksum (a well-formed index)."""
    header, section = _parts(path)
    start, stop = header["table_ranges"][table]
    section = section[:start] + value + section[stop:]
    shift = len(value) - (stop - start)
    for name, span in header["table_ranges"].items():
        if span[0] > start:
            span[0] += shift
            span[1] += shift
        elif name == table:
            span[1] += shift
    header["checksum"] = checksum(section)
    _write(path, header, section)


HOSTILE_TABLES: dict[str, tuple[str, bytes, str]] = {
    "wrong row length": ("pins", b'{"columns":["world_id","target_type","target_id","field","event_id"],'
                                 b'"rows":[["bot","bot0","name"]]}', "rows of pins cannot be restored"),
    "nested value": ("pins", b'{"columns":["world_id","target_type","target_id","field","event_id"],'
                             b'"rows":[["default","bot","bot0",{"x":[1]},3]]}', "rows of pins cannot be restored"),
    "row not a list": ("pins", b'{"columns":["world_id","target_type","target_id","field","event_id"],'
                               b'"rows":["abcd"]}', "a row that is not a list"),
    "NaN": ("pins", b'{"columns":["world_id","target_type","target_id","field","event_id"],'
                    b'"rows":[["default","bot","bot0","name",NaN]]}', "not valid JSON"),
    "trailing bytes": ("pins", b'{"columns":[],"rows":[]} {}', "not valid JSON"),
    "hostile column": ("pins", b'{"columns":["world_id","target_type","target_id","field","event_id) --"],'
                               b'"rows":[]}', "pins has columns"),
    "not an object": ("pins", b"[1,2]", "no columns or rows list"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TABLES))
def test_a_hostile_table_rolls_back_rows_indexes_and_triggers(
    conn: sqlite3.Connection, two_snapshots: tuple[Path, Path], case: str
) -> None:
    _older, newer = two_snapshots
    table, value, message = HOSTILE_TABLES[case]
    _rewrite_table(newer, table, value)
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    expected = canonical_dump(conn)

    with pytest.raises(SnapshotInvalid, match=message):
        restore_from_snapshot(conn, newer)

    assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert canonical_dump(conn) == expected
    assert not conn.in_transaction


def test_restore_rebuilds_indexes_and_full_text_search(
    conn: sqlite3.Connection, two_snapshots: tuple[Path, Path]
) -> None:
    _older, newer = two_snapshots
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    restore_from_snapshot(conn, newer)
    assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    found = conn.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'lamp'").fetchone()
    assert found == (8,)


def test_files_without_ranges_still_restore(
    conn: sqlite3.Connection, data_dir: Path, two_snapshots: tuple[Path, Path]
) -> None:
    """Older files (no table_ranges) and hand-formatted ones are parsed whole, as before."""
    older, newer = two_snapshots
    header, section = _parts(older)
    del header["table_ranges"]
    _write(older, header, section)
    document = json.loads(newer.read_bytes())
    newer.write_text(json.dumps(document, indent=2))  # ranges now point at nothing: ignored
    expected = canonical_dump(conn)
    for path in (older, newer):
        assert isinstance(load_snapshot(path).tables, dict)  # parsed whole, not by range
        restore_from_snapshot(conn, path)
        project(conn)
        assert canonical_dump(conn) == expected


def test_unusual_text_survives_the_round_trip(conn: sqlite3.Connection, data_dir: Path) -> None:
    odd = 'nul\x00 tab\t "quoted" back\\slash \u2028 emoji \U0001f642 \u00fc \ufeff'
    append_events(conn, [
        NewEvent("bot_authored", {"id": "bot0", "name": odd}),
        NewEvent("memory_added", {"id": "m1", "owner": "bot0", "text": odd, "importance": 10}),
        NewEvent("world_fact_set", {"key": "k", "value": odd}),
    ])
    project(conn)
    expected = canonical_dump(conn)
    path = take_snapshot(conn, data_dir=data_dir)
    rebuild(conn)
    conn.execute("DELETE FROM bots")
    restore_from_snapshot(conn, path)
    assert canonical_dump(conn) == expected
    assert conn.execute("SELECT name FROM bots").fetchone() == (odd,)
