"""The card fields that go into a prompt where SillyTavern puts them (§3.4.1, §8.1).

* ``system_prompt`` (the card's own main prompt) opens the system message; SillyTavern's
  ``{{original}}`` inside it (the default main prompt) is dropped, since Kith's own
  instruction closes the system message anyway;
* activated lore goes before or after the character's definition by its ``position``; lore
  at a depth, the author's-note positions and the Character's Note
  (``extensions.depth_prompt``: prompt, depth, role) are inserted into the transcript at
  their depth (0 = after the newest message);
* ``post_history_instructions`` follow the transcript as a last system message.

Every text passes through the one macro expander (``{{char}}``, ``{{user}}``...).
``creator_notes`` are for people: shown in the bot view, never prompted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chat.cards.macros import expand_macros
from chat.turns.lore import scan_lore, settings_of
from chat.turns.regex_scripts import WORLD_INFO, apply_scripts, scripts_of

LORE_BUDGET_PERCENT = 25
"""SillyTavern's default World Info budget: a quarter of the context."""
DEPTH_PROMPT_DEFAULT = 4
ORIGINAL = "{{original}}"


@dataclass
class CardParts:
    """What the card and its lore add to one prompt."""

    system_prompt: str = ""
    lore_before: list[str] = field(default_factory=list)
    lore_after: list[str] = field(default_factory=list)
    lore_names: list[str] = field(default_factory=list)
    inserts: list[tuple[int, str, str]] = field(default_factory=list)
    """(depth, role, text) to place in the transcript, in insertion order."""
    post_history: str = ""


def card_extension(bot: dict[str, Any], key: str) -> Any:
    card = bot.get("card") or {}
    extensions = card.get("extensions") if isinstance(card, dict) else None
    return extensions.get(key) if isinstance(extensions, dict) else None


def card_text(bot: dict[str, Any], key: str) -> str:
    card = bot.get("card") or {}
    value = card.get(key) if isinstance(card, dict) else None
    return value if isinstance(value, str) else ""


def card_parts(
    bot: dict[str, Any],
    scan_texts: list[str],
    *,
    lore: list[dict[str, Any]],
    user_name: str,
    seed: str,
    context_length: int,
    count_tokens: Callable[[str], int],
    every_roll_passes: bool = False,
) -> CardParts:
    """The card's prompt parts for ``bot``; ``scan_texts`` are "Name: text", oldest first.

    ``lore`` is the chat's world's lore for this bot (`chat.state.lore.prompt_lore`), never
    the bot's own ``lore`` field: that is its card's book, copied into each world it joins.
    ``every_roll_passes``: see `chat.turns.lore.scan_lore`."""

    def expand(text: str) -> str:
        return expand_macros(text, char=bot["name"], user=user_name)

    parts = CardParts()
    system = card_text(bot, "system_prompt").strip()
    if system:  # {{original}}: Kith's own instruction, which closes the system message anyway
        parts.system_prompt = expand(system.replace(ORIGINAL, "").strip())
    parts.post_history = expand(card_text(bot, "post_history_instructions").strip()).replace(
        ORIGINAL, ""
    )
    book = (bot.get("card") or {}).get("character_book")
    budget = max(1, context_length * LORE_BUDGET_PERCENT // 100)
    active = scan_lore(
        list(lore),
        scan_texts,
        settings=settings_of(book, token_budget=budget),
        seed=seed,
        count_tokens=count_tokens,
        substitute=expand,
        every_roll_passes=every_roll_passes,
    )
    scripts = scripts_of(bot)
    for item in active:
        parts.lore_names.append(item.label)
        if scripts:
            item = replace(item, content=apply_scripts(item.content, scripts, WORLD_INFO, expand=expand))
        if item.position == "before_char":
            parts.lore_before.append(item.content)
        elif item.position in ("after_char", "em_top", "em_bottom"):
            parts.lore_after.append(item.content)
        elif item.position == "at_depth":
            parts.inserts.append((item.depth, item.role, item.content))
        else:  # an_top / an_bottom: beside the Character's Note
            parts.inserts.append((DEPTH_PROMPT_DEFAULT, "system", item.content))
    note = card_extension(bot, "depth_prompt")
    if isinstance(note, dict) and isinstance(note.get("prompt"), str) and note["prompt"].strip():
        depth = note.get("depth", DEPTH_PROMPT_DEFAULT)
        depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else DEPTH_PROMPT_DEFAULT
        role = note.get("role") if note.get("role") in ("system", "user", "assistant") else "system"
        parts.inserts.append((min(depth, 1000), role, expand(note["prompt"].strip())))
    return parts


def place_inserts(
    turns: list[Any], inserts: list[tuple[int, str, str]], make: Callable[[str, str], Any]
) -> list[Any]:
    """``turns`` with each insert placed ``depth`` messages from the end (0: after the last);
    a depth beyond the transcript puts it first. Inserts at one depth keep their order."""
    out = list(turns)
    by_depth: dict[int, list[Any]] = {}
    for depth, role, text in inserts:
        by_depth.setdefault(min(depth, len(turns)), []).append(make(role, text))
    for depth in sorted(by_depth):  # shallowest (latest index) first: earlier indexes stay valid
        at = len(turns) - depth
        out[at:at] = by_depth[depth]
    return out
