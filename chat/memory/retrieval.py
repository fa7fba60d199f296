"""Memory retrieval (§8.3): which memories a bot recalls for the message at hand.

score = 3·relevance + 1·importance + 0.5·recency (weights in settings, `Weights`),
each min-max normalised over the candidates, as in the Generative Agents code
where relevance dominates. Recency decays by 0.995 per hour since the memory was
last retrieved (or created). Relevance is SQLite FTS5's BM25 (porter stemming,
``chat.memory.lexical``), every candidate's own however it came, and, where an
`Embedder` is configured, the cosine of stored vectors (§7.6.1), each min-max
normalised over the candidates and averaged. The reply to a question that matches
gets half the question's BM25 on top of its own (``chat.memory.exchange``): a
conversation's facts are often in the answer and its words in the question. A
memory that nearly repeats one ranked above it is passed over
(``chat.memory.novelty``), so repeats take one place. Measured, not tuned by eye: ``kith bench memory``
(benchmarks/bench_memory.py).

Fast at any size because no query reads every memory: the candidates are the best
FTS matches among the owner's memories (over the query's rarer words, see
`affordable_terms`), the replies to the questions among them, the nearest
stored vectors (in memory, 48 bytes a row scanned: ``chat.memory.vector_index``) and a few of
the owner's most recently retrieved and most important memories (so a message
that matches nothing still recalls something), each read through an index
(migration 0003); only those are scored. Superseded memories are left out. The
query words come from `chat.state.fts`, the builder the UI's memory search uses too.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np

from chat.llm.embeddings import Embedder, embed_query_then
from chat.memory.exchange import answer_credits
from chat.memory.lexical import LIGHT, LIVE, affordable_terms, lexical_candidates, light_rows
from chat.memory.novelty import walk_distinct
from chat.memory.vector_index import VectorIndex, index_for
from chat.memory.vectors import text_crc
from chat.state.fts import fts_query, fts_terms, or_query
from chat.state.memory import memories_by_rowid
from chat.state.observations import observation_id

DECAY_PER_HOUR = 0.995
VECTOR_CANDIDATES = 100
INDEX_CANDIDATES = 10

__all__ = ["Embedder", "Weights", "fts_query", "fts_terms", "retrieve_memories"]


@dataclass(frozen=True)
class Weights:
    """How much each normalised term counts (§8.3); settings ``memory_weight_*``."""

    relevance: float = 3.0
    importance: float = 1.0
    recency: float = 0.5

    @classmethod
    def from_settings(cls, settings: Any) -> Weights:
        return cls(
            relevance=settings.memory_weight_relevance,
            importance=settings.memory_weight_importance,
            recency=settings.memory_weight_recency,
        )


@lru_cache(maxsize=16384)
def parse_time(value: str) -> datetime:
    """Parse the log's UTC timestamps ("2024-05-01T12:00:00.000000Z"). Kept by value: a
    recall scores ~120 candidates' times, mostly the same from one turn to the next."""
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


_INDEX = {"last_retrieved_at": "recency", "importance": "importance"}


def minmax(values: dict[str, float]) -> dict[str, float]:
    """Each value scaled to 0..1 over ``values`` (all 0 when they are all equal)."""
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {key: ((v - low) / span if span > 0 else 0.0) for key, v in values.items()}


def retrieve_memories(
    conn: sqlite3.Connection,
    owner: str,
    query: str,
    *,
    now: datetime,
    k: int = 8,
    embedder: Embedder | None = None,
    weights: Weights | None = None,
    index_candidates: int = INDEX_CANDIDATES,
    world_id: str = "default",
    skip_messages: Collection[str] = (),
    keep: Callable[[str, str], bool] | None = None,
    limit: int | None = None,
) -> list[tuple[dict[str, Any], float]]:
    """The ``k`` best memories of ``owner`` in ``world_id`` for ``query``, best first, with
    their scores. A bot's memories of another world are never candidates (§3.5).

    ``skip_messages``: ids of messages the prompt already shows; their witnessed
    observations (§5.3.1) would add nothing, so they are no candidates and the next
    best memories take their places. Candidates are scored from a few columns; only
    the ``k`` winners are read whole. With an ``embedder`` the query is embedded
    (cached) and compared with stored vectors only; memories not embedded yet count
    by their words alone. The query is embedded on another thread while its words are
    searched, and its nearest vectors are searched on that thread (`embed_query_then`).

    ``keep(id, text)`` and ``limit``: the first ``limit`` of the ``k`` best that ``keep``
    accepts (a caller that drops some, such as the prompt's chapters and quotes of shown
    messages). The result is exactly that filter applied to the ``k`` best afterwards;
    the walk stops once ``limit`` are kept and only those are read whole.
    """
    if k <= 0:
        return []
    weights = weights or Weights()
    skip = skip_messages if isinstance(skip_messages, (set, frozenset)) else set(skip_messages)
    index = None if embedder is None else index_for(conn, embedder.name)
    searching = None
    if embedder is not None and index is not None and index.has(world_id, owner):
        asked = VECTOR_CANDIDATES + len(skip)  # the first round of `_vector_candidates`
        searching = embed_query_then(  # embedded, then searched, while the words are searched
            embedder, query, lambda vector: index.nearest(world_id, owner, vector, asked)
        )
    terms = affordable_terms(conn, fts_terms(query))
    match = or_query(terms)
    candidates, bm25, matched = lexical_candidates(conn, owner, match, world_id, skip)
    replies, credit = answer_credits(conn, owner, world_id, candidates, bm25, terms, skip)
    for mid, row in replies.items():
        candidates.setdefault(mid, row)
    standing = _standing_rows(conn, owner, world_id, skip, index_candidates)  # before the wait
    semantic: dict[str, float] = {}
    if searching is not None and index is not None:
        vector, near = searching.result()
        semantic = _vector_candidates(conn, owner, (vector, near), index, candidates, world_id, skip)
    for row in standing:
        candidates.setdefault(row[1], row)
    if not candidates:
        return []
    for mid, row in candidates.items():  # a match below the lexical cut is still a match
        if mid not in bm25 and row[0] in matched:
            bm25[mid] = -matched[row[0]]
    for mid, extra in credit.items():
        bm25[mid] = bm25.get(mid, 0.0) + extra
    relevance = combined_relevance(list(candidates), bm25, semantic)
    importance = minmax({mid: float(row[2]) for mid, row in candidates.items()})
    fresh = minmax({mid: recency(row[3], now) for mid, row in candidates.items()})
    ranked = sorted(
        (
            (
                weights.relevance * relevance[mid]
                + weights.importance * importance[mid]
                + weights.recency * fresh[mid],
                row[4],
                row[0],
                row[5],
                mid,
            )
            for mid, row in candidates.items()
        ),
        key=lambda item: (-item[0], -item[1]),
    )
    walked: Iterable[tuple] = islice(walk_distinct(ranked, lambda item: item[3]), k)
    if keep is not None:
        walked = (item for item in walked if keep(item[4], item[3]))
    scored = [item[:3] for item in islice(walked, k if limit is None else max(limit, 0))]
    return _read_whole(conn, scored)


def combined_relevance(
    ids: list[str], bm25: dict[str, float], semantic: dict[str, float]
) -> dict[str, float]:
    """BM25 and cosine, each min-max normalised over the candidates, averaged.

    A candidate with no FTS match counts as the weakest lexical match; one with no
    stored vector as the weakest cosine (raw cosines of small models span only a
    narrow band, which is why they are normalised and never averaged in raw)."""
    lexical = minmax({mid: bm25.get(mid, 0.0) for mid in ids}) if bm25 else {}
    if not semantic:
        return {mid: lexical.get(mid, 0.0) for mid in ids}
    low = min(semantic.values())
    cos = minmax({mid: semantic.get(mid, low) for mid in ids})
    if not bm25:
        return cos
    return {mid: (lexical[mid] + cos[mid]) / 2 for mid in ids}


def _vector_candidates(
    conn: sqlite3.Connection,
    owner: str,
    searched: tuple[np.ndarray, list[tuple[str, float]]],
    index: VectorIndex,
    candidates: dict[str, tuple],
    world_id: str,
    skip: Collection[str],
) -> dict[str, float]:
    """Add the `VECTOR_CANDIDATES` nearest live vectors of ``owner`` in ``world_id`` to
    ``candidates``; every candidate's cosine.

    The index still holds vectors of reverted, deleted and superseded memories (and of
    observations in view, ``skip``); those are dropped by reading the rows back, and
    when too few are left the index is asked for more, four times as many each round.
    The first round asks for as many more as there are messages in view: they are the
    conversation at hand, so their observations are often the nearest (in a turn at 100k
    memories, 55-80 of the 100 nearest), and a second round cost more than the first.
    The bot's own observations of those messages are known by id (`observation_id`) and
    never read; the rest are read in the index's order, only as many as are still wanted
    (reading all 100 + in view took twice as long: docs/benchmarks.md, "Session 22").
    ``searched``: the query vector and that first round's answer (searched on the query
    embedding's thread, `embed_query_then`)."""
    vector, near = searched
    wanted, asked = VECTOR_CANDIDATES, VECTOR_CANDIDATES + len(skip)
    shown = {observation_id(message_id, owner) for message_id in skip}
    live: dict[str, tuple] = {}
    seen: set[str] = set()
    while True:
        order = _live_order(conn, [mid for mid, _ in near if mid not in shown], (owner, world_id),
                            candidates, (live, seen), skip, wanted)  # fmt: skip
        if len(order) >= wanted or len(near) < asked or asked >= 64 * VECTOR_CANDIDATES:
            break
        asked *= 4
        near = index.nearest(world_id, owner, vector, asked)
    for mid in order:
        candidates.setdefault(mid, live.get(mid))  # type: ignore[arg-type]
    crcs = {mid: text_crc(row[5]) for mid, row in candidates.items()}
    return index.similarities(world_id, owner, crcs, vector)


def _live_order(
    conn: sqlite3.Connection,
    near: list[str],
    whose: tuple[str, str],
    candidates: dict[str, tuple],
    read: tuple[dict[str, tuple], set[str]],
    skip: Collection[str],
    wanted: int,
) -> list[str]:
    """The first ``wanted`` of ``near`` that are candidates already or live memories of
    ``whose`` (owner, world), neither an observation of a message in ``skip``, in
    ``near``'s order. Rows are read a slice at a time, as many as are still wanted, and
    kept in ``read`` (rows found, ids looked up) for a later round."""
    live, seen = read
    order: list[str] = []
    done = 0
    while len(order) < wanted and done < len(near):
        part = near[done : done + wanted - len(order)]
        done += len(part)
        fresh = [mid for mid in part if mid not in seen and mid not in candidates]
        seen.update(fresh)
        live.update(_live_rows(conn, fresh, *whose))
        for mid in part:
            row = live.get(mid) or candidates.get(mid)
            if row is not None and row[6] not in skip:
                order.append(mid)
    return order


def _standing_rows(
    conn: sqlite3.Connection, owner: str, world_id: str, skip: Collection[str], each: int
) -> list[tuple]:
    """The ``each`` most recently retrieved and ``each`` most important live memories of
    ``owner`` in ``world_id`` that are not observations of messages in view, in that order
    (a message that matches nothing still recalls something). They need no query vector,
    so they are read while it is embedded and searched. The observations in view are passed
    over inside the query and only the chosen rows are read in full (with ~120 messages in
    view, reading 10 + 120 rows a list and dropping them here cost twice as much)."""
    picked: list[int] = []
    shown = json.dumps(list(skip))
    for order in ("last_retrieved_at", "importance"):
        if each <= 0:
            break
        picked.extend(rowid for (rowid,) in conn.execute(
            f"SELECT m.rowid FROM memories m INDEXED BY memories_owner_{_INDEX[order]}"  # noqa: S608
            f" WHERE m.world_id = ? AND m.owner = ? AND {LIVE} AND (m.message_id IS NULL"
            f" OR m.message_id NOT IN (SELECT value FROM json_each(?))) ORDER BY m.{order} DESC LIMIT ?",
            (world_id, owner, shown, each),
        ))  # fmt: skip
    light = {row[0]: row for row in light_rows(conn, picked).values()}
    return [light[rowid] for rowid in picked if rowid in light]


def _live_rows(
    conn: sqlite3.Connection, ids: list[str], owner: str, world_id: str
) -> dict[str, tuple]:
    """The light rows of those ``ids`` that are live memories of ``owner`` in ``world_id``."""
    found: dict[str, tuple] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" for _ in part)
        for row in conn.execute(
            f"SELECT {LIGHT} FROM memories m WHERE m.id IN ({marks})"  # noqa: S608
            f" AND +m.owner = ? AND +m.world_id = ? AND {LIVE}",  # "+": look up by id, not owner
            [*part, owner, world_id],
        ):
            found[row[1]] = row
    return found


def _read_whole(
    conn: sqlite3.Connection, scored: list[tuple[float, int, int]]
) -> list[tuple[dict[str, Any], float]]:
    full = memories_by_rowid(conn, [rowid for _, _, rowid in scored])
    return [(full[rowid], score) for score, _, rowid in scored]
