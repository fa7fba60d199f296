"""Macro expansion for card text (§3.4.1): ``{{char}}``, ``{{user}}``, ``<BOT>``, ``<USER>``.

One small function so every field that reaches a prompt or the screen is expanded the same
way (SillyTavern's ``substituteParams`` for these four; other macros are left as written).
"""

from __future__ import annotations

import re

_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def expand_macros(text: str, *, char: str, user: str) -> str:
    """``text`` with ``{{char}}``/``<BOT>`` as ``char`` and ``{{user}}``/``<USER>`` as ``user``."""
    if not text or ("{" not in text and "<" not in text):
        return text

    def name(match: re.Match[str]) -> str:
        which = (match.group(1) or match.group(2)).lower()
        return user if which == "user" else char

    return _MACRO.sub(name, text)
