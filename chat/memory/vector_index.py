"""The in-memory nearest-neighbour index over stored memory vectors (§7.6.1, §8.3).

One `Block` per (world, owner): a bot's memories of one world are searched alone, so
another world's vectors are never even compared (§3.5). A block holds its vectors as
one float32 matrix (row i is memory ``ids[i]``), filled once from ``memory_vectors``
when the process first searches and then caught up by ``seq`` as the background job
stores more: a query reads only the rows stored since the last one, never the table.

Search is exact below `PREFILTER_AT` vectors. Above it, each vector also has a
384-bit sign sketch (the signs of the vector minus the block's mean, the classic
random-hyperplane hash with the data's own axes), and a query first ranks every row by
Hamming distance (a XOR and a popcount per 64 bits: about half a millisecond at 100k
rows), then re-ranks the best `POOL` exactly. Measured in ``kith bench memory``: an
exact scan of 100k × 384 float32 is memory-bound at 10–15 ms on one core; the sketch
is 48 bytes a row.

Products are computed with ``np.einsum``, never ``@``: numpy's OpenBLAS splits even a
2,000-row product over every core, and on a busy machine its threads wait for each
other (8 ms instead of 0.2 ms for 2,000 × 384, measured on the 2-core build machine).

Liveness is not the index's business: a vector stays here after its memory was
reverted, deleted or superseded, and the caller keeps only the ids the ``memories``
table still has live (``chat.memory.retrieval``), asking for more when too few are.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np

PREFILTER_AT = 4096
"""Blocks with more vectors than this are searched through their sign sketches first."""
POOL = 4096
"""How many rows the sketch search hands to the exact re-ranking (at least 16 per wanted):
4 % of 100k rows. On the recall corpus's real vectors, scaled to 100k, the sketch search
finds 91.8, 97.4, 99.2 and 100 % of the exact nearest with 1, 2, 4 and 8 % pools
(``kith bench memory``, a row counted when its cosine is at least the exact n-th's;
counted by id, the corpus's identical vectors of repeated texts read as misses, 86-88 %)."""


def _top(scores: np.ndarray, n: int, *, largest: bool) -> np.ndarray:
    """Indices of the ``n`` best ``scores``, best first."""
    keys = -scores if largest else scores
    if n < len(keys):
        part = np.argpartition(keys, n)[:n]
        return part[np.argsort(keys[part], kind="stable")]
    return np.argsort(keys, kind="stable")


def _closest(distance: np.ndarray, pool: int, most: int) -> np.ndarray:
    """Rows of the ``pool`` smallest Hamming ``distance`` values (0..``most``), ties to the
    lower row: a histogram finds the cut-off (a quarter of an argpartition's time)."""
    below = int(np.searchsorted(np.cumsum(np.bincount(distance, minlength=most + 1)), pool))
    inside = np.flatnonzero(distance < below)
    edge = np.flatnonzero(distance == below)[: pool - len(inside)]
    return np.concatenate([inside, edge])


@dataclass
class Block:
    """One (world, owner)'s vectors; rows past ``size`` are spare capacity."""

    dim: int
    ids: list[str] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    mean: np.ndarray | None = None
    bits: np.ndarray | None = None  # (words, capacity) uint64: one word-column per 64 dims

    @property
    def size(self) -> int:
        return len(self.ids)

    def put_many(self, ids: list[str], crcs: list[int], vectors: np.ndarray) -> None:
        """Add or replace the vectors of ``ids`` (one memory appears once per batch)."""
        rows = []
        for memory_id, crc in zip(ids, crcs, strict=True):
            at = self.position.get(memory_id)
            if at is None:
                at = self.position[memory_id] = len(self.ids)
                self.ids.append(memory_id)
                self.crcs.append(crc)
            else:
                self.crcs[at] = crc
            rows.append(at)
        self._reserve(self.size)
        self.matrix[rows] = vectors
        if self.bits is not None:
            self.bits[:, rows] = self._sketch(vectors)
        elif self.size > PREFILTER_AT:
            self.mean = self.matrix[: self.size].mean(axis=0)
            self.bits = np.zeros((self._words(), self.matrix.shape[0]), dtype=np.uint64)
            self.bits[:, : self.size] = self._sketch(self.matrix[: self.size])

    def _words(self) -> int:
        return (self.dim + 63) // 64

    def _reserve(self, size: int) -> None:
        capacity = self.matrix.shape[0]
        if size <= capacity:
            return
        grown = max(64, capacity * 2, size)
        matrix = np.zeros((grown, self.dim), dtype=np.float32)
        if capacity:
            matrix[:capacity] = self.matrix
        self.matrix = matrix
        if self.bits is not None:
            bits = np.zeros((self._words(), grown), dtype=np.uint64)
            bits[:, :capacity] = self.bits
            self.bits = bits

    def _sketch(self, vectors: np.ndarray) -> np.ndarray:
        """(words, rows) uint64: the signs of ``vectors`` minus the block's mean, packed."""
        signs = np.atleast_2d(vectors) > self.mean
        packed = np.packbits(signs, axis=1)
        padded = np.zeros((packed.shape[0], self._words() * 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        return np.ascontiguousarray(padded.view(np.uint64).T)

    def nearest(self, query: np.ndarray, n: int, *, pool: int | None = None) -> list[tuple[str, float]]:
        """The ``n`` rows closest to ``query`` by cosine, best first (``pool``: how many
        the sketch search re-ranks, `POOL` or 16 per wanted row unless given)."""
        size = self.size
        if n <= 0 or size == 0:
            return []
        pool = pool or max(POOL, 16 * n)
        if self.bits is None or pool >= size:
            sims = np.einsum("ij,j->i", self.matrix[:size], query)
            rows = _top(sims, n, largest=True)
            return [(self.ids[r], float(sims[r])) for r in rows]
        code = self._sketch(query)[:, 0]
        distance = np.bitwise_count(self.bits[0, :size] ^ code[0]).astype(np.uint16)
        for word in range(1, len(code)):
            distance += np.bitwise_count(self.bits[word, :size] ^ code[word])
        chosen = _closest(distance, pool, self._words() * 64)
        sims = np.einsum("ij,j->i", self.matrix.take(chosen, axis=0), query)
        best = _top(sims, n, largest=True)
        return [(self.ids[chosen[r]], float(sims[r])) for r in best]

    def similarities(self, wanted: dict[str, int], query: np.ndarray) -> dict[str, float]:
        """Cosine with ``query`` of each memory id in ``wanted`` whose vector was made from
        the text with that crc (missing and stale ones are left out)."""
        ids, rows = [], []
        for memory_id, crc in wanted.items():
            at = self.position.get(memory_id)
            if at is not None and self.crcs[at] == crc:
                ids.append(memory_id)
                rows.append(at)
        if not rows:
            return {}
        sims = np.einsum("ij,j->i", self.matrix.take(rows, axis=0), query)
        return dict(zip(ids, sims.tolist(), strict=True))


class VectorIndex:
    """The vectors of one model in one database, searched per (world, owner)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.seq = 0
        self.blocks: dict[tuple[str, str], Block] = {}
        self._lock = threading.Lock()

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Read the rows stored since the last refresh (all of them the first time).

        Read by ``seq`` (the primary key), never through the (model, memory_id) index
        SQLite picked for ``model = ?``: that walked every vector of the model and sorted
        them, 13 ms at 100k, in every retrieval after new memories were embedded (each
        turn's), where the range read takes 0.05 ms (measured, docs/benchmarks.md)."""
        with self._lock:
            top = conn.execute("SELECT max(seq) FROM memory_vectors").fetchone()[0] or 0
            if top < self.seq:  # the table was emptied or replaced: start over
                self.seq, self.blocks = 0, {}
            if top == self.seq:
                return
            batches: dict[tuple[str, str], tuple[list[str], list[int], list[bytes]]] = {}
            dims: dict[tuple[str, str], int] = {}
            for memory_id, world_id, owner, crc, dim, blob in conn.execute(
                "SELECT memory_id, world_id, owner, text_crc, dim, vector FROM memory_vectors"
                " WHERE seq > ? AND +model = ? ORDER BY seq",  # "+": by seq, not every row of the model
                (self.seq, self.model),
            ):
                key = (world_id, owner)
                block_dim = self.blocks[key].dim if key in self.blocks else dims.setdefault(key, dim)
                if dim != block_dim or len(blob) != 2 * dim:
                    continue  # another shape than the block's: never compared
                ids, crcs, blobs = batches.setdefault(key, ([], [], []))
                ids.append(memory_id)
                crcs.append(crc)
                blobs.append(blob)
            for key, (ids, crcs, blobs) in batches.items():
                block = self.blocks.get(key)
                if block is None:
                    block = self.blocks[key] = Block(dims[key])
                vectors = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids), block.dim)
                block.put_many(ids, crcs, vectors.astype(np.float32))
            self.seq = top

    def nearest(self, world_id: str, owner: str, query: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` memories of ``owner`` in ``world_id`` whose vectors are closest to
        ``query`` (cosine), best first; some may no longer be live (see the module doc)."""
        with self._lock:
            block = self.blocks.get((world_id, owner))
            if block is None or query.shape[-1] != block.dim:
                return []
            return block.nearest(query, n)

    def similarities(
        self, world_id: str, owner: str, wanted: dict[str, int], query: np.ndarray
    ) -> dict[str, float]:
        """Cosine with ``query`` of the stored vectors of ``wanted`` (memory id -> crc of its
        current text); missing and stale ones are left out."""
        with self._lock:
            block = self.blocks.get((world_id, owner))
            if block is None or query.shape[-1] != block.dim:
                return {}
            return block.similarities(wanted, query)

    def similarity(
        self, world_id: str, owner: str, memory_id: str, crc: int, query: np.ndarray
    ) -> float | None:
        """Cosine of one stored vector with ``query``; None when missing or stale."""
        return self.similarities(world_id, owner, {memory_id: crc}, query).get(memory_id)

    def has(self, world_id: str, owner: str) -> bool:
        return (world_id, owner) in self.blocks


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
