"""Stored memory vectors (§7.6.1): which memories still need one, and writing them.

Vectors live in ``memory_vectors`` (migrations 0050, 0090) as float16 BLOBs, one per
memory and model, tagged with the memory's owner and world, written in the background
(``chat.runtime.embedding``, or `embed_pending` here); a query never embeds a
document. This Python's ``sqlite3`` cannot load extensions, so ``sqlite-vec`` is out;
the search runs in memory over the stored vectors (``chat.memory.vector_index``),
which a restart rebuilds from this table without embedding anything again. Entries
whose text changed since they were embedded (``text_crc``) are ignored until
`embed_pending` recomputes them.
"""

from __future__ import annotations

import sqlite3
import zlib
from typing import TYPE_CHECKING

import numpy as np

from chat.db.connection import transaction
from chat.memory.vector_index import VectorIndex, index_for

if TYPE_CHECKING:
    from chat.llm.embeddings import Embedder

EMBED_BATCH = 32

__all__ = [
    "VectorIndex", "embed_pending", "embedding_progress", "index_for", "pending_memories", "store_vectors", "text_crc",
]


def text_crc(text: str) -> int:
    """A cheap fingerprint of a memory's text: a vector made from other text is stale."""
    return zlib.crc32(text.encode("utf-8"))


def pending_memories(
    conn: sqlite3.Connection, model: str, *, limit: int = EMBED_BATCH, owner: str | None = None
) -> list[tuple[str, str, str]]:
    """(id, owner, text) of memories (of ``owner``, or all) with no vector of ``model``
    yet, oldest first."""
    mine = "" if owner is None else " AND m.owner = ?"
    return conn.execute(
        "SELECT m.id, m.owner, m.text FROM memories m"
        " LEFT JOIN memory_vectors v ON v.model = ? AND v.memory_id = m.id"
        f" WHERE v.memory_id IS NULL{mine} ORDER BY m.event_id LIMIT ?",  # noqa: S608
        (model, *([] if owner is None else [owner]), limit),
    ).fetchall()


def embedding_progress(conn: sqlite3.Connection, model: str) -> tuple[int, int]:
    """(memories, those with a vector of ``model``) over every world: how far the
    background embedding is, for the Settings page."""
    total, done = conn.execute(
        "SELECT COUNT(*), COUNT(v.memory_id) FROM memories m"
        " LEFT JOIN memory_vectors v ON v.model = ? AND v.memory_id = m.id",
        (model,),
    ).fetchone()
    return int(total), int(done)


def store_vectors(
    conn: sqlite3.Connection, model: str, rows: list[tuple[str, str, str]], vectors: np.ndarray
) -> int:
    """Write one float16 vector per (id, owner, text) row, replacing older ones; the
    number of rows given.

    The owner and world are the memory's own, read in the same statement. A memory that
    is gone (reverted, deleted) or whose text changed while it was being embedded gets
    no vector: it is pending again, so the new text is embedded next, and no vector
    is ever filed under a world its memory is not in."""
    with transaction(conn):
        for (memory_id, _owner, text), vector in zip(rows, vectors, strict=True):
            blob = np.asarray(vector, dtype=np.float16).tobytes()
            conn.execute(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, model, owner, world_id,"
                " text_crc, dim, vector) SELECT m.id, ?, m.owner, COALESCE(m.world_id, 'default'),"
                " ?, ?, ? FROM memories m WHERE m.id = ? AND m.text = ?",
                (model, text_crc(text), len(vector), blob, memory_id, text),
            )
    return len(rows)


def forget_vector(conn: sqlite3.Connection, memory_id: str) -> None:
    """Drop a memory's vectors (its text changed or it was deleted); recomputed later."""
    conn.execute("DELETE FROM memory_vectors WHERE memory_id = ?", (memory_id,))


def embed_pending(
    conn: sqlite3.Connection, embedder: Embedder, *, limit: int = EMBED_BATCH, owner: str | None = None
) -> int:
    """Embed up to ``limit`` memories that have no vector yet; the number embedded.

    Call it again until it returns 0. Runs wherever a write is allowed (the runtime
    reads pending rows, embeds off the writer thread, then stores: see
    ``chat.runtime.embedding``); this one-call form is for the CLI and tests."""
    rows = pending_memories(conn, embedder.name, limit=limit, owner=owner)
    if not rows:
        return 0
    vectors = embedder.embed_documents([text for _, _, text in rows])
    return store_vectors(conn, embedder.name, rows, vectors)
