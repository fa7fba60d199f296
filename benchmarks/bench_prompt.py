"""Prompt records and prompt layout over a long scripted chat (§8.1.1, §8.4, §13).

The demo world (`chat.demo`), a new 1:1 chat with Mara, 60 turns through the real
`Runtime` on the scripted backend. From the log afterwards:

* bytes of each reply's ``prompt_recorded`` event (compact, chat/turns/prompt_record.py)
  against the same prompt kept whole (what every record held before), and the log's
  bytes per turn beyond the message texts (target <= 2 KB);
* the prefix share of consecutive reply prompts (the characters the next prompt shares
  with the previous one from its start, over its length; target median >= 90 %), as
  the rebuilt text of each record shows it.

    python benchmarks/bench_prompt.py [--turns 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from chat.config import Settings
from chat.db.connection import open_db
from chat.demo import create_demo_world
from chat.llm.scripted import ScriptedBackend
from chat.runtime.runtime import Runtime
from chat.turns.prompt import VOICE_CUE
from chat.turns.prompt_record import expand

CONTEXT = 4096
LINES = (
    "The fog is thick tonight; did you see the lamp on the old pier?",
    "Tell me about the harbour master and the debt he owes.",
    "I walk to the bakery and ask for two buns and the news.",
    "What did Tobias say about the ship that never came back?",
    "Let us climb to the lighthouse before the tide turns.",
)


async def _chat(data_dir: Path, turns: int) -> str:
    rt = Runtime(Settings(data_dir=data_dir, backend="scripted"), backend=ScriptedBackend(ScriptedBackend.Options(context_length=CONTEXT)))
    await rt.start()
    try:
        await create_demo_world(rt)
        chat = await rt.create_chat(["mara"], title="Bench")
        for n in range(turns):
            await rt.post_message(chat["id"], f"{LINES[n % len(LINES)]} ({n})")
            await rt.wait_idle(chat["id"], timeout=120)
        return chat["id"]
    finally:
        await rt.stop()


def _text(messages: list[dict[str, str]]) -> str:
    return "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages)


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def run(progress: bool = True, turns: int = 60, context: int = CONTEXT) -> dict[str, Any]:
    global CONTEXT  # noqa: PLW0603 - the scripted backend's context, for this run
    CONTEXT = context
    with tempfile.TemporaryDirectory(prefix="kith-bench-prompt-") as tmp:
        data_dir = Path(tmp)
        chat_id = asyncio.run(_chat(data_dir, turns))
        with open_db(data_dir / "kith.db") as conn:
            rows = conn.execute(
                "SELECT payload, length(CAST(payload AS BLOB)) FROM events"
                " WHERE chat_id = ? AND kind = 'prompt_recorded' ORDER BY id",
                (chat_id,),
            ).fetchall()
            records = [(json.loads(p), size) for p, size in rows]
            prompts = [expand(conn, payload) for payload, _ in records]
            log_bytes = conn.execute(
                "SELECT SUM(length(CAST(payload AS BLOB))) FROM events WHERE chat_id = ?", (chat_id,)
            ).fetchone()[0]
            text_bytes = conn.execute(
                "SELECT SUM(length(CAST(text AS BLOB))) FROM messages WHERE chat_id = ?", (chat_id,)
            ).fetchone()[0]
    whole = [len(json.dumps({**p, "compact": None, "messages": m}).encode()) for (p, _), m in zip(records, prompts, strict=True)]
    notes = [_note_at(m) for m in prompts]
    early = [  # the first difference before the previous prompt's note: something leaked
        n for n, (a, b) in enumerate(zip(prompts, prompts[1:], strict=False))
        if notes[n] is not None and _shared(_text(a), _text(b)) < len(_text(a[: notes[n]]))
    ]  # fmt: skip
    compact = [size for _, size in records]
    texts = [_text(m) for m in prompts]
    shares = [_shared(a, b) / len(b) for a, b in zip(texts, texts[1:], strict=False)]
    return {
        "turns": turns,
        "records": len(records),
        "record_bytes_median": statistics.median(compact),
        "record_bytes_last": compact[-1],
        "whole_bytes_median": statistics.median(whole),
        "whole_bytes_last": whole[-1],
        "log_bytes_per_turn_beyond_text": round((log_bytes - text_bytes) / turns),
        "prefix_share_median": round(statistics.median(shares), 3),
        "prefix_share_last": round(shares[-1], 3),
        "prompt_chars_last": len(texts[-1]),
        "context": CONTEXT,
        "shares_below_90": sum(share < 0.9 for share in shares),
        "first_below_90_after": max((n + 2 for n, share in enumerate(shares) if share < 0.9), default=0),
        "stable_chars_median": statistics.median(len(_text(m[: _stable_end(m)])) for m in prompts),
        "note_chars_median": statistics.median(len(m[n]["content"]) if n is not None else 0 for m, n in zip(prompts, notes, strict=True)),
        "differences_before_the_note": len(early),
        "transcript_cuts": sum(_first_said(a) != _first_said(b) for a, b in zip(prompts, prompts[1:], strict=False)),
    }


def _note_at(messages: list[dict[str, str]]) -> int | None:
    """Index of the note: the system message just before the newest message."""
    last = max((i for i, m in enumerate(messages) if m["role"] != "system"), default=None)
    return last - 1 if last and messages[last - 1]["role"] == "system" and last - 1 > 0 else None


def _stable_end(messages: list[dict[str, str]]) -> int:
    """End of the system message, the voice samples and the chapters: before the first
    message that is a reply or a note (the transcript's first user message is its start)."""
    at = 1
    while at < len(messages) and (messages[at]["content"] == VOICE_CUE or messages[at]["role"] == "assistant"):
        at += 1
    return at


def _first_said(messages: list[dict[str, str]]) -> str:
    """The transcript's first message after the stable part (its start: a cut moves it)."""
    return next((m["content"] for m in messages[_stable_end(messages) :] if m["role"] != "system"), "")


def format_report(r: dict[str, Any]) -> str:
    return "\n".join([
        "| measure | value |",
        "|---|---|",
        f"| prompt record, compact: median / last | {r['record_bytes_median']:.0f} B / {r['record_bytes_last']} B |",
        f"| same prompt kept whole (before): median / last | {r['whole_bytes_median']:.0f} B / {r['whole_bytes_last']} B |",
        f"| event log bytes per turn beyond the message texts | {r['log_bytes_per_turn_beyond_text']} B (target <= 2048) |",
        f"| prefix share of consecutive reply prompts: median / last | {r['prefix_share_median']:.1%} / {r['prefix_share_last']:.1%} (target median >= 90 %) |",
        f"| turns / records / last prompt length | {r['turns']} / {r['records']} / {r['prompt_chars_last']} chars |",
        f"| pairs below 90 % (the last of them at turn) | {r['shares_below_90']} (turn {r['first_below_90_after']}) |",
        f"| stable part (system, voice) / note, median | {r['stable_chars_median']:.0f} / {r['note_chars_median']:.0f} chars |",
        f"| first difference before the previous note / transcript cuts | {r['differences_before_the_note']} / {r['transcript_cuts']} (context {r['context']} tokens) |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--context", type=int, default=CONTEXT, help="the scripted backend's context (tokens)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(turns=args.turns, context=args.context)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
