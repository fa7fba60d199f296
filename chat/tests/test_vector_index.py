"""The in-memory vector index (§7.6.1, §8.3): searched per (world, owner), through sign
sketches above `PREFILTER_AT` vectors, rebuilt from stored vectors after a restart, and
never a way back for reverted, superseded or another world's memories."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import numpy as np
import pytest

import chat.memory.retrieval as retrieval
import chat.memory.vector_index as vector_index
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.llm.embeddings import normalised
from chat.memory.retrieval import VECTOR_CANDIDATES, retrieve_memories
from chat.memory.vector_index import PREFILTER_AT, Block, VectorIndex, index_for
from chat.memory.vectors import embed_pending, pending_memories, store_vectors

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class SpokeEmbedder:
    """Memory ``n`` of a test points at angle ``n`` degrees in a plane (plus a shared
    offset, as real models have): the nearest vectors to a query are known exactly."""

    name = "spokes"

    @staticmethod
    def vector(angle: float) -> np.ndarray:
        radians = np.deg2rad(angle)
        return normalised([[np.cos(radians), np.sin(radians), 0.5, 0.0]])[0]

    def embed_query(self, text: str) -> np.ndarray:
        return self.vector(float(text.split()[-1]))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vector(float(t.split()[-1])) for t in texts])


class NoDocuments(SpokeEmbedder):
    """The same model, but embedding a document is an error: a restart must not."""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("documents are never embedded again")


def _spokes(conn: sqlite3.Connection, angles: range, *, world: str | None = None, chat: str | None = None,
            turn: str | None = None, prefix: str = "s") -> None:  # fmt: skip
    events = [
        NewEvent("memory_added", {"id": f"{prefix}{a}", "owner": "mara", "text": f"spoke {a}", "importance": 5,
                                  **({"world_id": world} if world else {})}, chat_id=chat, turn_id=turn)
        for a in angles
    ]  # fmt: skip
    append_events(conn, events)
    project(conn)


def _ids(got: list[tuple[dict, float]]) -> list[str]:
    return [m["id"] for m, _ in got]


def _recall(conn: sqlite3.Connection, angle: int, k: int, embedder: SpokeEmbedder | None = None,
            world: str = "default") -> list[str]:  # fmt: skip
    got = retrieve_memories(conn, "mara", f"nothing lexical {angle}", now=NOW, k=k, index_candidates=0,
                            embedder=embedder or SpokeEmbedder(), world_id=world)  # fmt: skip
    return _ids(got)


@pytest.fixture
def mara(conn: sqlite3.Connection) -> sqlite3.Connection:
    append_events(conn, [NewEvent("bot_authored", {"id": "mara", "name": "Mara"}),
                         NewEvent("world_created", {"id": "north", "name": "North"})])  # fmt: skip
    project(conn)
    return conn


def test_a_bots_vectors_are_searched_per_world(mara: sqlite3.Connection) -> None:
    _spokes(mara, range(0, 200, 10))
    _spokes(mara, range(0, 200, 10), world="north", prefix="n")
    while embed_pending(mara, SpokeEmbedder()):
        pass
    index = index_for(mara, "spokes")
    assert set(index.blocks) == {("default", "mara"), ("north", "mara")}
    assert [mid for mid, _ in index.nearest("north", "mara", SpokeEmbedder.vector(32), 3)] == ["n30", "n40", "n20"]
    assert _recall(mara, 32, 5) == ["s30", "s40", "s20", "s50", "s10"]
    assert set(_recall(mara, 32, 40, world="north")) == {f"n{a}" for a in range(0, 200, 10)}
    stored = mara.execute("SELECT world_id, count(*) FROM memory_vectors GROUP BY world_id").fetchall()
    assert sorted(stored) == [("default", 20), ("north", 20)]


def test_reverted_and_superseded_memories_are_never_recalled_by_their_vectors(
    mara: sqlite3.Connection,
) -> None:
    append_events(mara, [NewEvent("chat_created", {"id": "c1", "title": "c", "bot_ids": ["mara"]}, chat_id="c1"),
                         NewEvent("turn_queued", {"id": "t1", "chat_id": "c1"}, chat_id="c1", turn_id="t1")])  # fmt: skip
    _spokes(mara, range(0, 150), chat="c1", turn="t1", prefix="r")  # nearest to 0, then reverted
    _spokes(mara, range(150, 360))
    append_events(mara, [NewEvent("memory_superseded", {"id": f"s{a}", "superseded_by": "s200"})
                         for a in range(150, 170)])  # fmt: skip
    project(mara)
    while embed_pending(mara, SpokeEmbedder(), limit=500):
        pass
    assert "r0" in _recall(mara, 0, 5)
    append_events(mara, [NewEvent("turns_reverted", {"chat_id": "c1", "turn_ids": ["t1"]}, chat_id="c1")])
    project(mara)
    index = index_for(mara, "spokes")
    assert index.nearest("default", "mara", SpokeEmbedder.vector(0), 1)[0][0] == "r0"  # still indexed
    got = _recall(mara, 0, VECTOR_CANDIDATES)
    # the 150 nearest are gone and the next 20 superseded: the index was asked for more
    assert len(got) == VECTOR_CANDIDATES
    assert not [mid for mid in got if mid.startswith("r") or int(mid[1:]) < 170]
    assert set(got) == {f"s{a}" for a in range(260, 360)}  # the 100 nearest live ones


def test_a_restart_rebuilds_the_index_from_stored_vectors(
    mara: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spokes(mara, range(0, 90, 10))
    embed_pending(mara, SpokeEmbedder())
    before = _recall(mara, 42, 3)
    monkeypatch.setattr(vector_index, "_INDEXES", {})  # a new process
    assert pending_memories(mara, "spokes") == []
    assert _recall(mara, 42, 3, NoDocuments()) == before == ["s40", "s50", "s30"]


def test_a_vector_is_stored_only_for_the_text_it_was_made_from(mara: sqlite3.Connection) -> None:
    _spokes(mara, range(3))
    rows = pending_memories(mara, "spokes")
    vectors = SpokeEmbedder().embed_documents([text for _, _, text in rows])
    mara.execute("UPDATE memories SET text = 'spoke 77' WHERE id = 's1'")  # edited meanwhile
    mara.execute("DELETE FROM memories WHERE id = 's2'")  # reverted meanwhile
    store_vectors(mara, "spokes", rows, vectors)
    assert [r[0] for r in mara.execute("SELECT memory_id FROM memory_vectors")] == ["s0"]
    assert [row[0] for row in pending_memories(mara, "spokes")] == ["s1"]  # embedded again, new text


def test_observations_of_messages_in_view_are_skipped_and_replaced(mara: sqlite3.Connection) -> None:
    append_events(mara, [
        NewEvent("chat_created", {"id": "c1", "title": "c", "bot_ids": ["mara"]}, chat_id="c1"),
        *[NewEvent("message_posted", {"id": f"m{n}", "chat_id": "c1", "author": "you",
                                      "text": f"the lighthouse lamp story number {n}"}, chat_id="c1")
          for n in range(6)],
    ])  # fmt: skip
    project(mara)
    every = _ids(retrieve_memories(mara, "mara", "lighthouse lamp", now=NOW, k=6))
    assert len(every) == 6
    shown = {"m4", "m5"}
    got = _ids(retrieve_memories(mara, "mara", "lighthouse lamp", now=NOW, k=4, skip_messages=shown))
    assert sorted(got) == sorted(f"obs:m{n}:mara" for n in range(4))


def test_nearest_in_view_are_passed_over_unread_and_rows_read_as_wanted(
    mara: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 150 observations in view are the nearest vectors; they are never read back,
    the rest are read in the index's order only as far as 100 live ones are found, and
    the candidates are exactly the 100 nearest live memories not in view."""
    append_events(mara, [
        NewEvent("chat_created", {"id": "c1", "title": "c", "bot_ids": ["mara"]}, chat_id="c1"),
        *[NewEvent("message_posted", {"id": f"m{a}", "chat_id": "c1", "author": "you", "text": f"spoke {a}"},
                   chat_id="c1") for a in range(150)],
    ])  # fmt: skip
    _spokes(mara, range(150, 360))
    append_events(mara, [NewEvent("memory_superseded", {"id": f"s{a}", "superseded_by": "s200"})
                         for a in range(340, 350)])  # fmt: skip
    project(mara)
    while embed_pending(mara, SpokeEmbedder(), limit=500):
        pass
    read: list[str] = []
    real = retrieval._live_rows  # noqa: SLF001

    def spy(conn: sqlite3.Connection, ids: list[str], owner: str, world_id: str) -> dict[str, tuple]:
        read.extend(ids)
        return real(conn, ids, owner, world_id)

    monkeypatch.setattr(retrieval, "_live_rows", spy)
    query = 70.25  # no two spokes equally near
    got = retrieve_memories(mara, "mara", f"nothing lexical {query}", now=NOW, k=VECTOR_CANDIDATES,
                            index_candidates=0, embedder=SpokeEmbedder(), skip_messages={f"m{a}" for a in range(150)})  # fmt: skip
    live = [a for a in range(150, 360) if not 340 <= a < 350]
    cosines = [float(SpokeEmbedder.vector(a) @ SpokeEmbedder.vector(query)) for a in live]
    nearest = [f"s{live[i]}" for i in np.argsort(cosines)[::-1][:VECTOR_CANDIDATES]]
    assert set(_ids(got)) == set(nearest)
    assert not [mid for mid in read if mid.startswith("obs:")]
    assert sorted(read) == sorted(nearest + [f"s{a}" for a in range(340, 350)])  # the superseded once, in passing


def _clustered(count: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors in 40 clusters around a shared offset (the shape of real embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    points = centres[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, dim)) + 3.0
    return normalised(points)


def test_the_sketch_search_finds_the_exact_nearest() -> None:
    vectors = _clustered(PREFILTER_AT + 1000, 384, seed=4)
    block = Block(384)
    block.put_many([f"v{i}" for i in range(len(vectors))], [0] * len(vectors), vectors)
    assert block.bits is not None  # past PREFILTER_AT: searched through sketches
    queries = _clustered(50, 384, seed=4)[:50] + 0.01
    found = 0
    for query in normalised(queries):
        exact = [f"v{i}" for i in np.argsort(-np.einsum("ij,j->i", vectors, query))[:10]]
        sketched = block.nearest(query, 10, pool=400)  # 8 % of the rows, as 2,048 is of 25k
        assert [s for _, s in sketched] == sorted((s for _, s in sketched), reverse=True)
        found += len(set(exact) & {mid for mid, _ in sketched})
    assert found >= 0.9 * 500, found
    # a replaced vector is found under its new value, sketch included
    block.put_many(["v7"], [1], normalised(-vectors[7:8]))
    assert block.nearest(normalised(-vectors[7:8])[0], 1)[0][0] == "v7"
    assert block.similarities({"v7": 0, "v8": 0}, vectors[8]) == {"v8": pytest.approx(1.0, abs=1e-5)}


def test_an_index_catches_up_by_seq_without_rereading(mara: sqlite3.Connection) -> None:
    _spokes(mara, range(5))
    embed_pending(mara, SpokeEmbedder())
    index = VectorIndex("spokes")
    index.refresh(mara)
    seq = index.seq
    _spokes(mara, range(5, 8))
    embed_pending(mara, SpokeEmbedder())
    index.refresh(mara)
    assert index.seq > seq and index.blocks[("default", "mara")].size == 8


def test_migration_0090_files_stored_vectors_under_their_memorys_world(tmp_path) -> None:  # noqa: ANN001
    from chat.db.connection import open_db
    from chat.db.migrate import apply_migrations, bundled_migrations

    path = tmp_path / "old.db"
    apply_migrations(path, [m for m in bundled_migrations() if m.number < 90])
    with open_db(path) as old:
        append_events(old, [NewEvent("bot_authored", {"id": "mara", "name": "Mara"}),
                            NewEvent("world_created", {"id": "north", "name": "North"})])  # fmt: skip
        project(old)
        _spokes(old, range(2))
        _spokes(old, range(2), world="north", prefix="n")
        blob = np.zeros(4, dtype=np.float16).tobytes()
        for memory_id in ("s0", "n1", "gone"):  # "gone": its memory was reverted
            old.execute("INSERT INTO memory_vectors (memory_id, model, owner, text_crc, dim, vector)"
                        " VALUES (?, 'spokes', 'mara', 0, 4, ?)", (memory_id, blob))  # fmt: skip
    apply_migrations(path)
    with open_db(path) as new:
        rows = new.execute("SELECT memory_id, world_id FROM memory_vectors ORDER BY memory_id").fetchall()
    assert rows == [("n1", "north"), ("s0", "default")]
