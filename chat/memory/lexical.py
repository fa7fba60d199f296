"""The full-text side of memory retrieval (§8.3): which words to search, the best BM25
matches of one bot's memories, and the BM25 of any other memory.

Relevance is SQLite FTS5's BM25 (porter stemming) over the query's rarer words
(`affordable_terms`), so no query ranks every memory. Every candidate of a
retrieval, however it came (these matches, the nearest vectors, the recent and
important memories, the replies of ``chat.memory.exchange``), is scored by the same
BM25 (`lexical_candidates` keeps every match's): a match below the cut is still a match.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from operator import itemgetter

FTS_CANDIDATES = 100
TERM_CAP = 1500
"""A word in this many memories or more is too common to rank by (see `affordable_terms`)."""
MATCH_BUDGET = 2000
"""At most about this many memories are ranked by BM25 for one query."""

COUNTS_AT_ONCE = 16
"""Words counted in one statement (a query has at most 16, ``chat.state.fts``)."""

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
    counted = [(count, word) for count, word in zip(_document_counts(conn, words), words, strict=True)
               if 0 < count < TERM_CAP]  # fmt: skip
    counted.sort()
    chosen: list[str] = []
    total = 0
    for count, word in counted:
        if total + count > MATCH_BUDGET:
            break
        chosen.append(word)
        total += count
    return chosen


def _document_counts(conn: sqlite3.Connection, words: list[str]) -> list[int]:
    """Each word's capped document count, `COUNTS_AT_ONCE` words a statement (one capped
    FTS5 count a word, as one statement each was: the same counts, without a Python round
    trip per word; 0.1 ms of 0.7 a turn)."""
    counts: list[int] = []
    probe = f"(SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT {TERM_CAP}))"
    for start in range(0, len(words), COUNTS_AT_ONCE):
        part = words[start : start + COUNTS_AT_ONCE]
        sql = "SELECT " + ", ".join([probe] * len(part))
        counts.extend(conn.execute(sql, [f'"{w}"' for w in part]).fetchone())
    return counts


BM25 = "bm25(memories_fts)"
"""The score FTS5's ``rank`` column stands for, asked for as a function: the same values
and order, but ordering by ``rank`` makes FTS5 sort every match itself, keeping each
one's word positions, and ordering by this lets SQLite sort (score, rowid) pairs. 25 to
45 % less time for the query on the turn benchmark's world (measured, identical rows)."""


def lexical_candidates(
    conn: sqlite3.Connection, owner: str, match: str | None, world_id: str, skip: Collection[str]
) -> tuple[dict[str, tuple], dict[str, float], dict[int, float]]:
    """The `FTS_CANDIDATES` best BM25 matches among ``owner``'s live memories in
    ``world_id`` (rows in `LIGHT`'s layout and their BM25, by memory id), and FTS5's
    rank of every match of the owner's (its BM25, negated: lower is better), by rowid.

    The owner and world are filtered before the cut, not after: every message is an
    observation of each bot present (§5.3.1), so the FTS table holds one copy per
    witness, and a global top few hundred shared out over every bot of every world
    left some bots a dozen candidates (measured: 51 on average, 0 to 100, on the
    recall benchmark). Each match is one lookup by rowid, and FTS5 scores every match
    to rank them anyway (`affordable_terms` bounds how many), so all the scores are
    kept: a candidate that comes another way (a near vector, a recent or important
    memory, a reply) is scored by its own BM25 too, not as a memory that matches
    nothing. Asking FTS5 again for a few rowids would cost more than this whole query
    (each lookup reads every query word's list again: 0.1 ms a rowid at 100k). Only
    (rowid, score, message) triples are read for all matches and the best taken here,
    the observations of messages in view (``skip``) passed over with the message id the
    join has already read, and the texts read for the kept `FTS_CANDIDATES` alone (not
    for the ``len(skip)`` more the cut allows for: 0.2 ms a turn, docs/benchmarks.md
    "Session 22"); against letting SQLite keep the best 100 whole rows this costs
    about 0.2-0.35 ms a call and 1 ms at p95 at 100k (docs/benchmarks.md)."""
    if match is None:
        return {}, {}, {}
    rows = conn.execute(
        f"SELECT f.rowid, {BM25}, m.message_id FROM memories_fts f JOIN memories m ON m.rowid = f.rowid"
        f" WHERE memories_fts MATCH ? AND +m.owner = ? AND +m.world_id = ? AND {LIVE}",  # noqa: S608
        (match, owner, world_id),  # "+": FTS5 leads, each match looked up by rowid
    ).fetchall()
    ranks = {row[0]: row[1] for row in rows}  # FTS5's rank: lower is better
    # sorted()[:n] is what heapq.nsmallest gives (stable: ties in row order), in a seventh of
    # its time at the turn benchmark's ~220 of ~310 matches and never slower up to the
    # `MATCH_BUDGET` (0.17 against 0.22-0.36 ms at 2,000)
    best = sorted(rows, key=itemgetter(1))[: FTS_CANDIDATES + len(skip)]
    order = [row[0] for row in best if row[2] is None or row[2] not in skip]
    by_rowid = {row[0]: row for row in light_rows(conn, order[:FTS_CANDIDATES]).values()}
    if len(by_rowid) < min(len(order), FTS_CANDIDATES):  # a row gone since (another writer)
        by_rowid.update((row[0], row) for row in light_rows(conn, order[FTS_CANDIDATES:]).values())
    kept = [by_rowid[r] for r in order if r in by_rowid][:FTS_CANDIDATES]
    candidates = {row[1]: row for row in kept}
    return candidates, {mid: -ranks[row[0]] for mid, row in candidates.items()}, ranks


def light_rows(conn: sqlite3.Connection, rowids: list[int]) -> dict[str, tuple]:
    """The `LIGHT` rows of those memories, by memory id."""
    found: dict[str, tuple] = {}
    for start in range(0, len(rowids), 500):
        part = rowids[start : start + 500]
        marks = ",".join("?" for _ in part)
        for row in conn.execute(f"SELECT {LIGHT} FROM memories m WHERE m.rowid IN ({marks})", part):  # noqa: S608
            found[row[1]] = row
    return found
