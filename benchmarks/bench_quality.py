"""What the bundled model does to a world (issue 12, §4.2, §4.8, §5.5), measured.

Ten turns on the embedded SmolLM2-135M in the demo world (1:1 with Tobias, then the
group chat with Mara and Tobias), with extraction on, through the real `Runtime`:

- the share of extraction proposals the sense checks accept (the rest are dropped,
  each with a logged reason); with the review tray on (the default here) the accepted
  ones are those waiting in it;
- failed turns (target 0);
- stored replies that break a rule of §4.8: starting with a speaker label, a line
  written as the user or another character, a prompt heading (target 0). Checked with
  patterns of their own here, not the trimmer's, so the check is independent;
- how Tobias's affinity toward you moves over five friendly then five hostile messages.

    python benchmarks/bench_quality.py [--turns 10] [--reply-tokens 80] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chat.config import Settings
from chat.db.connection import open_db
from chat.demo import create_demo_world
from chat.runtime.runtime import Runtime
from chat.state.edges import get_edge

MESSAGES = [
    ("tobias", "Good morning, Tobias! Thank you for the warm welcome, you're wonderful."),
    ("tobias", "I love this inn. What news from the quay today?"),
    ("tobias", "You are a kind friend, I really appreciate your help."),
    ("tobias", "That chowder was great, thanks so much!"),
    ("tobias", "I'm happy to be here. Who is the stranger with the maps?"),
    ("group", "You're a liar and I don't trust you."),
    ("group", "I hate the way you gossip, it's cruel."),
    ("group", "Shut up, both of you. You're useless."),
    ("group", "That was a stupid, awful thing to say."),
    ("group", "I'm angry with you. You ruined everything."),
]
HEADING = re.compile(
    r"(?im)^\W*(how \w+(?: \w+)? (?:speaks|talks)|what \w+(?: \w+)? remembers|traits|backstory|"
    r"scenario|scene|world|lore|location|present)\s*:"
)
MODEL_ACTOR_KINDS = ("entity_added", "entity_updated", "edge_changed", "memory_added", "world_fact_set", "scene_changed")


def broken_rules(text: str, *, own: str, others: list[str], user: str) -> list[str]:
    """The §4.8 rules ``text`` breaks (names of them), checked independently of the trimmer."""
    names = [n for full in [own, *others, user, "You"] for n in {full, full.split()[0]}]
    label = re.compile(rf"^\W*(?:{'|'.join(map(re.escape, names))})\W*:", re.IGNORECASE)
    others_lines = re.compile(
        rf"(?m)^\W*(?:{'|'.join(map(re.escape, [n for full in [*others, user, 'You'] for n in {full, full.split()[0]}]))})\s*:"
    )
    broken = []
    if label.match(text):
        broken.append("speaker label")
    if others_lines.search(text) or re.search(rf"(?m)^\s*\*\s*(?:You|{re.escape(user)})\b", text):
        broken.append("user's or another's line")
    if re.search(rf"[,.!?…][\"”]\s*(?:You|{re.escape(user)}) (?:says?|said|repl(?:y|ies|ied)|asks?|asked)\b", text):
        broken.append("user's line")
    if HEADING.search(text):
        broken.append("heading")
    return broken


async def _run(turns: int, reply_tokens: int, progress: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kith-quality-"))
    try:
        settings = Settings(data_dir=folder, backend="embedded", reply_max_tokens=reply_tokens)
        rt = Runtime(settings)
        await rt.start()
        try:
            demo = await create_demo_world(rt)
            group = demo["chat"]["id"]
            solo = (await rt.create_chat(["tobias"], title="At the Lantern"))["id"]
            samples = []
            for index, (where, text) in enumerate(MESSAGES[:turns]):
                chat_id = solo if where == "tobias" else group
                started = time.perf_counter()
                _, turn_id = await rt.post_message(chat_id, text)
                await rt.wait_idle(chat_id, timeout=900)
                turn = rt.get_turn(turn_id)
                with open_db(folder / "kith.db") as conn:
                    affinity = get_edge(conn, "tobias", "you")["affinity"]
                samples.append({"turn_id": turn_id, "status": turn["status"], "error": turn["error"],
                                "seconds": round(time.perf_counter() - started, 1), "tobias_affinity": affinity})  # fmt: skip
                if progress:
                    print(f"turn {index + 1}/{turns}: {turn['status']} in {samples[-1]['seconds']} s", file=sys.stderr)
            return _measure(folder, samples)
        finally:
            await rt.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, samples: list[dict[str, Any]]) -> dict[str, Any]:
    ids = [s["turn_id"] for s in samples]
    marks = ",".join("?" for _ in ids)
    with open_db(folder / "kith.db") as conn:
        rows = conn.execute(
            f"SELECT kind, actor, payload FROM events WHERE turn_id IN ({marks})", ids  # noqa: S608
        ).fetchall()
        names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM entities")}
    accepted = Counter(k for k, actor, _ in rows if actor == "model" and k in MODEL_ACTOR_KINDS)
    accepted.update(json.loads(p)["kind"] for k, _, p in rows if k == "proposal_queued")  # waiting in the tray
    dropped = [json.loads(p)["reason"] for k, _, p in rows if k == "proposal_dropped"]
    failed_calls = [r for r in dropped if r.startswith("extraction failed") or r.startswith("reflection")]
    checked = [r for r in dropped if r not in failed_calls]
    replies, broken = [], []
    for kind, _actor, payload in rows:
        data = json.loads(payload)
        if kind == "message_posted" and data["author"] != "you":
            own = names.get(data["author"], data["author"])
            others = [n for i, n in names.items() if i in ("mara", "tobias", "isolde") and n != own]
            rules = broken_rules(data["text"], own=own, others=others, user=names.get("you", "You"))
            replies.append(data["text"])
            if rules:
                broken.append({"author": data["author"], "text": data["text"][:200], "rules": rules})
    total = sum(accepted.values()) + len(checked)
    return {
        "turns": len(samples),
        "failed_turns": sum(s["status"] != "completed" for s in samples),
        "replies": len(replies),
        "broken_replies": len(broken),
        "broken": broken,
        "proposals": total,
        "accepted": dict(accepted),
        "accepted_share": round(sum(accepted.values()) / total, 3) if total else None,
        "dropped_by_checks": len(checked),
        "drop_reasons": Counter(re.sub(r"'[^']*'", "'…'", r)[:80] for r in checked).most_common(8),
        "extraction_calls_failed": len(failed_calls),
        "tobias_affinity": [s["tobias_affinity"] for s in samples],
        "seconds": [s["seconds"] for s in samples],
        "errors": [s["error"] for s in samples if s["error"]],
    }


def run(progress: bool = True, turns: int = 10, reply_tokens: int = 80) -> dict[str, Any]:
    return asyncio.run(_run(turns, reply_tokens, progress))


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"turns: {result['turns']}, failed: {result['failed_turns']} (target 0)",
        f"replies: {result['replies']}, breaking a §4.8 rule: {result['broken_replies']} (target 0)",
        f"proposals: {result['proposals']}, accepted by the checks: {result['accepted_share']} "
        f"({result['accepted']}); dropped: {result['dropped_by_checks']}; failed extraction calls: "
        f"{result['extraction_calls_failed']}",
        f"top drop reasons: {result['drop_reasons']}",
        f"Tobias's affinity after each turn (5 friendly, then 5 hostile): {result['tobias_affinity']}",
        f"seconds per turn: {result['seconds']}",
    ]
    for item in result["broken"]:
        lines.append(f"  broken ({', '.join(item['rules'])}): {item['author']}: {item['text']!r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--reply-tokens", type=int, default=80)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(turns=args.turns, reply_tokens=args.reply_tokens)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
