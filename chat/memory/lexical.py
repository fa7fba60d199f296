"""The full-text side of memory retrieval (§8.3): which words to search, the best BM25
matches of one bot's memories, and the BM25 of any other memory.

Relevance is SQLite FTS5's BM25 (porter stemming) over the query's rarer words
(`affordable_terms`), so no query ranks every memory. Every candidate of a
retrieval, however it came (these matches, the nearest vectors, the recent and
important memories, the replies of ``chat.memory.exchange``), is scored by the same
BM25 (`bm25_of`): a match below the cut is still a match.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

FTS_CANDIDATES = 100
TERM_CAP = 1500
"""A word in this many memories or more is too common to rank by (see `affordable_terms`)."""
MATCH_BUDGET = 2000
"""At most about this many memories are ranked by BM25 for one query."""

LIGHT = "m.rowid, m.id, m.importance, m.last_retrieved_at, m.event_id, m.text, m.message_id"
"""The columns candidates are scored from (only the winners are read whole)."""
LIVE = "m.superseded_by IS NULL"


def affordable_terms(conn: sqlite3.Connection, words: list[str]) -> list[str]:
    """The rarest ``words`` whose matches add up to at most `MATCH_BUDGET` memories.

    BM25 ranking costs about a microsecond per matching memory, so a word found in
    tens of thousands of memories would take tens of milliseconds to rank while
    telling almost nothing (its IDF is near zero). Each word's document count is
    probed with a capped count (`TERM_CAP`), cheap at any size; words at the cap
    are dropped and the rest are taken rarest first while they fit the budget. In
    a small world every word fits, and the query is the plain OR of all of them.
    """
    counted = []
    for word in words:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)",
            (f'"{word}"', TERM_CAP),
        ).fetchone()
        if 0 < row[0] < TERM_CAP:
            counted.append((row[0], word))
    counted.sort()
    chosen: list[str] = []
    total = 0
    for count, word in counted:
        if total + count > MATCH_BUDGET:
            break
        chosen.append(word)
        total += count
    return chosen


BM25 = "bm25(memories_fts)"
"""The score FTS5's ``rank`` column stands for, asked for as a function: the same values
and order, but ordering by ``rank`` makes FTS5 sort every match itself, keeping each
one's word positions, and ordering by this lets SQLite sort (score, rowid) pairs. 25 to
45 % less time for the query on the turn benchmark's world (measured, identical rows)."""


def lexical_candidates(
    conn: sqlite3.Connection, owner: str, match: str | None, world_id: str, skip: Collection[str]
) -> tuple[dict[str, tuple], dict[str, float]]:
    """The `FTS_CANDIDATES` best BM25 matches among ``owner``'s live memories in ``world_id``.

    The owner and world are filtered before the cut, not after: every message is an
    observation of each bot present (§5.3.1), so the FTS table holds one copy per
    witness, and a global top few hundred shared out over every bot of every world
    left some bots a dozen candidates (measured: 51 on average, 0 to 100, on the
    recall benchmark). Ranking every match costs the same either way (FTS5 scores
    each match to order them; `affordable_terms` bounds how many), and each match is
    one lookup by rowid."""
    candidates: dict[str, tuple] = {}
    bm25: dict[str, float] = {}
    if match is None:
        return candidates, bm25
    rows = conn.execute(
        f"SELECT {LIGHT}, {BM25} FROM memories_fts f JOIN memories m ON m.rowid = f.rowid"
        f" WHERE memories_fts MATCH ? AND +m.owner = ? AND +m.world_id = ? AND {LIVE}"  # noqa: S608
        f" ORDER BY {BM25} LIMIT ?",  # "+": FTS5 leads, each match looked up by rowid
        (match, owner, world_id, FTS_CANDIDATES + len(skip)),
    ).fetchall()
    kept = [row for row in rows if row[6] is None or row[6] not in skip]
    for row in kept[:FTS_CANDIDATES]:
        candidates[row[1]] = row[:-1]
        bm25[row[1]] = -float(row[-1])  # FTS5 rank: lower is better
    return candidates, bm25


def bm25_of(conn: sqlite3.Connection, match: str, rowids: list[int]) -> dict[str, float]:
    """The BM25 for ``match`` of those memories (by rowid, any owner) that match it, by
    memory id; the others are left out (no match). Each is one lookup by rowid."""
    found: dict[str, float] = {}
    for start in range(0, len(rowids), 500):
        part = rowids[start : start + 500]
        marks = ",".join("?" for _ in part)
        for mid, score in conn.execute(
            f"SELECT m.id, {BM25} FROM memories_fts f JOIN memories m ON m.rowid = f.rowid"  # noqa: S608
            f" WHERE memories_fts MATCH ? AND f.rowid IN ({marks})",
            [match, *part],
        ):
            found[mid] = -float(score)
    return found
