"""Does §8.3's relevance (BM25 and cosine, each min-max normalised, averaged) suit an embedder?

``python -m benchmarks.relevance_mix --embedder wordllama [--locomo locomo10.json]``
reruns recall (``benchmarks.bench_memory``'s corpus, and LoCoMo if given) with the
cosine's share of relevance at each of ``--mix`` (Kith: 0.5; 0 is lexical alone, the
``kith`` row), and reports how raw cosines spread over a query's candidates (the
best minus the worst, and the best minus the median: a static embedder's mean-pooled
vectors share a common direction, so its cosines may sit in a narrower or wider band
than a transformer's; min-max normalisation is what makes either usable). Nothing is
tuned here: it shows whether the built share is near the best for each embedder.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from benchmarks import bench_memory, locomo_recall
from chat.memory import retrieval
from chat.memory.retrieval import minmax

BUILT = retrieval.combined_relevance


def mixed(share: float, spreads: list[tuple[float, float]]) -> Any:
    """`combined_relevance` with the cosine's share ``share`` (Kith's own at 0.5), noting
    each query's raw cosine spread."""

    def combined(ids: list[str], bm25: dict[str, float], semantic: dict[str, float]) -> dict[str, float]:
        if semantic:
            values = sorted(semantic.values())
            spreads.append((values[-1] - values[0], values[-1] - statistics.median(values)))
        if not semantic or not bm25:
            return BUILT(ids, bm25, semantic)
        lexical = minmax({mid: bm25.get(mid, 0.0) for mid in ids})
        low = min(semantic.values())
        cos = minmax({mid: semantic.get(mid, low) for mid in ids})
        return {mid: (1 - share) * lexical[mid] + share * cos[mid] for mid in ids}

    return combined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--embedder", choices=bench_memory.OFFLINE_EMBEDDERS, default="wordllama")
    parser.add_argument("--mix", type=float, nargs="*", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--locomo", type=Path, help="locomo10.json (also measured on it)")
    args = parser.parse_args(argv)
    embedder = bench_memory.make_embedder(args.embedder)
    if embedder is None:
        raise SystemExit(f"{args.embedder} is not installed (pip install 'kith[embed]')")
    row = f"kith+{args.embedder}"
    print(f"cosine share | bench_memory R@5 / 10 / 25 ({args.conversations} conversations)"
          + (" | LoCoMo R@5 / 10 / 25" if args.locomo else "") + " | cosine spread p50: best-worst, best-median")  # fmt: skip
    for share in args.mix:
        spreads: list[tuple[float, float]] = []
        retrieval.combined_relevance = mixed(share, spreads)  # type: ignore[assignment]
        try:
            found = bench_memory.measure_recall(args.conversations, 20, 30, 15, {args.embedder: embedder}, lambda _: None)
            ours = found["methods"][row]["all"]
            line = f"{share:12} | " + " / ".join(str(ours[f"recall@{k}"]) for k in bench_memory.KS)
            wide = statistics.median(s[0] for s in spreads)  # over the bench's queries only
            top = statistics.median(s[1] for s in spreads)
            spread = f" | {wide:.3f}, {top:.3f} ({len(spreads)} queries)"
            if share == args.mix[0]:
                lexical = found["methods"]["kith"]["all"]
                print("0 (lexical)  | " + " / ".join(str(lexical[f"recall@{k}"]) for k in bench_memory.KS))
            if args.locomo:
                table = locomo_recall.run(args.locomo, {args.embedder: embedder}, adversarial=True)
                line += " | " + " / ".join(str(v) for v in table[row]["all"])
                if share == args.mix[0]:
                    print(f"  LoCoMo lexical: {' / '.join(str(v) for v in table['kith']['all'])}")
        finally:
            retrieval.combined_relevance = BUILT  # type: ignore[assignment]
        print(line + spread, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
