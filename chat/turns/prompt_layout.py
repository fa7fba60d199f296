"""Where each part of a reply prompt goes, for prefix caching (§8.1.1).

A server's KV cache (llama.cpp, vLLM, KoboldCpp) or the embedded model reuses only the
tokens a prompt shares from its start with the previous one; everything after the first
difference is evaluated again. So a reply prompt is laid out:

1. the system message: only what stays the same from turn to turn (the card's system
   prompt, persona, traits, backstory, scenario, the instruction);
2. the voice samples, as the chat template's own turns;
3. the chapters (§5.7), oldest first: they change only when a chapter is written;
4. the transcript, whose start stays where the bot's previous prompt in this chat started
   while everything from there fits, and otherwise moves on far enough to free a quarter
   of the budget at once (`transcript_start`), so the next turns grow into the room
   instead of dropping one message a turn;
5. the note: what changes every turn (relationships, scene, world facts, lore, retrieved
   memories) as one system message just before the newest message. The card's inserts at
   a depth and its post-history instructions go where the card puts them.

Nothing per turn (timestamps, counters, retrieval results) may go into parts 1-4: one
changed character there makes the whole rest of the prompt new to the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat.llm.types import ChatMessage

MESSAGE_OVERHEAD = 6
"""Tokens a chat template adds around each message (role markers, separators), at most:
ChatML (SmolLM2, Qwen) is ``<|im_start|>`` role newline ... ``<|im_end|>`` newline, 5
tokens for "user" and "system" and 6 for "assistant" (two tokens in SmolLM2's vocabulary),
measured against the real template. With 4, a 60-message prompt ran ~60 tokens past its
budget and llama.cpp refused it ("Requested tokens (2066) exceed context window of 2048")."""
STABLE_SECTIONS = frozenset({"card_system", "persona", "traits", "backstory", "scenario", "instruction"})
"""Sections of the system message; the others but the voice samples go into the note."""
CHAPTERS_HEADER = "What happened earlier in this story:"
CHAPTER_SHARE = 4
"""Chapters take at most this fraction (1/n) of the budget; the oldest go first."""
STEP_SHARE = 4
"""A cut of the transcript frees 1/n of the budget (and a window scrolled out, 1/n of it)."""


def chapter_message(
    chapters: list[dict[str, Any]], count_tokens: Callable[[str], int], room: int
) -> tuple[ChatMessage | None, list[dict[str, Any]]]:
    """The chapters as one system message, and the chapters it holds: the newest that fit
    in ``room`` tokens, oldest first. Their texts are quoted as stored, so a compact
    prompt record can name them by memory instead of copying them (§8.4)."""
    usable = [c for c in chapters if str(c.get("text") or "").strip()]
    costs = [count_tokens(c["text"]) + 1 for c in usable]
    header = count_tokens(CHAPTERS_HEADER) + MESSAGE_OVERHEAD
    start = 0
    while start < len(usable) and header + sum(costs[start:]) > room:
        start += 1
    kept = usable[start:]
    if not kept:
        return None, []
    return ChatMessage("system", CHAPTERS_HEADER + "\n\n" + "\n\n".join(c["text"] for c in kept)), kept


def transcript_start(
    history: list[dict[str, Any]],
    cost_of: Callable[[int], int],
    room: int,
    *,
    step: int,
    previous_start: int | None,
    window_full: bool,
) -> int:
    """The index of the oldest message the prompt keeps (a message is never cut).

    ``room``: tokens left for the transcript; ``cost_of(i)``: tokens of message ``i``;
    ``previous_start``: the event id of the first transcript message of the bot's
    previous prompt in this chat; ``window_full``: ``history`` is the newest part of a
    longer chat. The start stays at the previous one while everything from it fits;
    otherwise it moves on until ``step`` tokens of ``room`` are free. When the previous
    start has scrolled out of a full window, the start moves a quarter into the window,
    so it does not creep forward with the window one message a turn."""
    n = len(history)
    fitting, left = n, room
    for index in range(n - 1, -1, -1):
        if cost_of(index) > left:
            break
        left -= cost_of(index)
        fitting = index
    anchor = _anchor(history, previous_start)
    if anchor is not None and anchor >= fitting:
        return anchor
    start = max(fitting, n // STEP_SHARE if window_full and anchor is None else 0)
    if fitting == 0:
        return start
    total = sum(cost_of(index) for index in range(start, n))
    while start < n - 1 and total > room - step:
        total -= cost_of(start)
        start += 1
    return start


def _anchor(history: list[dict[str, Any]], previous_start: int | None) -> int | None:
    """Where the previous prompt's transcript started in ``history`` (its message, or the
    next one when that was deleted); None when there is none or it lies before it."""
    if previous_start is None or not history or int(history[0].get("event_id") or 0) > previous_start:
        return None
    return next(
        (i for i, m in enumerate(history) if int(m.get("event_id") or 0) >= previous_start), None
    )


def with_note(turns: list[ChatMessage], note: ChatMessage | None) -> list[ChatMessage]:
    """``turns`` (the transcript with the card's inserts) with the note just before the
    newest message: after it the prompt differs from the previous turn's anyway."""
    if note is None:
        return turns
    at = next((i for i in range(len(turns) - 1, -1, -1) if turns[i].role != "system"), len(turns))
    return [*turns[:at], note, *turns[at:]]
