"""Lore activation (§8.1): which lorebook entries the recent messages switch on.

Follows the Character Card V2 character_book rules: an entry is active when it is
``constant`` or when one of its ``keys`` occurs in the recent text; a ``selective`` entry
with ``secondary_keys`` also needs one of those. Keys match as whole words (so "cat" does
not fire on "category"), case-insensitively unless ``case_sensitive``. Keys are always
literal text: V3's ``use_regex`` is not honoured, since a hostile card's pattern could
hang the prompt builder (catastrophic backtracking).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

DEFAULT_ORDER = 100


def activate_lore(
    entries: list[dict[str, Any]], recent_texts: list[str], *, max_entries: int = 10
) -> list[dict[str, Any]]:
    """Return the enabled entries whose keys appear in ``recent_texts``, by insertion_order.

    An entry is active when it is ``constant``, or when one of its ``keys`` occurs in the
    recent text (case-insensitive unless ``case_sensitive``) and, if ``selective`` with
    ``secondary_keys``, one of those occurs too. Disabled entries and entries with blank
    content never activate. When more than ``max_entries`` are active, constant entries are
    kept first, then higher ``priority``, then lower ``insertion_order``; the result is
    sorted by ``insertion_order`` (ties keep the book's order).
    """
    if max_entries <= 0:
        return []
    text = "\n".join(t for t in recent_texts if isinstance(t, str))
    active: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not _is_active(entry, text):
            continue
        active.append((index, entry))
    if len(active) > max_entries:
        active.sort(
            key=lambda item: (
                not item[1].get("constant"),
                -_number(item[1].get("priority"), 0),
                _number(item[1].get("insertion_order"), DEFAULT_ORDER),
                item[0],
            )
        )
        active = active[:max_entries]
    active.sort(key=lambda item: (_number(item[1].get("insertion_order"), DEFAULT_ORDER), item[0]))
    return [entry for _, entry in active]


def _is_active(entry: dict[str, Any], text: str) -> bool:
    if entry.get("enabled", True) is False:
        return False
    content = entry.get("content")
    if not isinstance(content, str) or not content.strip():
        return False
    if entry.get("constant"):
        return True
    case_sensitive = bool(entry.get("case_sensitive"))
    if not _any_key(entry.get("keys"), text, case_sensitive):
        return False
    secondary = _keys(entry.get("secondary_keys"))
    if entry.get("selective") and secondary:
        return _any_key(secondary, text, case_sensitive)
    return True


def _keys(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [key.strip() for key in value if isinstance(key, str) and key.strip()]


def _any_key(value: Any, text: str, case_sensitive: bool) -> bool:
    return any(_pattern(key, case_sensitive).search(text) for key in _keys(value))


@lru_cache(maxsize=4096)
def _pattern(key: str, case_sensitive: bool) -> re.Pattern[str]:
    """The key as literal text, bounded by non-word characters where it starts/ends with one."""
    body = re.escape(key)
    if re.match(r"\w", key):
        body = r"(?<!\w)" + body
    if re.search(r"\w$", key):
        body += r"(?!\w)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


def _number(value: Any, default: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value
