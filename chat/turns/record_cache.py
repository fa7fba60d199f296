"""What compact prompt records rebuild to, kept between turns (§8.4).

A compact record is a difference from the bot's previous record, so rebuilding one
walks its chain back to a keyframe (up to `KEYFRAME` records, each read and parsed).
Every turn asked that twice: where the new prompt's transcript starts
(`previous_start`) and what the new record is a difference from (`compact_record`).
Here the parsed payload, system text and transcript items of a record are kept by its
event id, so the next turn rebuilds one step of the chain instead of all of it.

Nothing here needs invalidating: events never change (rewind, edit and regenerate
append events; which record is "the previous one" is still read from the log each
time). An entry is only used when its database (file, and the time of its first event)
and the record's stored JSON text are the very ones it was made from, so another
database, or a data directory made anew at the same path, never gets another record's
items; reply records also name their message, a fresh random id. Entries are shared between
calls, so their values are read, never changed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CACHE_RECORDS = 64
"""Records kept (about 40 KB each with their JSON, measured on the turn benchmark): a turn
needs one per (chat, bot) in use; old ones fall out."""


@dataclass(frozen=True)
class Rebuilt:
    """A record as parsed and rebuilt: its payload, system text and transcript items
    (None when it is no compact record, or its items were not asked for), and the texts
    of events older than it that a rebuild read (`older_texts`)."""

    payload: dict[str, Any]
    system: str
    items: tuple[dict[str, Any], ...] | None
    texts: Mapping[int, Any] = field(default_factory=dict)
    chapters: tuple[str, ...] | None = None
    """Its chapter ids, when asked for (chat/turns/record_chapters.py)."""


Memo = dict[tuple[str, int], Any]
"""What one call has read already, by event id: payloads ``p``, their stored JSON ``x``,
rebuilt system texts ``s``, transcript items ``t``, chapter ids ``c`` and the cached texts
of events older than the record ``w`` (and the database file, ``db``; the texts read from the log this
call, ``r``): a record's chain is walked once per call, not once per question asked of it."""

_entries: OrderedDict[tuple[str, int], tuple[str, Rebuilt]] = OrderedDict()
_lock = threading.Lock()


def database_of(conn: sqlite3.Connection) -> str:
    """Which database ``conn`` reads: its file and when its first event was written (a
    data directory made anew at the same path is another one); "" for an in-memory or
    temporary database, never cached (two of them could hold the same event ids)."""
    row = conn.execute("PRAGMA database_list").fetchone()
    if row is None or not row[2]:
        return ""
    first = conn.execute("SELECT created_at FROM events ORDER BY id LIMIT 1").fetchone()
    return f"{row[2]}\n{first[0] if first else ''}"


def known(database: str, event_id: int, text: str) -> Rebuilt | None:
    """The rebuilt record ``event_id`` of ``database`` whose stored JSON is ``text``."""
    if not database:
        return None
    key = (database, event_id)
    with _lock:
        entry = _entries.get(key)
        if entry is None or entry[0] != text:
            return None
        _entries.move_to_end(key)
        return entry[1]


def remember(database: str, event_id: int, text: str, rebuilt: Rebuilt) -> None:
    """Keep ``rebuilt`` for the record ``event_id`` of ``database`` stored as ``text``."""
    if not database:
        return
    with _lock:
        _entries[(database, event_id)] = (text, rebuilt)
        _entries.move_to_end((database, event_id))
        while len(_entries) > CACHE_RECORDS:
            _entries.popitem(last=False)


def parsed(conn: sqlite3.Connection, event_id: int, text: str, memo: Memo) -> dict[str, Any]:
    """The payload of the record ``event_id`` stored as ``text``, put in ``memo`` with the
    rebuilt parts this cache holds of it."""
    if ("p", event_id) in memo:
        return memo[("p", event_id)]
    if ("db", 0) not in memo:
        memo[("db", 0)] = database_of(conn)
    memo[("x", event_id)] = text
    hit = known(memo[("db", 0)], event_id, text)
    if hit is None:
        memo[("p", event_id)] = json.loads(text)
        return memo[("p", event_id)]
    memo[("p", event_id)], memo[("s", event_id)] = hit.payload, hit.system
    if hit.items is not None:
        memo[("t", event_id)] = list(hit.items)
    if hit.texts:
        memo[("w", event_id)] = hit.texts
    if hit.chapters is not None:
        memo[("c", event_id)] = hit.chapters
    return hit.payload


def older_texts(memo: Memo) -> dict[int, Any]:
    """The texts of events a call may take as the log's without reading them: those a
    record it read from the log (and found cached as that very JSON) was kept with, all
    of events older than that record.

    Why they are the log's: events are never changed or deleted (the log refuses both)
    and ids are never reused (AUTOINCREMENT). A cached record is used only when this
    database (file, first event) holds it as the very JSON it was cached from, and a
    reply record names its reply's message, a fresh random id: so this log and the one
    the texts were read from are one log up to that record, and every event before it
    is the same event."""
    known: dict[int, Any] = {}
    for kind, event_id in memo:
        if kind == "w":
            known.update(memo[(kind, event_id)])
    return known


def keep(memo: Memo) -> None:
    """Keep what a call rebuilt (records with their system text, items where known, and
    the texts of older events it read or was given) for the next turn's calls.

    The texts kept are those this call's records named (``r``), not every text the cached
    records it used were kept with: those would carry each message that ever slid out of
    the history, two more every turn, for as long as Kith runs."""
    texts = memo.get(("r", 0)) or older_texts(memo)
    newest = max(texts, default=-1)
    for kind, event_id in list(memo):
        if kind == "x" and ("s", event_id) in memo:
            items = memo.get(("t", event_id))
            parts = memo[("p", event_id)], memo[("s", event_id)]
            older = texts if newest < event_id else {key: t for key, t in texts.items() if key < event_id}
            rebuilt = Rebuilt(*parts, None if items is None else tuple(items), older, memo.get(("c", event_id)))
            remember(memo[("db", 0)], event_id, memo[("x", event_id)], rebuilt)


def forget_all() -> None:
    """Empty the cache (tests compare rebuilding with and without it)."""
    with _lock:
        _entries.clear()
