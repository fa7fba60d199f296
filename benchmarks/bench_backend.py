"""Embedded backend streaming vs direct llama-cpp-python, side by side (§13).

Same loaded model, same prompt, greedy decoding: tokens per second and time to
first token through `EmbeddedBackend.stream_reply` (worker thread + event loop)
against `llama_cpp.Llama.create_chat_completion(stream=True)` called directly.
Runs alternate between the two paths; medians are reported with their ratio
(target: app >= 0.9x direct), plus the process's peak RSS with the model loaded.

    python benchmarks/bench_backend.py [--repetitions 5] [--max-tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chat.llm.embedded import EmbeddedBackend
from chat.llm.types import ChatMessage, ReplyRequest

SYSTEM = "You are Ana, a cheerful baker in a small harbour town. Answer in character."
USER = "Tell me the whole story of how you opened your bakery, from the very beginning."


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    return {
        "tokens": statistics.median(s["tokens"] for s in samples),
        "tokens_per_s": statistics.median(s["tokens_per_s"] for s in samples),
        "decode_tokens_per_s": statistics.median(s["decode_tokens_per_s"] for s in samples),
        "ttft_ms": statistics.median(s["ttft_ms"] for s in samples),
    }


def _sample(started: float, stamps: list[float]) -> dict[str, float]:
    total = stamps[-1] - started
    decode = stamps[-1] - stamps[0]
    return {
        "tokens": len(stamps),
        "tokens_per_s": len(stamps) / total,
        "decode_tokens_per_s": (len(stamps) - 1) / decode if decode > 0 else float("nan"),
        "ttft_ms": (stamps[0] - started) * 1000,
    }


async def _measure(repetitions: int, max_tokens: int, tick: Callable[[], None]) -> dict[str, Any]:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0))
    load_started = time.perf_counter()
    loaded = backend.load()
    load_s = time.perf_counter() - load_started
    llama = loaded.llama
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", USER)]
    request = ReplyRequest(
        messages=messages,
        bot_id="ana",
        bot_name="Ana",
        user_name="You",
        user_text=USER,
        max_tokens=max_tokens,
        temperature=0.0,
    )

    def fresh() -> None:
        """No prompt reuse, from the context or from a kept state: the whole prompt is
        evaluated, like a new chat's first turn."""
        llama.keeper.clear()
        llama.reset()

    def direct() -> dict[str, float]:
        fresh()
        started = time.perf_counter()
        stamps: list[float] = []
        with loaded.lock:
            for chunk in llama.create_chat_completion(
                messages=[m.to_dict() for m in messages],
                max_tokens=max_tokens,
                temperature=0.0,
                repeat_penalty=backend.options.repeat_penalty,
                seed=0,
                stream=True,
            ):
                if chunk["choices"][0]["delta"].get("content"):
                    stamps.append(time.perf_counter())
        return _sample(started, stamps)

    async def through_app() -> dict[str, float]:
        fresh()
        started = time.perf_counter()
        stamps: list[float] = []
        async for _ in backend.stream_reply(request):
            stamps.append(time.perf_counter())
        return _sample(started, stamps)

    direct()  # warm-up: caches, page faults
    await through_app()
    direct_runs: list[dict[str, float]] = []
    app_runs: list[dict[str, float]] = []
    for rep in range(repetitions):
        if rep % 2 == 0:  # alternate the order so neither path always runs second
            direct_runs.append(direct())
            app_runs.append(await through_app())
        else:
            app_runs.append(await through_app())
            direct_runs.append(direct())
        tick()
    direct_summary, app_summary = _summary(direct_runs), _summary(app_runs)
    return {
        "model": loaded.path.name,
        "n_ctx": backend.options.n_ctx,
        "max_tokens": max_tokens,
        "repetitions": repetitions,
        "load_s": load_s,
        "direct": direct_summary,
        "app": app_summary,
        "ratio_tokens_per_s": app_summary["tokens_per_s"] / direct_summary["tokens_per_s"],
        "ratio_decode_tokens_per_s": (
            app_summary["decode_tokens_per_s"] / direct_summary["decode_tokens_per_s"]
        ),
        "ttft_overhead_ms": app_summary["ttft_ms"] - direct_summary["ttft_ms"],
        "target_ratio": 0.9,
        "rss_mb": _current_rss_mb(),
        "peak_rss_mb": _peak_rss_mb(),
        "target_peak_rss_mb": 500,
    }


def run(progress: bool = True, repetitions: int = 5, max_tokens: int = 128) -> dict[str, Any]:
    """Run the benchmark and return its numbers (see the module docstring)."""
    if not progress:
        return asyncio.run(_measure(repetitions, max_tokens, lambda: None))
    import click

    with click.progressbar(length=repetitions, label="embedded backend", file=sys.stderr) as bar:
        return asyncio.run(_measure(repetitions, max_tokens, lambda: bar.update(1)))


def format_report(result: dict[str, Any]) -> str:
    """A markdown table of `run()`'s result, for docs/benchmarks.md."""
    d, a = result["direct"], result["app"]
    ok = result["ratio_tokens_per_s"] >= result["target_ratio"]
    rss_ok = result["peak_rss_mb"] < result["target_peak_rss_mb"]
    return "\n".join(
        [
            f"Model {result['model']}, n_ctx {result['n_ctx']}, greedy, max_tokens "
            f"{result['max_tokens']}, median of {result['repetitions']} runs each, "
            "prompt evaluated afresh every run.",
            "",
            "| path | tokens | tokens/s | decode tokens/s | time to first token |",
            "|---|---|---|---|---|",
            f"| direct llama-cpp-python | {d['tokens']:.0f} | {d['tokens_per_s']:.1f} | "
            f"{d['decode_tokens_per_s']:.1f} | {d['ttft_ms']:.1f} ms |",
            f"| EmbeddedBackend.stream_reply | {a['tokens']:.0f} | {a['tokens_per_s']:.1f} | "
            f"{a['decode_tokens_per_s']:.1f} | {a['ttft_ms']:.1f} ms |",
            "",
            f"Ratio app/direct: {result['ratio_tokens_per_s']:.3f}x tokens/s "
            f"({result['ratio_decode_tokens_per_s']:.3f}x decode), target >= 0.9x: "
            f"{'met' if ok else 'NOT met'}. Peak RSS with the model loaded: "
            f"{result['peak_rss_mb']:.0f} MB (target < 500 MB: {'met' if rss_ok else 'NOT met'}); "
            f"model load {result['load_s'] * 1000:.0f} ms.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args(argv)
    result = run(progress=True, repetitions=args.repetitions, max_tokens=args.max_tokens)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
