"""A card's regex scripts (``extensions.regex_scripts``), applied as SillyTavern applies them
to what the model reads (§3.4.1): a pure function.

A script is ``{findRegex: "/pattern/flags", replaceString, trimStrings, placement: [1 user
input, 2 AI output, 5 world info], disabled, markdownOnly, promptOnly, minDepth, maxDepth,
substituteRegex}``. In the replacement ``{{match}}`` and ``$0`` are the whole match, ``$1``...
its groups, each with the ``trimStrings`` removed, then macros are expanded; without the
``g`` flag only the first match is replaced, as in JavaScript.

Kith applies them to the prompt only: scripts marked ``promptOnly`` and those with neither
"only" flag (which SillyTavern runs on the message as it is stored). The transcript itself
is never rewritten, and display-only (``markdownOnly``) scripts are not run. Every pattern
runs with a time limit, so a hostile card cannot hang the prompt builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import regex

from chat.turns.lore import REGEX_TIMEOUT_S, regex_key

USER_INPUT = 1
AI_OUTPUT = 2
WORLD_INFO = 5
MAX_SCRIPTS = 100
_GROUP = regex.compile(r"\$(\d+)")
_MATCH = regex.compile(r"\{\{match\}\}", regex.IGNORECASE)


def scripts_of(bot: dict[str, Any]) -> list[dict[str, Any]]:
    """The usable regex scripts of a bot's card (well-formed, enabled, for the prompt)."""
    card = bot.get("card") or {}
    extensions = card.get("extensions") if isinstance(card, dict) else None
    scripts = extensions.get("regex_scripts") if isinstance(extensions, dict) else None
    if not isinstance(scripts, list):
        return []
    usable = []
    for script in scripts[:MAX_SCRIPTS]:
        if not isinstance(script, dict) or script.get("disabled") or script.get("markdownOnly"):
            continue
        if not isinstance(script.get("findRegex"), str) or not isinstance(script.get("placement"), list):
            continue
        usable.append(script)
    return usable


def _depth_ok(script: dict[str, Any], depth: int | None) -> bool:
    if depth is None:
        return True
    low, high = script.get("minDepth"), script.get("maxDepth")
    if isinstance(low, int) and not isinstance(low, bool) and low >= 0 and depth < low:
        return False
    return not (isinstance(high, int) and not isinstance(high, bool) and high >= 0 and depth > high)


def apply_scripts(
    text: str,
    scripts: list[dict[str, Any]],
    placement: int,
    *,
    depth: int | None = None,
    expand: Callable[[str], str] | None = None,
) -> str:
    """``text`` after every script for ``placement`` (and ``depth`` from the newest message)."""
    sub = expand or (lambda value: value)
    for script in scripts:
        if placement not in script["placement"] or not text or not _depth_ok(script, depth):
            continue
        text = _run(script, text, sub)
    return text


def _run(script: dict[str, Any], text: str, sub: Callable[[str], str]) -> str:
    find = script["findRegex"]
    if script.get("substituteRegex"):
        find = sub(find)
    pattern = regex_key(find.strip())
    if pattern is None:
        return text
    flags = find.strip().rsplit("/", 1)[-1]
    template = script.get("replaceString") if isinstance(script.get("replaceString"), str) else ""
    template = _MATCH.sub("$0", template)
    trims = [t for t in script.get("trimStrings") or [] if isinstance(t, str) and t]

    def replace(match: regex.Match[str]) -> str:
        def group(found: regex.Match[str]) -> str:
            number = int(found.group(1))
            value = match.group(number) if number <= (pattern.groups or 0) else None
            if not value:
                return ""
            for trim in trims:
                value = value.replace(sub(trim), "")
            return value

        return sub(_GROUP.sub(group, template))

    try:
        return pattern.sub(replace, text, count=0 if "g" in flags else 1, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        return text
