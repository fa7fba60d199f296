"""Prompt layout for prefix caching (§8.1.1): the stable system message first, the note
of what changes just before the newest message, and a transcript cut in large steps, so
consecutive prompts of a bot share their prefix."""

from __future__ import annotations

import sqlite3

from chat.tests.test_prompt_budget import memory, msg, setup_world, words
from chat.turns.prompt import build_prompt


def _prompt(conn: sqlite3.Connection, history: list, context: int, previous_start: int | None):
    the_bot, chat = setup_world(conn)
    return build_prompt(
        conn, bot=the_bot, chat=chat, history=history, memories=[memory(0, "the lamp")],
        user_name="You", count_tokens=words, context_length=context, reply_tokens=20,
        other_names=[], previous_start=previous_start,
    )


def _said(prompt) -> list[str]:
    return [m.content for m in prompt.messages if m.role != "system"]


def test_the_note_sits_before_the_newest_message_and_the_system_message_stays(
    conn: sqlite3.Connection,
) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i}") for i in range(1, 6)]
    a = _prompt(conn, history[:3], 2000, None)
    b = _prompt(conn, history, 2000, 1)
    assert [m.role for m in b.messages][-2:] == ["system", "user"]
    assert "What Mara remembers" in b.messages[-2].content
    assert a.messages[0] == b.messages[0]  # the system message is the same turn to turn
    assert b.messages[1:3] == a.messages[1:3]  # and so is the transcript after it


def test_the_transcript_keeps_its_start_and_is_cut_by_a_quarter_when_full(
    conn: sqlite3.Connection,
) -> None:
    history = [msg(i, "you" if i % 2 else "mara", f"message {i} " + "word " * 8) for i in range(1, 41)]
    roomy = _prompt(conn, history[:20], 5000, None)
    per = 10 + 4  # words of a message and the template's overhead
    context = roomy.token_count - 20 * per + 24 * per + 36  # room for 24 messages
    start = _prompt(conn, history[:20], context, 1)
    assert _said(start)[0].startswith("message 1 ")
    # 24 fit: the start stays at message 1 until it no longer fits, then moves on by a
    # quarter of the room at once (6 messages), not by one message a turn.
    starts = []
    for n in range(20, 41, 2):
        prompt = _prompt(conn, history[:n], context, starts[-1] if starts else 1)
        starts.append(int(_said(prompt)[0].split()[1]))
    assert starts[:2] == [1, 1]
    moves = [b - a for a, b in zip(starts, starts[1:], strict=False) if b != a]
    assert moves and all(move >= 6 for move in moves), starts
    plain = [int(_said(_prompt(conn, history[:n], context, None))[0].split()[1]) for n in range(20, 41, 2)]
    assert len(set(plain)) > len(set(starts))  # without the steps the start moves every turn
