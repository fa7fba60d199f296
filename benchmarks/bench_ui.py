"""A long chat in a real browser (§11.1, §13): open time and per-turn screen update cost.

For each size (100, 5k and 30k messages by default) a chat is built through the real
event log (`chat.tests.long_chat`), the real app is served with the scripted backend,
and Debian's Chromium (Playwright) opens it:

* open: from `page.goto` to the chat's newest message visible (target < 1 s at 30k);
* update: for a few turns typed into the composer, the time from the reply's `message`
  stream event to its <li> in the DOM and to the next frame drawn (the app reports both
  as a ``kith:drawn`` event); target: the same at 30k as at 100;
* transcript requests made during those turns (target: none);
* one older page: scroll to the top, time to the page put in (``kith:older``).

    python benchmarks/bench_ui.py [--sizes 100,5000,30000] [--turns 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from chat.tests import browser_support as support
from chat.tests.long_chat import build_long_chat
from chat.tests.ui_timing import drawn_times, install_probe, watch_transcript_requests

SIZES = (100, 5_000, 30_000)
OPEN_TARGET_S = 1.0


def _measure(size: int, turns: int, browser: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kith-bench-ui-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        chat = build_long_chat(tmp_path / "data", size)
        build_s = time.perf_counter() - started
        server = support.serve(tmp_path, tmp_path / "data", support.SCRIPT_RULES, {})
        live = next(server)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url)
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto("/#/bots")  # the app's files are cached: the chat's own cost is measured
            page.wait_for_selector("body[data-ready='1']")
            requests = watch_transcript_requests(page)
            started = time.perf_counter()
            page.goto(f"/#/chat/{chat.chat_id}")
            page.locator("#transcript").get_by_text(chat.last_text, exact=True).wait_for()
            open_s = time.perf_counter() - started
            install_probe(page)
            requests.clear()
            for n in range(turns):
                box = page.locator("#composer-input")
                box.fill(f"bench turn {n}")
                box.press("Enter")
                page.wait_for_function("(n) => window.__kithProbe.drawn.length >= n", arg=n + 1)
                page.locator("#transcript .msg-bot").last.get_by_text(f"bench turn {n}").wait_for()
            drawn = drawn_times(page)
            refetches = len(requests)
            older_ms = page.evaluate(
                "() => new Promise((resolve) => { const l = document.querySelector('#transcript');"
                " const t0 = performance.now();"
                " l.addEventListener('kith:older', () => resolve(performance.now() - t0), {once: true});"
                " setTimeout(() => resolve(null), 30000);"
                " l.scrollTop = 0; l.dispatchEvent(new Event('scroll')); })"
            )
            context.close()
        finally:
            live.client.close()
            for _ in server:  # stops the server
                pass
    dom = [d["ms"] for d in drawn]
    frame = [d["frame_ms"] for d in drawn]
    return {
        "messages": chat.messages,
        "build_s": round(build_s, 2),
        "open_s": round(open_s, 3),
        "update_dom_ms_median": round(statistics.median(dom), 2),
        "update_frame_ms_median": round(statistics.median(frame), 2),
        "update_frame_ms_max": round(max(frame), 2),
        "turns": len(drawn),
        "transcript_refetches": refetches,
        "older_page_ms": None if older_ms is None else round(older_ms, 1),
    }


def run(progress: bool = True, sizes: tuple[int, ...] = SIZES, turns: int = 5) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(support.CHROMIUM), args=support.CHROMIUM_ARGS)
        try:
            for size in sizes:
                if progress:
                    print(f"[ui] {size} messages…", flush=True)
                rows.append(_measure(size, turns, browser))
        finally:
            browser.close()
    largest = max(rows, key=lambda r: r["messages"])
    smallest = min(rows, key=lambda r: r["messages"])
    return {
        "rows": rows,
        "open_target_s": OPEN_TARGET_S,
        "open_met": largest["open_s"] < OPEN_TARGET_S,
        "update_ratio_largest_vs_smallest": round(
            largest["update_frame_ms_median"] / max(smallest["update_frame_ms_median"], 0.01), 2
        ),
    }


def format_report(result: dict[str, Any]) -> str:
    lines = [
        "| messages | open (newest page shown) | reply: stream event → DOM, median | → next frame, median (max) | transcript fetches during turns | one older page |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['messages']} | {r['open_s'] * 1000:.0f} ms | {r['update_dom_ms_median']:.1f} ms | "
            f"{r['update_frame_ms_median']:.1f} ms ({r['update_frame_ms_max']:.1f} ms) | "
            f"{r['transcript_refetches']} ({r['turns']} streamed messages drawn) | {r['older_page_ms']} ms |"
        )
    lines.append("")
    lines.append(
        f"Open < {result['open_target_s']:.0f} s at the largest size: "
        f"{'met' if result['open_met'] else 'NOT met'}; update cost largest/smallest: "
        f"{result['update_ratio_largest_vs_smallest']}x."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(sizes=tuple(int(s) for s in args.sizes.split(",")), turns=args.turns)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
