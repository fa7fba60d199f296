"""Lore activation (§8.1): which lorebook entries the recent messages switch on."""

from __future__ import annotations

from typing import Any


def activate_lore(
    entries: list[dict[str, Any]], recent_texts: list[str], *, max_entries: int = 10
) -> list[dict[str, Any]]:
    """Return the enabled entries whose keys appear in ``recent_texts``, by insertion_order.

    An entry is active when it is ``constant``, or when one of its ``keys`` occurs in the
    recent text (case-insensitive unless ``case_sensitive``) and, if ``selective`` with
    ``secondary_keys``, one of those occurs too. At most ``max_entries`` are returned
    (constant entries first, then by insertion_order), sorted by ``insertion_order``.
    """
    raise NotImplementedError
