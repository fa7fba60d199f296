"""Memories that only quote a message the prompt already shows (§8.1.1): such a memory
tells the bot nothing the transcript does not, so recall passes it over and the next
best takes its place (`chat.turns.plan.prepare_prompt`)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

QUOTE_LABEL = 40
"""Characters a memory may add around a message it quotes ('You said: "..."', "Mara: ...")."""
QUOTE_MIN = 20
"""Shorter messages ("Yes.") are quoted by chance, not remembered."""


def quotes_of(messages: list[dict[str, Any]]) -> Callable[[str], bool]:
    """A test: does a memory's text hold one of ``messages`` whole, with at most a short
    label around it? Such a memory tells the bot nothing the transcript does not."""
    by_length = sorted((len(t), t) for t in (m["text"].strip() for m in messages) if len(t) >= QUOTE_MIN)
    lengths = [n for n, _ in by_length]

    def quotes(text: str) -> bool:
        low = bisect.bisect_left(lengths, len(text) - QUOTE_LABEL)
        high = bisect.bisect_right(lengths, len(text))
        return any(quoted in text for _, quoted in by_length[low:high])

    return quotes
