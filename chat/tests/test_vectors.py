"""Stored memory vectors (§7.6.1): computed once, kept by a rebuild, recomputed when the
text changes; the in-memory index catches up on new rows and starts over when the table
is emptied."""

from __future__ import annotations

import sqlite3

import numpy as np

from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project, rebuild
from chat.memory.vectors import embed_pending, index_for, pending_memories
from chat.tests.test_retrieval import LetterEmbedder, add_memories


def test_vectors_survive_a_rebuild_and_follow_text_edits(conn: sqlite3.Connection) -> None:
    add_memories(conn, [("a", "mara", 5, "zzz zzz"), ("b", "mara", 5, "aaa bbb"), ("c", "bo", 5, "ccc")])
    embedder = LetterEmbedder()
    assert embed_pending(conn, embedder) == 3 and embed_pending(conn, embedder) == 0
    rebuild(conn)
    assert pending_memories(conn, embedder.name) == []  # kept: memory ids are stable
    append_events(conn, [NewEvent("manual_edit", {"target_type": "memory", "target_id": "b",
                                                  "field": "text", "value": "qqq", "previous": "aaa bbb"})])  # fmt: skip
    project(conn)
    assert [row[0] for row in pending_memories(conn, embedder.name)] == ["b"]  # stale: recomputed
    assert pending_memories(conn, embedder.name, owner="bo") == []
    embed_pending(conn, embedder)
    index = index_for(conn, embedder.name)
    near = dict(index.nearest("default", "mara", embedder.embed_query("qqq"), 1))
    assert list(near) == ["b"] and near["b"] > 0.99
    assert set(index.blocks) == {("default", "mara"), ("default", "bo")}


def test_the_index_catches_up_and_starts_over(conn: sqlite3.Connection) -> None:
    add_memories(conn, [("a", "mara", 5, "zzz")])
    embedder = LetterEmbedder()
    embed_pending(conn, embedder)
    index = index_for(conn, embedder.name)
    assert len(index.blocks[("default", "mara")].ids) == 1
    append_events(conn, [
        NewEvent("memory_added", {"id": f"m{i}", "owner": "mara", "text": f"note {i} " + "x" * i, "importance": 5})
        for i in range(100)
    ])  # fmt: skip
    project(conn)
    embed_pending(conn, embedder, limit=200)
    index = index_for(conn, embedder.name)
    assert len(index.blocks[("default", "mara")].ids) == 101  # grown past its first capacity
    stored = conn.execute("SELECT vector FROM memory_vectors WHERE memory_id = 'm7'").fetchone()[0]
    row = index.blocks[("default", "mara")].position["m7"]
    assert np.allclose(index.blocks[("default", "mara")].matrix[row], np.frombuffer(stored, dtype=np.float16))
    # a database put back from elsewhere (its seq behind ours): the index starts over
    conn.execute("DELETE FROM memory_vectors")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'memory_vectors'")
    embed_pending(conn, embedder, limit=1)
    assert len(index_for(conn, embedder.name).blocks[("default", "mara")].ids) == 1
