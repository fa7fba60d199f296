"""Who answers a message in a chat (§4.2 step 3).

In a 1:1 chat, the bot. In a group: the bots the message names first (in the
order it names them), then the others by talkativeness plus how long since
they last spoke, up to ``max_replies`` in all. A bot with talkativeness 0 only
speaks when named, or when nobody else could. The choice is deterministic, so
a retried turn picks the same speakers and tests can say who will answer.
"""

from __future__ import annotations

import re
from typing import Any


def named_in(text: str, bot: dict[str, Any]) -> int | None:
    """Where ``text`` first names ``bot`` (full name, first name or id, whole words), or None."""
    names = {bot["name"], bot["name"].split()[0] if bot["name"].split() else "", bot["id"]}
    positions = []
    for name in names:
        if len(name) < 2:
            continue
        found = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)
        if found:
            positions.append(found.start())
    return min(positions) if positions else None


def select_speakers(
    bots: list[dict[str, Any]],
    user_text: str,
    recent_authors: list[str],
    *,
    max_replies: int,
) -> list[dict[str, Any]]:
    """The bots that answer, in speaking order.

    ``bots`` are the chat's active bots in chat order; ``recent_authors`` the
    authors of the latest messages, oldest first (to see who spoke recently).
    """
    if not bots or max_replies <= 0:
        return []
    if len(bots) == 1:
        return list(bots)
    named = sorted(
        ((pos, index, bot) for index, bot in enumerate(bots) if (pos := named_in(user_text, bot)) is not None),
        key=lambda item: (item[0], item[1]),
    )
    chosen = [bot for _, _, bot in named][:max_replies]
    if chosen and len(chosen) >= max_replies:
        return chosen
    taken = {bot["id"] for bot in chosen}
    rest = [bot for bot in bots if bot["id"] not in taken]
    ranked = sorted(
        rest,
        key=lambda bot: (-_score(bot, recent_authors, len(bots)), bots.index(bot)),
    )
    for bot in ranked:
        if len(chosen) >= max_replies:
            break
        if _talkativeness(bot) > 0 or not chosen:
            chosen.append(bot)
    return chosen


def _talkativeness(bot: dict[str, Any]) -> float:
    value = bot.get("talkativeness", 0.5)
    return float(value) if isinstance(value, int | float) else 0.5


def _score(bot: dict[str, Any], recent_authors: list[str], group_size: int) -> float:
    """Talkativeness (0..1) plus how long it has been quiet (0..1, 1 = not in recent messages)."""
    quiet = len(recent_authors)
    for distance, author in enumerate(reversed(recent_authors)):
        if author == bot["id"]:
            quiet = distance
            break
    horizon = max(group_size * 2, 1)
    return _talkativeness(bot) + min(quiet, horizon) / horizon
