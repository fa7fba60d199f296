"""One lore entry read the way SillyTavern reads it, whichever spelling it was written in (§8.1).

Entries reach Kith from V2/V3 ``character_book``s (``keys``, ``secondary_keys``,
``insertion_order``, ST's extras under ``extensions``: ``exclude_recursion``,
``selectiveLogic``, ``probability``...), from SillyTavern's own World Info shape (``key``,
``keysecondary``, ``order``, ``excludeRecursion``, ``disable``...) and from Kith's editor.
`read_entry` folds all of them into one `Entry` so the scanner in ``lore`` has one shape to
follow; like SillyTavern's ``convertCharacterBook``, a value under ``extensions`` wins over
the top-level one, and a missing per-entry option means "use the book's setting".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

POSITIONS = ("before_char", "after_char", "an_top", "an_bottom", "at_depth", "em_top", "em_bottom")
"""SillyTavern's world_info_position values 0..6, by name."""
ROLES = ("system", "user", "assistant")
LOGICS = ("and_any", "not_all", "not_any", "and_all")
"""SillyTavern's world_info_logic values 0..3, by name."""
DEFAULT_ORDER = 100
DEFAULT_DEPTH = 4
MAX_SCAN_DEPTH = 1000


@dataclass(frozen=True)
class Entry:
    """A lore entry normalised; ``index`` is its place in the book (ties and seeds use it)."""

    index: int
    raw: dict[str, Any]
    keys: tuple[str, ...]
    secondary_keys: tuple[str, ...]
    content: str
    enabled: bool
    constant: bool
    selective: bool
    logic: str
    order: float
    position: str
    depth: int
    role: str
    exclude_recursion: bool
    prevent_recursion: bool
    delay_until_recursion: int
    probability: float
    use_probability: bool
    case_sensitive: bool | None
    match_whole_words: bool | None
    scan_depth: int | None
    uid: str

    @property
    def label(self) -> str:
        """What the prompt record and the UI call this entry."""
        raw = self.raw
        for key in ("name", "comment"):
            value = raw.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return self.keys[0] if self.keys else f"entry {self.index}"


def _look(entry: dict[str, Any], *names: str) -> Any:
    """The first non-null value among ``names``, in ``extensions`` first, then at the top."""
    extensions = entry.get("extensions")
    for where in (extensions if isinstance(extensions, dict) else {}, entry):
        for name in names:
            value = where.get(name)
            if value is not None:
                return value
    return None


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # some tools write "a, b"
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    return tuple(key.strip() for key in value if isinstance(key, str) and key.strip())


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _choice(value: Any, names: tuple[str, ...], default: str) -> str:
    """A name from ``names`` for an index (ST's numbers) or a name (any case, - or _)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= int(value) < len(names):
        return names[int(value)]
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_").replace(" ", "_")
        if text.isdigit() and int(text) < len(names):
            return names[int(text)]
        aliases = {"before": "before_char", "after": "after_char", "antop": "an_top",
                   "anbottom": "an_bottom", "atdepth": "at_depth", "emtop": "em_top",
                   "embottom": "em_bottom"}
        text = aliases.get(text.replace("_", ""), text)
        if text in names:
            return text
    return default


def _position(entry: dict[str, Any]) -> str:
    extensions = entry.get("extensions")
    numbered = extensions.get("position") if isinstance(extensions, dict) else None
    if numbered is not None:
        return _choice(numbered, POSITIONS, "before_char")
    return _choice(entry.get("position"), POSITIONS, "before_char")


def _delay(value: Any) -> int:
    """``delay_until_recursion``: false/0 none, true level 1, a number its level."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    level = _number(value, 0)
    return max(0, int(level))


def read_entry(index: int, entry: dict[str, Any]) -> Entry:
    """Normalise one entry dict (any of the spellings above) into an `Entry`."""
    enabled = entry.get("enabled", True) is not False and not _flag(entry.get("disable"))
    content = entry.get("content")
    scan_depth = _look(entry, "scan_depth", "scanDepth")
    uid = entry.get("id", entry.get("uid", index))
    return Entry(
        index=index,
        raw=entry,
        keys=_keys(entry.get("keys") if entry.get("keys") is not None else entry.get("key")),
        secondary_keys=_keys(
            entry.get("secondary_keys") if entry.get("secondary_keys") is not None
            else entry.get("keysecondary")
        ),
        content=content if isinstance(content, str) else "",
        enabled=enabled,
        constant=bool(_flag(entry.get("constant"))),
        selective=bool(_flag(entry.get("selective"))),
        logic=_choice(_look(entry, "selectiveLogic", "selective_logic"), LOGICS, "and_any"),
        order=_number(entry.get("insertion_order", entry.get("order")), DEFAULT_ORDER),
        position=_position(entry),
        depth=max(0, int(_number(_look(entry, "depth"), DEFAULT_DEPTH))),
        role=_choice(_look(entry, "role"), ROLES, "system"),
        exclude_recursion=bool(_flag(_look(entry, "exclude_recursion", "excludeRecursion"))),
        prevent_recursion=bool(_flag(_look(entry, "prevent_recursion", "preventRecursion"))),
        delay_until_recursion=_delay(_look(entry, "delay_until_recursion", "delayUntilRecursion")),
        probability=min(100.0, max(0.0, _number(_look(entry, "probability"), 100))),
        use_probability=_flag(_look(entry, "useProbability", "use_probability")) is not False,
        case_sensitive=_case_sensitive(entry),
        match_whole_words=_flag(_look(entry, "match_whole_words", "matchWholeWords")),
        scan_depth=None if scan_depth is None else min(MAX_SCAN_DEPTH, max(0, int(_number(scan_depth, 0)))),
        uid=str(uid),
    )


def _case_sensitive(entry: dict[str, Any]) -> bool | None:
    """extensions.case_sensitive / caseSensitive, else the V2 top-level flag when set true.

    Kith stores the V2 top-level ``case_sensitive`` with a default of false, so false there
    cannot be told from "not given": it falls back to the book's setting (insensitive)."""
    value = _flag(_look(entry, "caseSensitive"))
    extensions = entry.get("extensions")
    if isinstance(extensions, dict) and extensions.get("case_sensitive") is not None:
        return bool(_flag(extensions["case_sensitive"]))
    if value is not None:
        return value
    return True if entry.get("case_sensitive") is True else None
