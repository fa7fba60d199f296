"""Importing a 30,000-message SillyTavern chat (§11.5): parse, build events, append.

A real-shaped file is written (a header, alternating user messages and replies with three
swipes each, SillyTavern's date forms), then imported the way `kith import-chat` does it:
the whole file checked, every event appended in one transaction in batches. Target: well
under a minute for 30k messages.

    python benchmarks/bench_chatimport.py [--messages 30000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.writer import commit_batches, commit_now
from chat.world.bots import author_events
from chat.world.st_chat import import_events, parse_st_chat, pick_bots

TARGET_S = 60.0


def make_file(messages: int) -> bytes:
    lines = [json.dumps({"user_name": "You", "character_name": "Pell",
                         "create_date": "2024-9-28@01h02m36s", "chat_metadata": {}})]
    for i in range(messages):
        if i % 2 == 0:
            lines.append(json.dumps({
                "name": "You", "is_user": True, "is_system": False,
                "send_date": f"September 28, 2024 {1 + i % 11}:{i % 60:02d}pm",
                "mes": f"Message {i}: tell me about the lighthouse and the harbour at night.", "extra": {}}))
        else:
            swipes = [f"Reply {i} version {k}: the lamp was dark for years, Pell says." for k in range(3)]
            info = [{"send_date": "2024-09-28T13:05:00.000Z", "extra": {}}] * 3
            lines.append(json.dumps({
                "name": "Pell", "is_user": False, "is_system": False, "send_date": "2024-09-28T13:05:00.000Z",
                "mes": swipes[1], "extra": {}, "swipe_id": 1, "swipes": swipes, "swipe_info": info}))
    return ("\n".join(lines) + "\n").encode("utf-8")


def run(progress: bool = True, messages: int = 30_000) -> dict[str, Any]:
    data = make_file(messages)
    folder = Path(tempfile.mkdtemp(prefix="kith-bench-chat-"))
    try:
        path = folder / "kith.db"
        apply_migrations(path)
        with open_db(path) as conn:
            commit_now(conn, lambda c: author_events(c, {"name": "Pell"}))
            start = time.perf_counter()
            chat = parse_st_chat(data)
            parsed = time.perf_counter()
            events = import_events(chat, pick_bots(conn, chat, None), "chat-bench")
            built = time.perf_counter()
            commit_batches(conn, events)
            done = time.perf_counter()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"messages": messages, "file_bytes": len(data), "events": len(events),
            "parse_s": parsed - start, "build_s": built - parsed, "append_s": done - built,
            "total_s": done - start, "target_s": TARGET_S}


def format_report(result: dict[str, Any]) -> str:
    verdict = "meets" if result["total_s"] < TARGET_S else "misses"
    return (f"{result['messages']:,} messages ({result['file_bytes'] / 1e6:.1f} MB, {result['events']:,} events):"
            f" parse {result['parse_s']:.1f} s, build {result['build_s']:.1f} s, append+project"
            f" {result['append_s']:.1f} s, total {result['total_s']:.1f} s (target < {TARGET_S:.0f} s: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=30_000)
    print(format_report(run(messages=parser.parse_args().messages)))
