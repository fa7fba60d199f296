"""Snapshots over ``COMPRESS_OVER`` bytes are written zstd-compressed with long-distance
matching, small ones as plain JSON (§10.4, issue 15's disk per turn); plain, zstd and the
gzip files older Kiths wrote all load, told apart by their first bytes, and a damaged
compressed file is refused naming it, so cold load falls back to an older snapshot."""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from chat.errors import SnapshotInvalid
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import (
    PROJECTION_VERSION,
    canonical_dump,
    mark_needs_rebuild,
    project,
    rebuild,
)
from chat.snapshots.api import restore_from_snapshot, take_snapshot
from chat.snapshots.cold_load import cold_load
from chat.snapshots.format import read_snapshot
from chat.snapshots.packing import COMPRESS_OVER, unpacked

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _world(conn: sqlite3.Connection, memories: int) -> None:
    events = [NewEvent("bot_authored", {"id": "bot0", "name": "Ada"})]
    events += [
        NewEvent("memory_added", {"id": f"m{i}", "owner": "bot0", "text": f"the lamp on the pier, night {i}",
                                  "importance": 1 + i % 10})
        for i in range(memories)
    ]  # fmt: skip
    append_events(conn, events)
    project(conn)


def test_a_small_snapshot_stays_plain_json(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 3)
    path = take_snapshot(conn, data_dir=data_dir)
    assert path.stat().st_size <= COMPRESS_OVER
    assert json.loads(path.read_text())["last_event_id"] == 4


def test_a_few_dozen_memories_are_already_compressed(conn: sqlite3.Connection, data_dir: Path) -> None:
    """The threshold is low (a world's snapshot of ~60 KB was kept plain, five times over)."""
    _world(conn, 200)
    path = take_snapshot(conn, data_dir=data_dir)
    raw = path.read_bytes()
    assert raw[:4] == ZSTD_MAGIC
    assert len(raw) < len(unpacked(raw, path.name)) / 4


def test_a_large_snapshot_is_zstd_and_restores_the_same_state(
    conn: sqlite3.Connection, data_dir: Path
) -> None:
    _world(conn, 3000)
    path = take_snapshot(conn, data_dir=data_dir)
    raw = path.read_bytes()
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    assert raw[:4] == ZSTD_MAGIC and len(plain) > COMPRESS_OVER and len(raw) < len(plain) / 4
    assert read_snapshot(path, schema_version=PROJECTION_VERSION).last_event_id == 3001
    before = canonical_dump(conn)
    restore_from_snapshot(conn, path)
    assert canonical_dump(conn) == before
    rebuild(conn)
    assert canonical_dump(conn) == before


def _words(seed: int, count: int = 40) -> str:
    pick = random.Random(seed)
    return " ".join("".join(pick.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(count))


def test_a_text_repeated_far_away_is_stored_once(conn: sqlite3.Connection, data_dir: Path) -> None:
    """An observation repeats its message's text megabytes later in the JSON: the copy
    costs next to nothing, where gzip's 32 KB window stored it again."""
    texts = [_words(i) for i in range(1500)]
    events = [NewEvent("bot_authored", {"id": "bot0", "name": "Ada"})]
    for prefix in ("a", "z"):  # the two copies are half the memories table apart (~400 KB)
        events += [
            NewEvent("memory_added", {"id": f"{prefix}{i:05d}", "owner": "bot0", "text": text, "importance": 5})
            for i, text in enumerate(texts)
        ]  # fmt: skip
    append_events(conn, events)
    project(conn)
    path = take_snapshot(conn, data_dir=data_dir)
    raw = path.read_bytes()
    plain = unpacked(raw, path.name)
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    gzip_size = len(gz.compress(plain) + gz.flush())
    once = len(zlib.compress(" ".join(texts).encode(), 9))  # the texts alone, once
    assert len(raw) < 0.65 * gzip_size
    assert len(raw) < 1.5 * once


def _gzip_file(path: Path) -> None:
    """The file as an older Kith wrote it: gzip, level 1."""
    path.write_bytes(gzip.compress(unpacked(path.read_bytes(), path.name), compresslevel=1))


def test_a_gzip_snapshot_of_an_older_kith_still_restores(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 3000)
    path = take_snapshot(conn, data_dir=data_dir)
    _gzip_file(path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    before = canonical_dump(conn)
    mark_needs_rebuild(conn)
    report = cold_load(conn, data_dir)
    assert (report.path, report.snapshot, report.quarantined) == ("snapshot", path.name, ())
    assert canonical_dump(conn) == before


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))


def _padded(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00" * 8)


def _last_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-4])  # the content checksum lost


DAMAGE: dict[str, Callable[[Path], None]] = {"cut": _cut, "flipped": _flip, "padded": _padded, "last bytes": _last_bytes}


@pytest.mark.parametrize(
    ("codec", "damage"),
    # gzip reads past zero padding (its format allows it): the content is whole
    [("zstd", d) for d in sorted(DAMAGE)] + [("gzip", d) for d in sorted(DAMAGE) if d != "padded"],
)
def test_a_damaged_compressed_snapshot_is_refused_naming_it(
    conn: sqlite3.Connection, data_dir: Path, damage: str, codec: str
) -> None:
    _world(conn, 3000)
    path = take_snapshot(conn, data_dir=data_dir)
    if codec == "gzip":
        _gzip_file(path)
    DAMAGE[damage](path)
    with pytest.raises(SnapshotInvalid, match=f"{path.name}: (damaged compressed snapshot|checksum)"):
        read_snapshot(path, schema_version=PROJECTION_VERSION)


def test_start_falls_back_past_a_damaged_zstd_snapshot(conn: sqlite3.Connection, data_dir: Path) -> None:
    _world(conn, 3000)
    older = take_snapshot(conn, data_dir=data_dir)
    append_events(conn, [NewEvent("memory_added", {"id": "late", "owner": "bot0", "text": "late", "importance": 3})])
    project(conn)
    newer = take_snapshot(conn, data_dir=data_dir)
    assert older.read_bytes()[:4] == newer.read_bytes()[:4] == ZSTD_MAGIC
    expected = canonical_dump(conn)
    _flip(newer)
    mark_needs_rebuild(conn)
    report = cold_load(conn, data_dir)
    assert (report.path, report.snapshot, report.replayed) == ("snapshot", older.name, 1)
    assert len(report.quarantined) == 1 and not newer.exists()
    assert canonical_dump(conn) == expected
