"""Memory retrieval (§8.3): weighted, normalised scoring over FTS and vector candidates
(the FTS query: test_state_fts)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.llm.embeddings import normalised
from chat.memory.retrieval import Weights, recency, retrieve_memories
from chat.memory.vectors import embed_pending, index_for, text_crc

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


def test_score_is_weighted_and_normalised_over_the_candidates(conn: sqlite3.Connection) -> None:
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
    # 3·relevance + 1·importance + 0.5·recency, each min-max over the three candidates
    assert scores["m1"] == pytest.approx(3 * 1.0 + 0.0 + 0.5 * 1.0)
    assert scores["m2"] == pytest.approx(3 * 0.0 + 1.0 + 0.5 * 1.0)
    assert scores["m3"] == pytest.approx(3 * 0.0 + (5 - 2) / (9 - 2) + 0.5 * 0.0)
    assert [m["id"] for m, _ in retrieve_memories(conn, "mara", "lamp", now=NOW, k=1)] == ["m1"]
    assert retrieve_memories(conn, "nobody", "lamp", now=NOW) == []
    assert retrieve_memories(conn, "mara", "lamp", now=NOW, k=0) == []
    weights = Weights(relevance=0.0, importance=1.0, recency=0.0)
    top = retrieve_memories(conn, "mara", "lamp", now=NOW, k=1, weights=weights)
    assert top[0][0]["id"] == "m2"  # the weights are the settings' to change


def test_a_weak_match_still_beats_important_noise(conn: sqlite3.Connection) -> None:
    """Relevance first: the one memory about the storm wins over ten important, recent
    memories about nothing asked, however weak its BM25 is in absolute terms."""
    rows = [(f"n{i}", "mara", 10, f"a grand feast number {i}") for i in range(10)]
    rows += [("s", "mara", 1, "long ago, far away, there was once a storm somewhere out at sea")]
    add_memories(conn, rows)
    conn.execute("UPDATE memories SET last_retrieved_at = '2024-06-01T00:00:00.000000Z' WHERE id = 's'")
    assert retrieve_memories(conn, "mara", "what storm?", now=NOW, k=1)[0][0]["id"] == "s"


def test_superseded_memories_are_not_retrieved(conn: sqlite3.Connection) -> None:
    add_memories(
        conn, [("old", "mara", 5, "Mara lives in Porto."), ("new", "mara", 5, "Mara moved to Lisbon.")]
    )
    conn.execute("UPDATE memories SET superseded_by = 'new' WHERE id = 'old'")
    got = [m["id"] for m, _ in retrieve_memories(conn, "mara", "where does Mara live, Porto?", now=NOW)]
    assert got == ["new"]


def test_relevance_is_bm25_min_max_normalised(conn: sqlite3.Connection) -> None:
    add_memories(
        conn,
        [
            ("a", "mara", 5, "storm storm storm over the harbour"),
            ("b", "mara", 5, "a storm once, long ago, far away from any harbour at all"),
            ("c", "mara", 5, "a storm"),
        ],
    )
    got = dict((m["id"], s) for m, s in retrieve_memories(conn, "mara", "storm harbour", now=NOW))
    assert got["a"] == pytest.approx(3.0)  # best match; importance and recency all equal: 0
    assert got["c"] == pytest.approx(0.0)  # weakest match
    assert 0.0 < got["b"] < 3.0


class LetterEmbedder:
    """A tiny real embedder: counts of the letters a-z (cosine works on it)."""

    name = "letters"

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return normalised(
            [[float(t.lower().count(c)) + 1e-6 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts]
        )


def test_an_embedder_adds_nearest_stored_vectors(conn: sqlite3.Connection) -> None:
    add_memories(conn, [("a", "mara", 5, "zzz zzz"), ("b", "mara", 5, "aaa bbb"), ("c", "mara", 5, "qqq")])
    embedder = LetterEmbedder()
    plain = [m["id"] for m, _ in retrieve_memories(conn, "mara", "aab", now=NOW, index_candidates=0)]
    assert plain == []  # no word in common: nothing lexical
    while embed_pending(conn, embedder):
        pass
    mixed = retrieve_memories(conn, "mara", "aab", now=NOW, embedder=embedder, index_candidates=0)
    assert mixed[0][0]["id"] == "b"  # found by its vector alone
    assert mixed[0][1] == pytest.approx(3.0)
    stored = conn.execute("SELECT dim, length(vector) FROM memory_vectors WHERE memory_id='b'").fetchone()
    assert stored == (26, 52)  # float16


def test_a_stale_vector_is_ignored_until_recomputed(conn: sqlite3.Connection) -> None:
    add_memories(conn, [("a", "mara", 5, "zzz zzz"), ("b", "mara", 5, "aaa bbb")])
    embedder = LetterEmbedder()
    embed_pending(conn, embedder)
    conn.execute("UPDATE memories SET text = 'zzz aaa' WHERE id = 'b'")
    index = index_for(conn, embedder.name)
    assert index.similarity("default", "mara", "b", text_crc("zzz aaa"), embedder.embed_query("a")) is None


def test_retrieval_reads_recent_and_important_memories_by_index(conn: sqlite3.Connection) -> None:
    plans = [
        " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("default", "mara", 5)))
        for sql in (  # as retrieve_memories asks: one bot's memories of one world (§3.5)
            "SELECT id FROM memories m INDEXED BY memories_owner_recency WHERE m.world_id = ?"
            " AND m.owner = ? ORDER BY m.last_retrieved_at DESC LIMIT ?",
            "SELECT id FROM memories m INDEXED BY memories_owner_importance WHERE m.world_id = ?"
            " AND m.owner = ? ORDER BY m.importance DESC LIMIT ?",
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
    import chat.memory.lexical as lexical

    rows = [(f"c{i}", "mara", 5, f"common words number {i}") for i in range(12)]
    rows += [("r1", "mara", 5, "a rare kraken and common words"), ("r2", "mara", 5, "kraken ink")]
    add_memories(conn, rows)
    monkeypatch.setattr(lexical, "TERM_CAP", 10)
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 3)
    assert lexical.affordable_terms(conn, ["common", "kraken", "ink", "absent"]) == ["ink", "kraken"]
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 2)
    assert lexical.affordable_terms(conn, ["common", "kraken", "ink"]) == ["ink"]
    got = [m["id"] for m, _ in retrieve_memories(conn, "mara", "common kraken", now=NOW, k=2)]
    assert got == ["r2", "r1"]  # the rare word decides; the shorter memory ranks higher


def test_other_bots_matches_do_not_crowd_out_this_bots_candidates(conn: sqlite3.Connection) -> None:
    """Every message is an observation of each bot present, so the FTS table holds many
    other bots' copies of the same words; the cut to the best matches is per owner."""
    others = [(f"o{n}", f"bot{n % 5}", 5, "The lamp, the lamp, the lighthouse lamp.") for n in range(500)]
    mine = [("mine", "mara", 1, "I think the lamp went out during the long night watch.")]
    filler = [(f"f{n}", "mara", 9, f"Gulls over the harbour, number {n}.") for n in range(30)]
    add_memories(conn, others + mine + filler)
    conn.execute("UPDATE memories SET last_retrieved_at = '2024-01-01T00:00:00.000000Z' WHERE id = 'mine'")
    # the least important and least recent of mara's: only the FTS candidates can bring it
    got = retrieve_memories(conn, "mara", "lamp", now=NOW, k=3)
    assert got[0][0]["id"] == "mine"


def test_a_repeated_memory_takes_one_place(conn: sqlite3.Connection) -> None:
    add_memories(
        conn,
        [
            ("r1", "mara", 5, "Bo: The train was late again."),
            ("r2", "mara", 5, "Bo: The train was late again!"),
            ("r3", "mara", 5, "Bo: the TRAIN was late, again."),
            ("c2", "mara", 5, "Bo: I have 2 cats and the train scares them."),
            ("c3", "mara", 5, "Bo: I have 3 cats and the train scares them."),
            ("x", "mara", 5, "Bo: I missed the train to the coast."),
        ],
    )
    got = [m["id"] for m, _ in retrieve_memories(conn, "mara", "train", now=NOW, k=4, index_candidates=0)]
    assert len(got) == 4
    assert len({"r1", "r2", "r3"} & set(got)) == 1  # the same words: one of them
    assert {"c2", "c3", "x"} <= set(got)  # a number differs, or other words: all kept
