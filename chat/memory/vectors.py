"""Stored memory vectors (§7.6.1) and their nearest-neighbour search (§8.3).

Vectors live in ``memory_vectors`` (migration 0050) as float16 BLOBs, one per
memory and model, written in the background by `embed_pending`; a query never
embeds a document. This Python's ``sqlite3`` cannot load extensions, so
``sqlite-vec`` is out; an exact numpy search over each owner's vectors is used
instead (measured in ``kith bench memory``: about 1–3 ms for 20k vectors of 384
dimensions), which needs no approximate index and no extra dependency.

`VectorIndex` keeps each owner's vectors in memory as one float32 matrix (about
1.5 KB a memory) and catches up on new rows by ``seq``, so a process pays the
load once. Entries whose text changed since they were embedded (``text_crc``)
are ignored until `embed_pending` recomputes them.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from chat.db.connection import transaction

if TYPE_CHECKING:
    from chat.llm.embeddings import Embedder

EMBED_BATCH = 32


def text_crc(text: str) -> int:
    """A cheap fingerprint of a memory's text: a vector made from other text is stale."""
    return zlib.crc32(text.encode("utf-8"))


@dataclass
class _Block:
    """One owner's vectors: row i of ``matrix`` is memory ``ids[i]``."""

    dim: int
    ids: list[str] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def put(self, memory_id: str, crc: int, vector: np.ndarray) -> None:
        at = self.position.get(memory_id)
        if at is None:
            at = len(self.ids)
            if at >= self.matrix.shape[0]:
                grown = np.zeros((max(64, at * 2), self.dim), dtype=np.float32)
                if at:
                    grown[:at] = self.matrix[:at]
                self.matrix = grown
            self.ids.append(memory_id)
            self.crcs.append(crc)
            self.position[memory_id] = at
        self.crcs[at] = crc
        self.matrix[at] = vector


class VectorIndex:
    """The vectors of one model in one database, searched per owner."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.seq = 0
        self.blocks: dict[str, _Block] = {}
        self._lock = threading.Lock()

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Read the rows written since the last refresh (all of them the first time)."""
        with self._lock:
            top = conn.execute("SELECT max(seq) FROM memory_vectors").fetchone()[0] or 0
            if top < self.seq:  # the table was emptied or replaced: start over
                self.seq, self.blocks = 0, {}
            if top == self.seq:
                return
            rows = conn.execute(
                "SELECT seq, memory_id, owner, text_crc, dim, vector FROM memory_vectors"
                " WHERE seq > ? AND model = ? ORDER BY seq",
                (self.seq, self.model),
            )
            for _seq, memory_id, owner, crc, dim, blob in rows:
                block = self.blocks.get(owner)
                if block is None:
                    block = self.blocks[owner] = _Block(dim)
                if dim == block.dim:
                    block.put(memory_id, crc, np.frombuffer(blob, dtype=np.float16))
            self.seq = top

    def nearest(self, owner: str, query: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` memories of ``owner`` whose vectors are closest to ``query`` (cosine)."""
        block = self.blocks.get(owner)
        if block is None or not block.ids or n <= 0 or query.shape[-1] != block.dim:
            return []
        size = len(block.ids)
        sims = block.matrix[:size] @ query
        top = np.argpartition(-sims, n)[:n] if n < size else np.arange(size)
        return [(block.ids[i], float(sims[i])) for i in top]

    def similarity(self, owner: str, memory_id: str, crc: int, query: np.ndarray) -> float | None:
        """Cosine of one stored vector with ``query``; None when missing or stale."""
        block = self.blocks.get(owner)
        at = None if block is None else block.position.get(memory_id)
        if block is None or at is None or block.crcs[at] != crc or query.shape[-1] != block.dim:
            return None
        return float(block.matrix[at] @ query)

    def stored_crc(self, owner: str, memory_id: str) -> int | None:
        block = self.blocks.get(owner)
        at = None if block is None else block.position.get(memory_id)
        return None if block is None or at is None else block.crcs[at]


_INDEXES: dict[tuple[str, str], VectorIndex] = {}
_INDEXES_LOCK = threading.Lock()


def database_file(conn: sqlite3.Connection) -> str:
    """The file behind ``conn`` (``:memory:`` databases get a per-connection key)."""
    for _seq, name, path in conn.execute("PRAGMA database_list"):
        if name == "main":
            return path or f":memory:{id(conn)}"
    return f":memory:{id(conn)}"


def index_for(conn: sqlite3.Connection, model: str) -> VectorIndex:
    """The process's index of ``model``'s vectors in this database, brought up to date."""
    key = (database_file(conn), model)
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = VectorIndex(model)
    index.refresh(conn)
    return index


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


def store_vectors(
    conn: sqlite3.Connection, model: str, rows: list[tuple[str, str, str]], vectors: np.ndarray
) -> int:
    """Write one float16 vector per (id, owner, text) row, replacing older ones."""
    with transaction(conn):
        for (memory_id, owner, text), vector in zip(rows, vectors, strict=True):
            blob = np.asarray(vector, dtype=np.float16).tobytes()
            conn.execute(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, model, owner, text_crc, dim,"
                " vector) VALUES (?, ?, ?, ?, ?, ?)",
                (memory_id, model, owner, text_crc(text), len(vector), blob),
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
