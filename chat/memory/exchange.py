"""A reply is recalled with the question it answers (§8.3 relevance, §5.3.1 observations).

Every message is an observation of the bots that saw it, one memory per turn, so
what a conversation establishes is often split over two memories: "Mel: How is
the pottery class going?" holds the words a later question will use, and the
reply "Sam: Great, I made my first bowl!" holds the fact, with none of them.
Scored alone, the reply is found only by its own words or its vector. Here the
reply to a question (a text with "?"; which message that is, below) gets
`ANSWER_SHARE` of that question's BM25 on top of its own: the question's words
stand for its answer too, at half weight, so a memory that says the words
itself still ranks above a reply that does not.

Only a question's topic is passed on, not its asker: an observation reads
"Name: text", and a question that matches only by its speaker label ("Eli: did
you watch the match?" for "what is Eli afraid of?") says nothing about what its
reply is about, so it passes nothing on. Only the best lexical matches pass
credit on, each to one reply.

The reply is what answers the question in its own chat: the first message of
another speaker among the next `REPLY_WINDOW` of the chat's transcript, if the
owner remembers it (a live observation of it). Not the owner's next memory in
the world: a bot in two chats at once has its memories of both interleaved, and
the next one was often the other chat's, so the real reply got nothing (session
20's rule, which then dropped it). Not simply the next message of the chat
either: the asker's own next line ("I saw the poster.") is no answer. If the
owner did not see the answer (out of the scene), a later message answers
something else: no credit. Two statements for all the questions of a retrieval:
the replies' rowids (for each question a walk of a few entries of
``messages_chat`` and one lookup in ``memories_message``), then their rows.

Measured (docs/benchmarks.md, "Recall, session 20" and its session 21 paragraph):
no change on ``kith bench memory`` (its planted facts are statements; none
answers a question) and several points at top 5 / 10 on the held-out LoCoMo
conversations, where people ask each other about their lives; with two of them
going on at once (``--two-chats``) session 20's rule gave what no credit gives,
this one +4.6 / +5.3 points.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection

from chat.memory.lexical import LIVE, light_rows

ANSWER_SHARE = 0.5
"""The share of a question's BM25 (its topic words) its reply gets on top of its own."""

REPLY_WINDOW = 4
"""How far a reply is looked for: among this many messages of the chat after the question.
A person who asks sometimes adds a line or two before anyone answers ("How is the pottery
class going?", "I saw the poster."); an answer later than that is no longer to this question."""

_REPLY = (  # the id of the reply to the question message qm, or NULL
    "SELECT n.id FROM (SELECT id, author, event_id FROM messages INDEXED BY messages_chat"
    " WHERE chat_id = qm.chat_id AND event_id > qm.event_id AND chosen = 1 AND deleted = 0"
    f" ORDER BY event_id LIMIT {REPLY_WINDOW}) n WHERE n.author != qm.author ORDER BY n.event_id LIMIT 1"
)
"""The first message of another speaker among the `REPLY_WINDOW` that follow the question
in its chat's transcript (chosen alternatives, none deleted, in the order they were written):
a walk of a few entries of ``messages_chat`` (chat, event id) from the question's."""

REPLIES = (
    "SELECT q.value, (SELECT m.rowid FROM memories m INDEXED BY memories_message"
    f" WHERE m.message_id = ({_REPLY}) AND m.owner = ?2 AND m.world_id = ?1 AND {LIVE})"  # noqa: S608
    " FROM json_each(?3) q JOIN messages qm ON qm.id = q.value"
)
"""For each question's message id (a JSON list, ?3): the rowid of the owner's (?2) live
observation of its reply in world ?1, or NULL. ``INDEXED BY``: without statistics SQLite
would walk every memory of the owner (``memories_owner_event``) with the reply's
subquery inside, instead of looking the reply's message up."""

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

    A reply is the first message of another speaker among the `REPLY_WINDOW` after the
    question in its chat (`_REPLY`), credited when ``owner`` has a live observation of
    it in ``world_id``. Replies to messages in view (``skip``) get none: the prompt
    shows them already."""
    topic = _topic_scores(matched, bm25, terms)
    if not topic:
        return {}, {}
    questions = [matched[mid] for mid in topic]
    following = dict(  # each question's message id -> the rowid of the owner's memory of its reply
        conn.execute(REPLIES, (world_id, owner, json.dumps([row[6] for row in questions]))).fetchall()
    )
    replies = {row[0]: row for row in light_rows(conn, [r for r in following.values() if r is not None]).values()}
    rows: dict[str, tuple] = {}
    credit: dict[str, float] = {}
    for question, score in zip(questions, topic.values(), strict=True):
        reply = replies.get(following.get(question[6]))  # type: ignore[arg-type]
        if reply is None or reply[6] in skip:
            continue
        rows[reply[1]] = reply
        credit[reply[1]] = credit.get(reply[1], 0.0) + ANSWER_SHARE * score
    return rows, credit


def _topic_scores(matched: dict[str, tuple], bm25: dict[str, float], terms: list[str]) -> dict[str, float]:
    """The BM25 of each matched question that matches by its message, not only by its
    speaker label.

    When no query word is a word of the label, FTS5's match was the message's. Else the
    message itself must hold one of the other query words (`_says_any`, an approximation
    of porter's stems). Asking FTS5 about single rows would cost more than the whole
    lexical query (``chat.memory.lexical``)."""
    scores: dict[str, float] = {}
    for mid, row in matched.items():
        text = row[5]
        if row[6] is None or QUESTION_MARK not in text or bm25.get(mid, 0.0) <= 0:
            continue
        label, _, message = text.partition(LABEL) if LABEL in text else ("", "", text)
        named = set(_WORD.findall(label.lower()))
        topic = [t for t in terms if t not in named]
        if len(topic) == len(terms) or (topic and _says_any(message, topic)):
            scores[mid] = bm25[mid]
    return scores


def _says_any(message: str, words: list[str]) -> bool:
    """Whether ``message`` holds one of ``words``: a word of four letters or more by its
    first letters (all but the last three, at least four: "spid" for "spiders", what
    porter stemming would match too), a shorter one whole. A substring test, no
    tokenising: a question's check runs for every question among the candidates."""
    low = message.lower()
    said: set[str] | None = None
    for word in words:
        if len(word) >= 4:
            if word[: max(4, len(word) - 3)] in low:
                return True
            continue
        said = said if said is not None else set(_WORD.findall(low))
        if word in said:
            return True
    return False
