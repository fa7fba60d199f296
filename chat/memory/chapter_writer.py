"""Writing chapters (§5.7): the oldest stretch a prompt left out, summarised by one call.

After a turn whose prompt no longer held the whole transcript, the messages it left
out that no chapter covers yet are the candidates. When there are at least
``MIN_MESSAGES`` of them, the oldest ones (as many as fit the model's context, at most
``MAX_MESSAGES``) are summarised by one ``complete_json`` call, and the summary becomes
one ``chapter_written`` event, a ``chapter`` memory of each bot present in the chat's
scene that witnessed every message it covers. A bot that was not there, now or for any
of them, gets nothing (§5.3.1); it keeps its observations of what it did see.

The summary is model output and trusted no more than extraction's: whitespace and
wrapping (quotes, "Summary:") are taken off, it is clamped to ``MAX_CHARS`` at a
sentence end, and junk is dropped with a ``proposal_dropped`` saying why (too few
words, no letters, markup or JSON, the prompt's instructions echoed, the transcript's
"Name:" lines copied, a copy of the previous chapter). Nothing is written then; the next
turn tries again.

A chapter goes stale when a message of its stretch is edited or deleted after its text
was set (`stale_stretch`): when no new chapter is due, it is summarised again over the
same range, unless a person pinned it by editing it (§6.2).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, create_model

from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import validate_payload
from chat.llm.schemas import CHAPTER_SUMMARY_CHARS, ChapterProposal
from chat.llm.types import ChatMessage, JsonRequest
from chat.memory.extraction import failed_extraction
from chat.memory.sense import DUPLICATE_OVERLAP, SenseChecks, words
from chat.state.chapters import last_chapter_text, stale_chapter, summarised_until
from chat.state.chats import message_dict
from chat.state.observations import author_name, witnessed_all, witnesses
from chat.state.worlds import chat_world
from chat.world.ids import new_id

MIN_MESSAGES = 6
"""Fewer left-out messages than this wait for the next turn: no chapter of two lines."""
MAX_MESSAGES = 60
MAX_CHARS = 1200
"""A chapter is at most this long (the memory limit is 4000; a summary should be short)."""
MIN_WORDS = 4
LINE_CHARS = 600
"""One message is shown to the summariser with at most this many characters."""
SUMMARY_TOKENS = 300
"""The reply budget of the summarising call."""
REQUEST_OVERHEAD = 200
"""Tokens for the instructions, the previous chapter and the chat template."""
PREVIOUS_CHARS = 400
CHARS_PER_TOKEN = 3
"""A cautious guess (English runs about 4): the summary's bound in characters per token of
its budget, so a grammar closes the JSON string before the budget runs out."""

INSTRUCTIONS = (
    "You summarise part of a story told in a chat, so it can be remembered after it scrolls "
    "away. {user} is the user. In a few plain sentences, say what happened: who did what, what "
    "was decided, what was learned. Use names, not 'I' or 'you'. "
    'Answer with JSON: {{"summary": "..."}}.'
)
_ECHO_RUN = 5
"""A summary sharing this many words in a row with the instructions restates them."""
_WRAPPER = re.compile(r"^\s*(?:summary|chapter(?:\s+summary)?)\s*[:\-]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"[{}<>\[\]]|```")
_SENTENCE = re.compile(r"[.!?…](?=\s|$)")

CountTokens = Callable[[str], int]


@dataclass
class Stretch:
    """The messages a chapter will cover, and their lines as the summariser reads them."""

    chat_id: str
    messages: list[dict[str, Any]]
    lines: list[str]
    rewrite: dict[str, Any] | None = None
    """The stale chapter this stretch is written again for (None: a new chapter)."""
    max_tokens: int = SUMMARY_TOKENS
    """The summary's budget: a quarter of a small context, ``SUMMARY_TOKENS`` at most."""


def pending_stretch(
    conn: sqlite3.Connection,
    chat_id: str,
    cut_event_id: int,
    *,
    count_tokens: CountTokens,
    context_length: int,
) -> Stretch | None:
    """The oldest messages before ``cut_event_id`` (the first message a prompt kept) that no
    chapter covers, as many as fit the summariser's context; None when fewer than
    ``MIN_MESSAGES`` are waiting."""
    after = summarised_until(conn, chat_id)
    rows = _messages(conn, chat_id, after + 1, cut_event_id - 1, MAX_MESSAGES)
    if len(rows) < MIN_MESSAGES:
        return None
    return _stretch(conn, chat_id, rows, count_tokens, context_length)


def stale_stretch(
    conn: sqlite3.Connection, chat_id: str, *, count_tokens: CountTokens, context_length: int
) -> Stretch | None:
    """The messages of the oldest chapter made stale by an edit or deletion of one of them
    (and not pinned by a person), to be summarised again; None when there is none."""
    chapter = stale_chapter(conn, chat_id)
    if chapter is None:
        return None
    rows = _messages(
        conn, chat_id, chapter["first_event_id"], chapter["last_event_id"], MAX_MESSAGES * 4
    )
    if not rows:
        return None
    stretch = _stretch(conn, chat_id, rows, count_tokens, context_length, keep_all=True)
    stretch.rewrite = chapter
    return stretch


def _messages(
    conn: sqlite3.Connection, chat_id: str, first: int, last: int, limit: int
) -> list[tuple]:
    """The standing messages of the chat posted from event ``first`` to ``last``, oldest first."""
    return conn.execute(
        "SELECT id, chat_id, author, text, created_at, turn_id, event_id, alt_group, chosen,"
        " edited, deleted FROM messages WHERE chat_id = ? AND chosen = 1 AND deleted = 0"
        " AND event_id >= ? AND event_id <= ? ORDER BY event_id LIMIT ?",
        (chat_id, first, last, limit),
    ).fetchall()


def _stretch(
    conn: sqlite3.Connection,
    chat_id: str,
    rows: list[tuple],
    count_tokens: CountTokens,
    context_length: int,
    *,
    keep_all: bool = False,
) -> Stretch:
    """The rows as "Name: text" lines, as many as fit the summariser's context (``keep_all``:
    every row, the lines of those past the room cut to their first words)."""
    budget = min(SUMMARY_TOKENS, context_length // 4)
    room = context_length - budget - REQUEST_OVERHEAD
    names: dict[str, str] = {}
    world_id = chat_world(conn, chat_id) or "default"
    messages: list[dict[str, Any]] = []
    lines: list[str] = []
    for row in rows:
        message = message_dict(row)
        if message["author"] not in names:
            names[message["author"]] = author_name(conn, message["author"], world_id)
        text = " ".join(message["text"].split())
        line = f"{names[message['author']]}: {text[:LINE_CHARS]}{' …' if len(text) > LINE_CHARS else ''}"
        cost = count_tokens(line) + 4
        if cost > room and len(messages) >= MIN_MESSAGES:
            if not keep_all:
                break
            line = " ".join(line.split()[:8]) + " …"
            cost = count_tokens(line) + 4
        room -= cost
        messages.append(message)
        lines.append(line)
    return Stretch(chat_id, messages, lines, max_tokens=budget)


def chapter_request(conn: sqlite3.Connection, stretch: Stretch, *, user_name: str) -> JsonRequest:
    """One call: the stretch as "Name: text" lines, the previous chapter for continuity."""
    earlier = last_chapter_text(conn, stretch.chat_id)[:PREVIOUS_CHARS]
    system = INSTRUCTIONS.format(user=user_name)
    user = ("Earlier: " + earlier + "\n\n" if earlier else "") + "\n".join(stretch.lines)
    return JsonRequest(
        messages=[ChatMessage("system", system), ChatMessage("user", user)],
        schema=_schema(min(CHAPTER_SUMMARY_CHARS, stretch.max_tokens * CHARS_PER_TOKEN)),
        purpose="chapter",
        context={"chat_id": stretch.chat_id, "lines": list(stretch.lines)},
        max_tokens=stretch.max_tokens,
    )


@functools.lru_cache(maxsize=16)
def _schema(max_chars: int) -> type[ChapterProposal]:
    """`ChapterProposal` with its summary bounded to ``max_chars`` while it is generated:
    a small model under a grammar otherwise runs out of tokens inside the string."""
    summary = (str, Field(default="", json_schema_extra={"maxLength": max_chars}))
    return create_model("ChapterProposal", __base__=ChapterProposal, summary=summary)


def clean_summary(
    raw: str, *, previous: str = "", speakers: list[str] | None = None
) -> tuple[str | None, str]:
    """(the summary made safe to store, "") or (None, why it was dropped). ``speakers``:
    the names the transcript lines start with; a summary that copies two or more of those
    lines ("Mara: ...") is the transcript again, not a summary."""
    text = " ".join(str(raw).split())
    text = _WRAPPER.sub("", text).strip().strip("\"“”'").strip()
    if _MARKUP.search(text):
        return None, "the chapter summary holds markup or JSON, not prose"
    found = words(text)
    if len(found) < MIN_WORDS:
        return (
            None,
            f"the chapter summary has {len(found)} words; a summary needs at least {MIN_WORDS}",
        )
    if sum(c.isalpha() for c in text) < len(text) / 2:
        return None, "the chapter summary is mostly not words"
    echo = SenseChecks(entity_names={}, user_name="", memories={}).memory("", text)
    if (echo is not None and "instructions" in echo) or _runs(found) & _INSTRUCTION_RUNS:
        return None, "the chapter summary restates Kith's instructions"
    labels = sum(text.count(f"{name}: ") for name in set(speakers or []) if name)
    if labels >= 2:
        return None, "the chapter summary copies the transcript's lines instead of telling them"
    if previous:
        mine, old = set(found), set(words(previous))
        if old and len(mine & old) / len(mine | old) >= DUPLICATE_OVERLAP:
            return None, "the chapter summary repeats the previous chapter"
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        ends = [m.end() for m in _SENTENCE.finditer(cut)]
        text = (
            cut[: ends[-1]] if ends and ends[-1] > MAX_CHARS // 2 else cut.rsplit(" ", 1)[0] + " …"
        )
    return text, ""


def _runs(tokens: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + _ECHO_RUN]) for i in range(len(tokens) - _ECHO_RUN + 1)}


_INSTRUCTION_RUNS = _runs(words(INSTRUCTIONS.replace("{user}", "")))


def chapter_events(
    conn: sqlite3.Connection,
    proposal: ChapterProposal,
    stretch: Stretch,
    *,
    turn_id: str,
) -> list[NewEvent]:
    """``chapter_written`` for the bots present in the chat's scene, or a
    ``proposal_dropped`` saying why there is none."""
    chat_id, old = stretch.chat_id, stretch.rewrite
    text, reason = clean_summary(
        proposal.summary, previous="" if old is not None else last_chapter_text(conn, chat_id)
    )
    if old is None:  # those present now who also saw all of it: none learns what it missed
        ids = [m["id"] for m in stretch.messages]
        owners = witnessed_all(conn, witnesses(conn, chat_id, "you")[0], ids)
    else:
        owners = old["owners"]
    if text is not None and not owners:
        text, reason = None, (
            "no bot present in the chat's scene witnessed all of the chapter's messages to remember it"
        )
    if (
        text is not None
        and old is None
        and summarised_until(conn, chat_id) >= stretch.messages[0]["event_id"]
    ):
        text, reason = None, "another chapter already covers these messages"
    if text is None:
        dropped = {
            "reason": f"chapter: {reason}"[:1000],
            "proposal": {"summary": str(proposal.summary)[:2000]},
        }
        return [
            NewEvent("proposal_dropped", dropped, chat_id=chat_id, turn_id=turn_id, actor="model")
        ]
    first, last = stretch.messages[0], stretch.messages[-1]
    payload = {
        "id": new_id("chap"),
        "chat_id": chat_id,
        "first_message_id": first["id"],
        "last_message_id": last["id"],
        "message_count": len(stretch.messages),
        "text": text,
        "owners": owners,
    }
    if old is not None:  # written again over the same range (the projection keeps a pinned one)
        keep = ("id", "first_message_id", "last_message_id")
        payload.update({key: old[key] for key in keep})
    checked = validate_payload("chapter_written", payload)
    return [NewEvent("chapter_written", checked, chat_id=chat_id, turn_id=turn_id, actor="model")]


def failed_chapter(chat_id: str, turn_id: str, reason: str) -> NewEvent:
    """The log entry for a summarising call that failed (the turn still succeeds)."""
    return failed_extraction(chat_id, turn_id, reason, call="chapter")
