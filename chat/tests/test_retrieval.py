"""Memory retrieval (§8.3): recency + importance + relevance scoring (the FTS query: test_state_fts)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.memory.retrieval import recency, retrieve_memories

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_recency_decays_by_0995_per_hour() -> None:
    assert recency("2025-01-01T12:00:00.000000Z", NOW) == 1.0
    assert recency("2025-01-01T02:00:00.000000Z", NOW) == pytest.approx(0.995**10)
    assert recency("2025-01-02T12:00:00.000000Z", NOW) == 1.0  # the future is not "older"


def add_memories(conn: sqlite3.Connection, rows: list[tuple[str, str, int, str]]) -> None:
    """(id, owner, importance, text), all created at the fixed clock times given by ``stamp``."""
    bots = {owner for _, owner, _, _ in rows}
    events = [NewEvent("bot_authored", {"id": b, "name": b.title()}) for b in sorted(bots)]
    events += [
        NewEvent("memory_added", {"id": mid, "owner": owner, "text": text, "importance": imp})
        for mid, owner, imp, text in rows
    ]
    append_events(conn, events, clock=lambda: "2025-01-01T12:00:00.000000Z")
    project(conn)


def test_score_is_recency_plus_importance_plus_relevance(conn: sqlite3.Connection) -> None:
    add_memories(
        conn,
        [
            ("m1", "mara", 2, "The lighthouse lamp broke in the storm."),
            ("m2", "mara", 9, "You saved my brother from the sea."),
            ("m3", "mara", 5, "Fish prices went up."),
            ("m4", "bo", 10, "The lighthouse lamp is mine."),
        ],
    )
    conn.execute("UPDATE memories SET last_retrieved_at = '2025-01-01T02:00:00.000000Z' WHERE id = 'm3'")
    got = retrieve_memories(conn, "mara", "Is the lighthouse lamp fixed?", now=NOW, k=8)
    scores = {m["id"]: score for m, score in got}
    assert [m["id"] for m, _ in got] == ["m1", "m2", "m3"]  # never another bot's memory
    assert scores["m1"] == pytest.approx(1.0 + 0.2 + 1.0)  # the only match: relevance 1
    assert scores["m2"] == pytest.approx(1.0 + 0.9 + 0.0)
    assert scores["m3"] == pytest.approx(0.995**10 + 0.5 + 0.0)
    assert [m["id"] for m, _ in retrieve_memories(conn, "mara", "lamp", now=NOW, k=1)] == ["m1"]
    assert retrieve_memories(conn, "nobody", "lamp", now=NOW) == []
    assert retrieve_memories(conn, "mara", "lamp", now=NOW, k=0) == []


def test_relevance_is_scaled_by_the_best_match(conn: sqlite3.Connection) -> None:
    add_memories(
        conn,
        [
            ("a", "mara", 5, "storm storm storm over the harbour"),
            ("b", "mara", 5, "a storm once, long ago, far away from any harbour at all"),
        ],
    )
    got = dict((m["id"], s) for m, s in retrieve_memories(conn, "mara", "storm", now=NOW))
    assert got["a"] == pytest.approx(2.5)
    assert 1.5 < got["b"] < 2.5


class LetterEmbedder:
    """A tiny real embedder: counts of the letters a-z (cosine works on it)."""

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[float(t.lower().count(c)) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts]


def test_an_embedder_adds_cosine_similarity(conn: sqlite3.Connection) -> None:
    add_memories(conn, [("a", "mara", 5, "zzz zzz"), ("b", "mara", 5, "aaa bbb")])
    plain = dict((m["id"], s) for m, s in retrieve_memories(conn, "mara", "aab", now=NOW))
    mixed = dict(
        (m["id"], s) for m, s in retrieve_memories(conn, "mara", "aab", now=NOW, embedder=LetterEmbedder())
    )
    assert plain["a"] == plain["b"] == pytest.approx(1.5)
    assert mixed["a"] == pytest.approx(1.5)  # orthogonal: no similarity
    assert mixed["b"] > 1.5 + 0.4


def test_retrieval_reads_recent_and_important_memories_by_index(conn: sqlite3.Connection) -> None:
    plans = [
        " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("mara", 5)))
        for sql in (
            "SELECT id FROM memories m INDEXED BY memories_owner_recency WHERE m.owner = ?"
            " ORDER BY m.last_retrieved_at DESC LIMIT ?",
            "SELECT id FROM memories m INDEXED BY memories_owner_importance WHERE m.owner = ?"
            " ORDER BY m.importance DESC LIMIT ?",
        )
    ]
    assert all("USING INDEX" in plan and "TEMP B-TREE" not in plan for plan in plans), plans


def test_recently_retrieved_memories_come_back(conn: sqlite3.Connection) -> None:
    add_memories(conn, [(f"m{i}", "mara", 1, f"note number {i}") for i in range(100)])
    stamp = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.execute("UPDATE memories SET last_retrieved_at = '2024-01-01T00:00:00.000000Z'")
    conn.execute("UPDATE memories SET last_retrieved_at = ? WHERE id = 'm3'", (stamp,))
    got = retrieve_memories(conn, "mara", "unrelated words", now=NOW, k=1)
    assert got[0][0]["id"] == "m3"


def test_words_too_common_to_rank_by_are_left_out(conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    import chat.memory.retrieval as retrieval

    rows = [(f"c{i}", "mara", 5, f"common words number {i}") for i in range(12)]
    rows += [("r1", "mara", 5, "a rare kraken and common words"), ("r2", "mara", 5, "kraken ink")]
    add_memories(conn, rows)
    monkeypatch.setattr(retrieval, "TERM_CAP", 10)
    monkeypatch.setattr(retrieval, "MATCH_BUDGET", 3)
    assert retrieval.affordable_terms(conn, ["common", "kraken", "ink", "absent"]) == ["ink", "kraken"]
    monkeypatch.setattr(retrieval, "MATCH_BUDGET", 2)
    assert retrieval.affordable_terms(conn, ["common", "kraken", "ink"]) == ["ink"]
    got = [m["id"] for m, _ in retrieve_memories(conn, "mara", "common kraken", now=NOW, k=2)]
    assert got == ["r2", "r1"]  # the rare word decides; the shorter memory ranks higher
