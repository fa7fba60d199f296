"""The chapter ids of a prompt record (§8.4), kept as a difference from its base record.

A reply prompt holds the chat's newest chapters that fit a quarter of the budget
(chat/turns/prompt_layout.py, ``CHAPTER_SHARE``), and its record names them in
``chapter_ids`` (memory ids, ``<chapter id>:<bot>``), the exact list "why did it say
that?" shows. That list was written whole with every record: a long chat with a large
context carries dozens of ids a reply, the same ones turn after turn. A compact record of
format 3 whose system message is a difference from a base record keeps them as one too,
in ``compact["ch"]``: runs of the base record's chapter ids (``[start, count]``) and the
ids the base lacks, in order; no ``ch`` means the base's very list. A turn that writes no
new chapter stores nothing; one that does stores a run and the new id. A keyframe (no
base) and every record of format 1 or 2 keep the whole list in ``chapter_ids``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHAPTERS_FORMAT = 3
"""The first compact format whose records with a base keep chapter ids in ``ch``."""

Load = Callable[[int], "dict[str, Any] | None"]


def relative(payload: dict[str, Any]) -> bool:
    """Whether the record keeps its chapter ids as a difference from its base record."""
    compact = payload.get("compact") or {}
    return int(compact.get("v", 0)) >= CHAPTERS_FORMAT and "base" in (compact.get("system") or {})


def chapter_ids(payload: dict[str, Any], load: Load, memo: dict[tuple[str, int], Any]) -> list[str]:
    """The exact chapter ids of a record; ``load`` reads a base record by event id and
    ``memo`` keeps each base's list (``("c", event id)``), so a chain is walked once."""
    if not relative(payload):
        return list(payload.get("chapter_ids") or [])
    compact = payload["compact"]
    base_id = int(compact["system"]["base"])
    if ("c", base_id) not in memo:
        base = load(base_id)
        if base is None:
            raise ValueError(f"prompt record base event {base_id} is missing")
        memo[("c", base_id)] = tuple(chapter_ids(base, load, memo))
    return applied(memo[("c", base_id)], compact.get("ch"))


def applied(old: tuple[str, ...] | list[str], ops: list[Any] | None) -> list[str]:
    """``old`` changed by ``ops`` (runs and new ids); None: ``old`` as it is."""
    if ops is None:
        return list(old)
    out: list[str] = []
    for op in ops:
        if isinstance(op, str):
            out.append(op)
        else:
            start, count = int(op[0]), int(op[1])
            if start < 0 or count < 1 or start + count > len(old):
                raise ValueError(f"chapter run {op} is outside the base record's {len(old)} chapters")
            out.extend(old[start : start + count])
    return out


def difference(old: tuple[str, ...] | list[str], new: list[str]) -> list[Any] | None:
    """``new`` as runs of ``old`` and the ids ``old`` lacks; None when they are equal."""
    if list(old) == list(new):
        return None
    where: dict[str, int] = {}
    for index, chapter in enumerate(old):
        where.setdefault(chapter, index)
    ops: list[Any] = []
    for chapter in new:
        last = ops[-1] if ops and isinstance(ops[-1], list) else None
        if last is not None and last[0] + last[1] < len(old) and old[last[0] + last[1]] == chapter:
            last[1] += 1
            continue
        found = where.get(chapter)
        ops.append([found, 1] if found is not None else chapter)
    return ops
