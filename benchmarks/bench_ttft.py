"""Time to first token over a long chat (§13, issue 15): embedded model, and a real server.

The demo world (`kith init`'s data), a new 1:1 chat with Mara, ``turns`` user messages
through the real `Runtime` with extraction on (as a user has it), replies capped at
``max_tokens``. Time to first token: from `post_message` to the turn's first ``token``
event on the bus (prompt assembly, retrieval and the model's prompt evaluation).

* ``embedded``: the bundled SmolLM2 through `EmbeddedBackend`; per call, the prompt
  tokens llama.cpp evaluated (``llama_perf_context().n_p_eval``) and those reused from
  the context or from a kept KV state (chat/llm/kv_keep.py).
* ``server``: the same chat against `python -m llama_cpp.server` (same model, prompt cache
  on) through Kith's OpenAI-compatible backend; per request, the prefix reused and the
  prompt tokens evaluated as the server logs them.

Target (§13): time to first token at turn 60 <= 1.5x turn 1, same machine, one run.

    kith bench ttft [--turns 60]
    python -m benchmarks.bench_ttft [--turns 60] [--max-tokens 24] [--no-server] [--no-embedded] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_prompt import LINES as PROMPT_LINES
from benchmarks.ttft_server import ServerLog, llama_server
from chat.bus import Subscription
from chat.config import Settings
from chat.demo import create_demo_world
from chat.llm.embedded import EmbeddedBackend, bundled_model_path
from chat.runtime.runtime import Runtime

N_CTX = 2048
LINES = PROMPT_LINES + (  # bench_prompt's, and more for a longer chat
    "How do you find the safe channel through the Teeth at night?",
    "I show you the brass compass I found on the beach.",
    "Who was on the quay when the Heron sailed?",
)
Observe = Callable[[], dict[str, Any]]


async def _first_token(sub: Subscription, turn_id: str) -> float | None:
    """perf_counter() at the turn's first streamed token; None when it ended without one."""
    while True:
        event = await sub.get(timeout=1800)
        if event.type == "token" and event.data.get("turn_id") == turn_id:
            return time.perf_counter()
        if event.type == "turn" and event.data.get("id") == turn_id and event.data.get("status") in (
            "completed", "failed",
        ):
            return None


async def _chat(settings: Settings, turns: int, observe: Callable[[Runtime], Observe], tick: Callable[[], None]) -> list[dict[str, Any]]:
    rt = Runtime(settings)
    await rt.start()
    rows: list[dict[str, Any]] = []
    try:
        world = await create_demo_world(rt)
        chat = await rt.create_chat(["mara"], title="Time to first token", world_id=world["world"]["id"])
        calls = observe(rt)
        calls()  # forget what setting up did
        for n in range(turns):
            text = f"{LINES[n % len(LINES)]} ({n + 1})"
            async with rt.bus.subscribe(chat["id"]) as sub:
                started = time.perf_counter()
                _, turn_id = await rt.post_message(chat["id"], text)
                first = await _first_token(sub, turn_id)
            await rt.wait_idle(chat["id"], timeout=1800)
            ended = time.perf_counter()
            turn = rt.get_turn(turn_id)
            rows.append({
                "turn": n + 1,
                "status": turn["status"],
                "ttft_s": None if first is None else round(first - started, 3),
                "turn_s": round(ended - started, 2),
                **calls(),
            })
            tick()
    finally:
        await rt.stop()
    return rows


def _embedded_calls(rt: Runtime) -> Observe:
    backend = rt.backend
    assert isinstance(backend, EmbeddedBackend)
    loaded = backend.load()

    def take() -> dict[str, Any]:
        calls = list(loaded.calls)
        loaded.calls.clear()
        replies = [c for c in calls if c.purpose == "reply"]
        others = [c for c in calls if c.purpose != "reply"]
        reply = replies[-1] if replies else None
        return {
            "reply_prompt_tokens": reply.prompt_tokens if reply else None,
            "reply_reused": reply.reused_tokens if reply else None,
            "reply_evaluated": reply.evaluated_tokens if reply else None,
            "reply_restored": reply.restored_tokens if reply else None,
            "reply_prompt_eval_ms": round(reply.prompt_eval_ms) if reply else None,
            "json_calls": len(others),
            "json_prompt_tokens": sum(c.prompt_tokens for c in others),
            "json_evaluated": sum(c.evaluated_tokens for c in others),
            "keep_ms": round(sum(c.keep_ms for c in calls), 1),
            "kept_mb": round(loaded.llama.keeper.kept_bytes / 2**20, 1),
        }

    return take


def _settings(data_dir: Path, max_tokens: int, **backend: Any) -> Settings:
    return Settings(data_dir=data_dir, reply_max_tokens=max_tokens, request_timeout_s=1800, **backend)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ttft = {r["turn"]: r["ttft_s"] for r in rows if r["ttft_s"] is not None}
    last = rows[-1]["turn"]
    mid = min(ttft, key=lambda t: abs(t - 30)) if ttft else None
    out: dict[str, Any] = {
        "ttft_turn1_s": ttft.get(1),
        "ttft_mid_turn": mid,
        "ttft_mid_s": ttft.get(mid) if mid else None,
        "ttft_last_turn": last,
        "ttft_last_s": ttft.get(last),
        "ttft_median_s": round(statistics.median(ttft.values()), 3) if ttft else None,
        "failed_turns": sum(r["status"] != "completed" for r in rows),
    }
    if ttft.get(1) and ttft.get(last):
        out["ratio_last_vs_turn1"] = round(ttft[last] / ttft[1], 2)
    return out


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(
    progress: bool = True, turns: int = 60, max_tokens: int = 24, embedded: bool = True, server: bool = True
) -> dict[str, Any]:
    """Run the chat on the embedded model, then against llama_cpp.server; return the numbers."""
    total = turns * (int(embedded) + int(server))
    bar: Any = None
    if progress:
        import click

        bar = click.progressbar(length=total, label="time to first token", file=sys.stderr)
        bar.__enter__()
    tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)
    result: dict[str, Any] = {"turns": turns, "max_tokens": max_tokens, "n_ctx": N_CTX, "load_before": _load()}
    try:
        with tempfile.TemporaryDirectory(prefix="kith-bench-ttft-") as tmp:
            if embedded:
                started = time.perf_counter()
                rows = asyncio.run(_chat(
                    _settings(Path(tmp) / "embedded", max_tokens, backend="embedded", n_ctx=N_CTX),
                    turns, _embedded_calls, tick,
                ))
                result["embedded"] = {"rows": rows, **_summary(rows), "wall_s": round(time.perf_counter() - started)}
                result["load_after_embedded"] = _load()
            if server:
                with llama_server(bundled_model_path(), Path(tmp), N_CTX, 1 << 30) as (url, log):
                    started = time.perf_counter()
                    rows = asyncio.run(_chat(
                        _settings(Path(tmp) / "server", max_tokens, backend="openai", base_url=url,
                                  context_length=N_CTX),
                        turns, lambda rt: _server_calls(log), tick,
                    ))
                    result["server"] = {
                        "rows": rows, **_summary(rows), **log.rss_mb(),
                        "wall_s": round(time.perf_counter() - started), "cache_bytes": 1 << 30,
                    }
                result["load_after_server"] = _load()
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return result


def _server_calls(log: ServerLog) -> Observe:
    def take() -> dict[str, Any]:
        requests = log.requests_since_last()
        reply = requests[0] if requests else None  # the reply is the turn's first request
        others = requests[1:]
        return {
            "reply_prompt_tokens": reply["prompt"] if reply else None,
            "reply_reused": reply["reused"] if reply else None,
            "reply_evaluated": reply["evaluated"] if reply else None,
            "reply_cache_hit": reply["cache_hit"] if reply else None,
            "json_calls": len(others),
            "json_prompt_tokens": sum(int(r["prompt"]) for r in others),
            "json_evaluated": sum(int(r["evaluated"]) for r in others),
        }

    return take


SHOWN = (1, 2, 5, 10, 20, 30, 40, 50, 60)


def format_report(result: dict[str, Any]) -> str:
    """Markdown tables for docs/benchmarks.md."""
    lines = [
        f"{result['turns']} turns, replies capped at {result['max_tokens']} tokens, n_ctx {result['n_ctx']}; "
        f"load average before {result['load_before']}, after the embedded run "
        f"{result.get('load_after_embedded', '?')}, after the server run {result.get('load_after_server', '-')}.",
        "",
    ]
    for name in ("embedded", "server"):
        part = result.get(name)
        if not part:
            continue
        shown = [r for r in part["rows"] if r["turn"] in SHOWN or r["turn"] == result["turns"]]
        lines += [
            f"**{name}**: time to first token turn 1 {part['ttft_turn1_s']} s, turn {part['ttft_mid_turn']} "
            f"{part['ttft_mid_s']} s, turn {part['ttft_last_turn']} {part['ttft_last_s']} s; ratio last / first "
            f"{part.get('ratio_last_vs_turn1', '?')} (target <= 1.5); median {part['ttft_median_s']} s; "
            f"failed turns {part['failed_turns']}; wall {part['wall_s']} s"
            + (f"; server RSS {part['rss_mb']:.0f} MB, peak {part['peak_rss_mb']:.0f} MB" if "rss_mb" in part else "")
            + ".",
            "",
            "| turn | time to first token | reply prompt tokens | reused | evaluated (llama.cpp) | JSON calls: prompt / evaluated tokens |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in shown:
            lines.append(
                f"| {r['turn']} | {r['ttft_s']} s | {r['reply_prompt_tokens']} | {r['reply_reused']} | "
                f"{r['reply_evaluated']} | {r['json_calls']}: {r['json_prompt_tokens']} / {r['json_evaluated']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--no-server", action="store_true", help="only the embedded model")
    parser.add_argument("--no-embedded", action="store_true", help="only llama_cpp.server")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args()
    result = run(
        turns=args.turns, max_tokens=args.max_tokens, embedded=not args.no_embedded, server=not args.no_server
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(format_report(result))


if __name__ == "__main__":
    main()
