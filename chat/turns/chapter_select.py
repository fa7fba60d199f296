"""Which chapters a prompt holds (§5.7, §8.1): those of the part of the transcript it leaves out.

A chapter covers a stretch of the chat given by the event ids of its first and last
message (the chat's own order). A prompt keeps the newest messages that fit and leaves
out everything before the first one it keeps; the chapters it holds are the bot's own
copies of those that begin before that message. Holding them takes room, so the
transcript may then have to start later and leave out more, which can call in one
more chapter: `with_chapters` builds until the two agree (a few rounds at most), starting
from the chapters of the previous prompt's start, where the transcript usually stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar


class _Built(Protocol):
    dropped_messages: int


P = TypeVar("P", bound=_Built)


def first_kept_event(history: list[dict[str, Any]], dropped: int) -> int | None:
    """The event id of the oldest message a prompt kept (``history[dropped:]``); None when
    it kept none."""
    kept = [m["event_id"] for m in history[dropped:] if m.get("event_id")]
    return min(kept) if kept else None


def left_out_chapters(
    chapters: list[dict[str, Any]], history: list[dict[str, Any]], dropped: int
) -> list[dict[str, Any]]:
    """The chapters (oldest first, each with ``first_event_id``) that cover a message the
    prompt built from ``history`` leaves out: every message before the first it keeps,
    including those older than ``history`` itself."""
    cut = first_kept_event(history, dropped)
    if cut is None:
        return list(chapters)
    return [c for c in chapters if c["first_event_id"] < cut]


def with_chapters(
    build: Callable[[list[dict[str, Any]]], P],
    chapters: list[dict[str, Any]],
    history: list[dict[str, Any]],
    *,
    guess: int | None = None,
) -> tuple[P, list[dict[str, Any]]]:
    """The prompt built with the chapters of what it leaves out, and those chapters.

    ``guess``: the event id the bot's previous prompt started its transcript at; its
    chapters are tried first, so a prompt whose start stays put is built once."""
    chosen = [c for c in chapters if guess is not None and c["first_event_id"] < guess]
    prompt = build(chosen)
    for _ in range(len(chapters)):
        wanted = left_out_chapters(chapters, history, prompt.dropped_messages)
        if [c["id"] for c in wanted] == [c["id"] for c in chosen]:
            break
        chosen = wanted
        prompt = build(chosen)
    return prompt, chosen
