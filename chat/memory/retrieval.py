"""Memory retrieval (§8.3): which memories a bot recalls for the message at hand.

Score = recency + importance + relevance, each in 0..1, as in Generative Agents
(Park et al. 2023). Recency decays by 0.995 per hour since the memory was last
retrieved; importance is the 1..10 rating over 10; relevance is SQLite FTS5's
BM25 (scaled by the best match), averaged with cosine similarity when an
`Embedder` is configured.

Fast at any size because nothing scans every memory: the candidates are the
best FTS matches (over the query's rarer words, see `affordable_terms`) plus the
owner's most recently retrieved and most important memories, each read through
an index (migration 0003); only those are scored. The query words come from
`chat.state.fts`, the builder the UI's memory search uses too.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from typing import Any, Protocol

from chat.state.fts import fts_terms, or_query
from chat.state.memory import memories_by_rowid

DECAY_PER_HOUR = 0.995
FTS_CANDIDATES = 100
INDEX_CANDIDATES = 40
TERM_CAP = 1500
"""A word in this many memories or more is too common to rank by (see `affordable_terms`)."""
MATCH_BUDGET = 2000
"""At most about this many memories are ranked by BM25 for one query."""


class Embedder(Protocol):
    """Anything that turns texts into vectors (one list of floats per text)."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


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


def parse_time(value: str) -> datetime:
    """Parse the log's UTC timestamps ("2024-05-01T12:00:00.000000Z")."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def recency(last_retrieved_at: str, now: datetime) -> float:
    """0.995 ** hours since last retrieval (1.0 for now or the future)."""
    hours = (now - parse_time(last_retrieved_at)).total_seconds() / 3600
    return 1.0 if hours <= 0 else DECAY_PER_HOUR**hours


def importance_score(importance: int) -> float:
    return max(0.0, min(1.0, importance / 10))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 0.0 if norm == 0 else dot / norm


_LIGHT = "m.rowid, m.id, m.importance, m.last_retrieved_at, m.event_id, m.text"


def retrieve_memories(
    conn: sqlite3.Connection,
    owner: str,
    query: str,
    *,
    now: datetime,
    k: int = 8,
    embedder: Embedder | None = None,
) -> list[tuple[dict[str, Any], float]]:
    """The ``k`` best memories of ``owner`` for ``query``, best first, with their scores.

    Candidates are scored from a few columns; only the ``k`` winners are read whole.
    """
    if k <= 0:
        return []
    candidates: dict[str, tuple] = {}
    bm25: dict[str, float] = {}
    match = or_query(affordable_terms(conn, fts_terms(query)))
    if match is not None:
        rows = conn.execute(
            f"SELECT {_LIGHT}, hits.rank FROM ("
            "  SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ?"
            "  ORDER BY rank LIMIT ?"
            f") AS hits JOIN memories m ON m.rowid = hits.rowid WHERE m.owner = ?",  # noqa: S608
            (match, FTS_CANDIDATES * 4, owner),
        ).fetchall()
        rows.sort(key=lambda r: r[-1])
        for row in rows[:FTS_CANDIDATES]:
            candidates[row[1]] = row[:-1]
            bm25[row[1]] = -float(row[-1])  # FTS5 rank: lower is better
    for order in ("last_retrieved_at", "importance"):
        rows = conn.execute(
            f"SELECT {_LIGHT} FROM memories m INDEXED BY memories_owner_{_INDEX[order]}"  # noqa: S608
            f" WHERE m.owner = ? ORDER BY m.{order} DESC LIMIT ?",
            (owner, INDEX_CANDIDATES),
        ).fetchall()
        for row in rows:
            candidates.setdefault(row[1], row)
    if not candidates:
        return []
    relevance = _relevance(candidates, bm25, query, embedder)
    scored = sorted(
        (
            (
                recency(row[3], now) + importance_score(row[2]) + relevance.get(memory_id, 0.0),
                row[4],
                row[0],
            )
            for memory_id, row in candidates.items()
        ),
        key=lambda item: (-item[0], -item[1]),
    )[:k]
    full = memories_by_rowid(conn, [rowid for _, _, rowid in scored])
    return [(full[rowid], score) for score, _, rowid in scored]


_INDEX = {"last_retrieved_at": "recency", "importance": "importance"}


def _relevance(
    candidates: dict[str, tuple],
    bm25: dict[str, float],
    query: str,
    embedder: Embedder | None,
) -> dict[str, float]:
    best = max(bm25.values(), default=0.0)
    lexical = {mid: (score / best if best > 0 else 0.0) for mid, score in bm25.items()}
    if embedder is None:
        return lexical
    ids = list(candidates)
    vectors = embedder.embed([query] + [candidates[mid][5] for mid in ids])
    query_vector = vectors[0]
    result: dict[str, float] = {}
    for mid, vector in zip(ids, vectors[1:], strict=True):
        semantic = max(0.0, cosine(query_vector, vector))
        result[mid] = (lexical.get(mid, 0.0) + semantic) / 2
    return result
