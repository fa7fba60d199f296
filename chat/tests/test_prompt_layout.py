"""Prompt layout for prefix caching (§8.1.1): what stays the same first (system message,
voice samples, chapters, transcript), the note of what changes just before the newest
message, and a transcript cut in large steps, so consecutive prompts of a bot share
their prefix."""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.tests.test_prompt_budget import memory, msg, setup_world, words
from chat.turns.prompt import HISTORY_LIMIT, Prompt, build_prompt
from chat.turns.prompt_layout import CHAPTERS_HEADER, MESSAGE_OVERHEAD, transcript_start
from chat.turns.quotes import quotes_of


def _prompt(
    conn: sqlite3.Connection, history: list, context: int, previous_start: int | None, **extra: Any
) -> Prompt:
    the_bot, chat = setup_world(conn, voice_samples=["Aye."])
    return build_prompt(
        conn, bot=the_bot, chat=chat, history=history, memories=extra.pop("memories", [memory(0, "the lamp")]),
        user_name="You", count_tokens=words, context_length=context, reply_tokens=20,
        other_names=[], previous_start=previous_start, **extra,
    )  # fmt: skip


def _said(prompt: Prompt) -> list[str]:
    return [m.content for m in prompt.messages if m.role != "system"][2:]  # after the voice sample


def _text(prompt: Prompt) -> str:
    return "".join(f"<{m.role}>{m.content}" for m in prompt.messages)


def test_the_note_sits_before_the_newest_message_and_the_rest_stays(conn: sqlite3.Connection) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i}") for i in range(1, 6)]
    a = _prompt(conn, history[:3], 2000, None)
    b = _prompt(conn, history, 2000, 1, memories=[memory(1, "the reef")])
    assert [m.role for m in b.messages][-2:] == ["system", "user"]
    assert "What Mara remembers:\n- the reef" in b.messages[-2].content
    assert "Weather is fog." in b.messages[-2].content and "fog" not in b.messages[0].content
    # everything before the previous prompt's note is the same: the shared prefix
    note_at = len(a.messages) - 2
    assert a.messages[:note_at] == b.messages[:note_at]
    shared = _text(a)[: _text(a).index("<system>" + a.messages[note_at].content)]
    assert _text(b).startswith(shared) and len(shared) > len(_text(b)) / 3


def test_chapters_go_after_the_voice_samples_and_before_the_transcript(conn: sqlite3.Connection) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i}") for i in range(1, 4)]
    chapters = [{"id": "ch1", "text": "They met on the quay."}, {"id": "ch2", "text": "The Heron sailed."}]
    prompt = _prompt(conn, history, 2000, None, chapters=chapters)
    roles = [(m.role, m.content) for m in prompt.messages]
    assert roles[1:3] == [("user", "(Say something, in your own voice.)"), ("assistant", "Aye.")]
    assert roles[3] == ("system", f"{CHAPTERS_HEADER}\n\nThey met on the quay.\n\nThe Heron sailed.")
    assert roles[4] == ("user", "message 1")
    assert prompt.chapter_ids == ["ch1", "ch2"]
    assert [m["id"] for m in prompt.quoted] == ["ch1", "ch2", "mem0"]
    assert prompt.token_count == sum(words(m.content) + MESSAGE_OVERHEAD for m in prompt.messages)
    # A tight budget keeps the newest chapters (at most a quarter of the budget).
    long = [{"id": f"ch{i}", "text": f"chapter {i} " + "word " * 40} for i in range(10)]
    tight = _prompt(conn, history, 600, None, chapters=long)
    quarter = (600 - 20 - 16) // 4  # 141 tokens: the header and three chapters of 43
    assert tight.chapter_ids == [f"ch{i}" for i in range(7, 10)]
    assert words(tight.messages[3].content) + 4 <= quarter


def test_the_transcript_keeps_its_start_and_is_cut_by_a_quarter_when_full(
    conn: sqlite3.Connection,
) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i} " + "word " * 8) for i in range(1, 61)]
    roomy = _prompt(conn, history[:20], 5000, None)
    per = 10 + 4  # words of a message and the template's overhead
    context = roomy.token_count - 20 * per + 24 * per + 36  # room for 24 messages
    starts: list[int] = []
    previous = None
    for n in range(20, 61, 2):
        prompt = _prompt(conn, history[:n], context, previous)
        starts.append(int(_said(prompt)[0].split()[1]))
        previous = starts[-1]  # msg(i) has event id i
        assert _said(prompt)[-1] == history[n - 1]["text"]  # the newest message, whole
    assert starts[:2] == [1, 1]
    budget = context - 20 - 16
    moves = [b - a for a, b in zip(starts, starts[1:], strict=False) if b != a]
    # the start moves rarely and far: each cut frees a quarter of the budget (>= 6 messages)
    assert moves and all(move * per >= budget // 4 - per for move in moves), (starts, budget)
    plain = [int(_said(_prompt(conn, history[:n], context, None))[0].split()[1]) for n in range(20, 61, 2)]
    assert len(set(plain)) > len(set(starts))  # without the previous start it moves every turn


def test_a_scrolled_out_start_moves_a_quarter_into_a_full_window() -> None:
    history = [{"event_id": 100 + i} for i in range(HISTORY_LIMIT)]
    start = transcript_start(
        history, lambda i: 1, 10_000, step=100, previous_start=50, window_full=True
    )  # everything fits, but the previous start (event 50) is no longer in the window
    assert start == HISTORY_LIMIT // 4
    kept = transcript_start(history, lambda i: 1, 10_000, step=100, previous_start=150, window_full=True)
    assert kept == 50  # it stays while it is in the window
    assert transcript_start(history, lambda i: 1, 10_000, step=100, previous_start=None, window_full=False) == 0


def test_a_memory_that_only_quotes_a_shown_message_is_left_out_of_the_note() -> None:
    quotes = quotes_of([{"text": "The fog is thick tonight; did you see the lamp?"}, {"text": "Yes."}])
    assert quotes('You said: "The fog is thick tonight; did you see the lamp?"')
    assert quotes("Mara Quinn: The fog is thick tonight; did you see the lamp?")
    assert not quotes("You asked whether Mara saw the lamp in the fog.")  # a memory in its own words
    assert not quotes("Yes.") and not quotes("You said: Yes.")  # too short to be more than chance
    long = "The fog is thick tonight; did you see the lamp? " + "And then much more happened. " * 3
    assert not quotes(long)  # more than a label around the quote: it says something new
