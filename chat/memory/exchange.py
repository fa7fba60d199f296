"""A reply is recalled with the question it answers (§8.3 relevance, §5.3.1 observations).

Every message is an observation of the bots that saw it, one memory per turn, so
what a conversation establishes is often split over two memories: "Mel: How is
the pottery class going?" holds the words a later question will use, and the
reply "Sam: Great, I made my first bowl!" holds the fact, with none of them.
Scored alone, the reply is found only by its own words or its vector. Here the
observation that follows a question (a text with "?") in the same chat gets
`ANSWER_SHARE` of that question's BM25 on top of its own: the question's words
stand for its answer too, at half weight, so a memory that says the words
itself still ranks above a reply that does not.

Only the question's topic is passed on, not its asker: an observation reads
"Name: text", and a question whose only matching word is its own speaker label
("Eli: did you watch the match?" for "what is Eli afraid of?") says nothing
about what the reply is about, so the label's words are left out of the credit.
Only the best lexical matches pass credit on, one index lookup each, and the
reply is the owner's next observation, not a window of turns.

Measured (docs/benchmarks.md, "Recall, session 20"): no change on ``kith bench
memory`` (its planted facts are statements; none answers a question) and several
points at top 5 / 10 on the held-out LoCoMo conversations, where people ask each
other about their lives.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection

from chat.memory.lexical import LIGHT, LIVE, bm25_of
from chat.state.fts import or_query

ANSWER_SHARE = 0.5
"""The share of a question's BM25 (its topic words) its reply gets on top of its own."""

QUESTION_MARK = "?"
LABEL = ": "
"""An observation's text is "speaker: message" (``chat.state.observations``)."""
_WORD = re.compile(r"\w+", re.UNICODE)


def answer_credits(
    conn: sqlite3.Connection,
    owner: str,
    world_id: str,
    matched: dict[str, tuple],
    bm25: dict[str, float],
    terms: list[str],
    skip: Collection[str],
) -> tuple[dict[str, tuple], dict[str, float]]:
    """The replies to the questions among ``matched`` (rows in `LIGHT`'s layout by
    memory id, matched by ``terms``, their BM25 in ``bm25``) and each reply's credit.

    A reply is ``owner``'s next live observation after the question (by event id, the
    order the chat was written in) in the same world, and of a message in the same
    chat: with a bot in two chats at once, the next memory can belong to the other,
    which answers nothing. Replies to messages in view (``skip``) get none: the
    prompt shows them already."""
    topic = _topic_scores(conn, matched, bm25, terms)
    rows: dict[str, tuple] = {}
    credit: dict[str, float] = {}
    for mid, score in topic.items():
        question = matched[mid]
        reply = conn.execute(
            f"SELECT {LIGHT} FROM memories m INDEXED BY memories_owner_event"  # noqa: S608
            " WHERE m.world_id = ? AND m.owner = ? AND m.event_id > ? AND m.message_id IS NOT NULL"
            f" AND {LIVE} ORDER BY m.event_id LIMIT 1",
            (world_id, owner, question[4]),
        ).fetchone()
        if reply is None or reply[6] in skip or not _same_chat(conn, question[6], reply[6]):
            continue
        rows[reply[1]] = reply
        credit[reply[1]] = credit.get(reply[1], 0.0) + ANSWER_SHARE * score
    return rows, credit


def _topic_scores(
    conn: sqlite3.Connection, matched: dict[str, tuple], bm25: dict[str, float], terms: list[str]
) -> dict[str, float]:
    """The BM25 of each matched question over ``terms`` less its speaker label's words.

    BM25 is a sum over the words matched, so leaving a word out of the query takes
    exactly its part away. Questions are grouped by the words left, one FTS query each
    (a chat has few speakers)."""
    scores: dict[str, float] = {}
    regroup: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for mid, row in matched.items():
        if row[6] is None or QUESTION_MARK not in row[5] or bm25.get(mid, 0.0) <= 0:
            continue
        label = set(_WORD.findall(row[5].split(LABEL, 1)[0].lower())) if LABEL in row[5] else set()
        topic = tuple(t for t in terms if t not in label)
        if len(topic) == len(terms):
            scores[mid] = bm25[mid]
        elif topic:
            regroup.setdefault(topic, []).append((mid, row[0]))
    for topic, members in regroup.items():
        match = or_query(list(topic))
        if match is None:
            continue
        found = bm25_of(conn, match, [rowid for _, rowid in members])
        scores.update({mid: found[mid] for mid, _ in members if found.get(mid, 0.0) > 0})
    return scores


def _same_chat(conn: sqlite3.Connection, first: str, second: str) -> bool:
    found, chats = conn.execute(
        "SELECT count(*), count(DISTINCT chat_id) FROM messages WHERE id IN (?, ?)", (first, second)
    ).fetchone()
    return found == 2 and chats == 1
