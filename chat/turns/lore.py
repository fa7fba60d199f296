"""Lore activation with SillyTavern's World Info semantics (§8.1): a pure function.

`scan_lore` takes the lore entries (whoever scoped them: a bot's book, a world's lore) and
the recent messages, and returns the entries that switch on, in the order SillyTavern would
insert them. It follows SillyTavern 1.12's ``checkWorldInfo``:

* the scanned text is the last ``scan_depth`` messages (default 2; an entry's own
  ``scan_depth`` overrides it; 0 scans no messages), newest first, joined as ST joins them;
* an entry is active when it is ``constant``, or one of its ``keys`` matches and, when it is
  ``selective`` with ``secondary_keys``, its logic holds: AND ANY (one secondary matches),
  NOT ALL (at least one does not), NOT ANY (none does), AND ALL (all do);
* keys match case-insensitively unless ``case_sensitive``, as whole words by default (a key
  of several words matches as a substring), and a key written ``/pattern/flags`` is a regex
  (run with a time limit: a hostile card's pattern cannot hang the prompt builder);
* recursion: the content of newly activated entries is scanned again for further entries,
  except content of entries that ``prevent_recursion``; entries that ``exclude_recursion``
  are only activated by the messages; ``delay_until_recursion`` entries only by recursion
  (level by level). Both spellings are read (``excludeRecursion`` / ``exclude_recursion``...);
* ``probability`` (with ``useProbability``) is rolled from a seed, so one turn's prompt is
  the same on every replay; each entry's roll depends only on the seed and the entry;
* entries are considered highest ``insertion_order`` first; a token budget stops activation
  at the first entry that does not fit; the result is in insertion order, lowest first, so
  the highest order lands nearest the end of the context, as in SillyTavern.

Not modelled: inclusion groups, sticky/cooldown/delay timers, min activations, character
filters and ``@@`` decorators (their fields are kept in the entry and exported unchanged).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from chat.turns.lore_entry import MAX_SCAN_DEPTH, Entry, read_entry

REGEX_TIMEOUT_S = 0.05
"""Longest one regex key may search one text; a slower pattern counts as no match."""
MAX_RECURSION_STEPS = 50
"""Scan loops at most (SillyTavern's 0 means unlimited; every loop adds an entry, so this
bounds only pathological books)."""
_MATCHER = "\x01"
_JOINER = "\n" + _MATCHER
_REGEX_KEY = regex.compile(r"^/([\w\W]+?)/([gimsuy]*)$")
_UNESCAPED_SLASH = regex.compile(r"(^|[^\\])/")


@dataclass(frozen=True)
class LoreSettings:
    """The book-wide options (SillyTavern's World Info settings, with its defaults)."""

    scan_depth: int = 2
    recursive: bool = True
    case_sensitive: bool = False
    match_whole_words: bool = True
    token_budget: int | None = None
    """Tokens all activated content may take; None: no limit."""


@dataclass(frozen=True)
class ActiveLore:
    """An activated entry and where it goes: ``position`` (before_char, after_char, an_top,
    an_bottom, at_depth, em_top, em_bottom), with ``depth`` and ``role`` for at_depth."""

    entry: dict[str, Any]
    content: str
    label: str
    position: str
    depth: int
    role: str


def settings_of(book: Any, *, token_budget: int | None = None) -> LoreSettings:
    """Settings from a character_book's own fields (scan_depth, recursive_scanning,
    token_budget); ``token_budget`` caps the book's when both are given."""
    if not isinstance(book, dict):
        return LoreSettings(token_budget=token_budget)
    depth = book.get("scan_depth")
    budget = book.get("token_budget")
    budgets = [b for b in (budget, token_budget) if isinstance(b, int) and not isinstance(b, bool) and b > 0]
    return LoreSettings(
        scan_depth=min(MAX_SCAN_DEPTH, depth) if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else 2,
        recursive=book.get("recursive_scanning") is not False,
        token_budget=min(budgets) if budgets else None,
    )


def scan_lore(
    entries: Sequence[Any],
    recent_texts: Sequence[str],
    *,
    settings: LoreSettings | None = None,
    seed: str = "",
    count_tokens: Callable[[str], int] | None = None,
    substitute: Callable[[str], str] | None = None,
    every_roll_passes: bool = False,
) -> list[ActiveLore]:
    """The entries ``recent_texts`` (oldest first) switch on, in insertion order.

    ``seed`` makes the probability rolls repeatable (give the turn id); ``count_tokens``
    measures the budget (default: characters / 4); ``substitute`` expands macros such as
    ``{{char}}`` in keys and content before they are used. ``every_roll_passes``: count
    each entry with a probability as if its roll passed, whatever the seed: the most a
    turn could insert (without a token budget; `chat.turns.message_fit` checks a message
    before its turn has an id to seed the rolls with).
    """
    settings = settings or LoreSettings()
    count = count_tokens or (lambda text: (len(text) + 3) // 4)
    sub = substitute or (lambda text: text)
    book = [read_entry(i, e) for i, e in enumerate(entries) if isinstance(e, dict)]
    ordered = sorted((e for e in book if e.enabled), key=lambda e: -e.order)  # stable: ties by index
    newest_first = [t.strip() for t in reversed(recent_texts) if isinstance(t, str)][:MAX_SCAN_DEPTH]
    scan = _Scan(settings, newest_first, sub)

    activated: list[Entry] = []
    done: set[int] = set()
    content: dict[int, str] = {}
    used_text = ""
    levels = sorted({e.delay_until_recursion for e in ordered if e.delay_until_recursion})
    level = levels.pop(0) if levels else 0
    recursion = False
    for _ in range(MAX_RECURSION_STEPS):
        found = [e for e in ordered if e.index not in done and scan.activates(e, recursion, level)]
        overflowed = False
        new_now: list[Entry] = []
        for entry in found:
            done.add(entry.index)
            if not (every_roll_passes or _rolls(entry, seed)):
                continue
            text = sub(entry.content)
            if settings.token_budget is not None and count(used_text + text + "\n") >= settings.token_budget:
                overflowed = True
                break
            used_text += text + "\n"
            content[entry.index] = text
            activated.append(entry)
            new_now.append(entry)
        for_recursion = [e for e in new_now if not e.prevent_recursion]
        if overflowed:
            break
        if settings.recursive and for_recursion:
            recursion = True
        elif levels:
            recursion, level = True, levels.pop(0)
        else:
            break
        scan.add_recursion("\n".join(content[e.index] for e in for_recursion))
    # SillyTavern sorts by order descending and prepends each: lowest order first, and
    # among equal orders the later-activated entry first.
    final = list(reversed(sorted(activated, key=lambda e: -e.order)))
    return [
        ActiveLore(e.raw, content[e.index], e.label, e.position, e.depth, e.role)
        for e in final
        if content[e.index].strip()
    ]


def activate_lore(
    entries: list[dict[str, Any]], recent_texts: list[str], *, max_entries: int | None = None, **options: Any
) -> list[dict[str, Any]]:
    """The activated entry dicts in insertion order (see `scan_lore` for ``options``)."""
    active = [a.entry for a in scan_lore(entries, recent_texts, **options)]
    return active if max_entries is None else active[: max(max_entries, 0)]


class _Scan:
    """The text an entry is matched against (ST's WorldInfoBuffer) and the key matching."""

    def __init__(self, settings: LoreSettings, newest_first: list[str], sub: Callable[[str], str]):
        self._settings = settings
        self._messages = newest_first
        self._recursion: list[str] = []
        self._sub = sub
        self._texts: dict[int, str] = {}
        self._lowered: dict[str, str] = {}
        self._memo: dict[tuple[str, bool, bool, int], bool] = {}

    def add_recursion(self, text: str) -> None:
        self._recursion.append(text)
        self._texts.clear()
        self._lowered.clear()
        self._memo.clear()

    def _lower(self, text: str) -> str:
        """``text.lower()``, once per scanned text rather than once per key."""
        if text not in self._lowered:
            self._lowered[text] = text.lower()
        return self._lowered[text]

    def _text(self, depth: int) -> str:
        if depth not in self._texts:
            if depth <= 0:
                self._texts[depth] = ""
            else:
                text = _MATCHER + _JOINER.join(self._messages[:depth])
                if self._recursion:
                    text += _JOINER + _JOINER.join(self._recursion)
                self._texts[depth] = text
        return self._texts[depth]

    def activates(self, entry: Entry, recursion: bool, level: int) -> bool:
        if entry.delay_until_recursion and (not recursion or entry.delay_until_recursion > level):
            return False
        if recursion and self._settings.recursive and entry.exclude_recursion:
            return False
        if entry.constant:
            return True
        if not entry.keys:
            return False
        depth = entry.scan_depth if entry.scan_depth is not None else self._settings.scan_depth
        text = self._text(depth)
        if not text:
            return False
        if not any(self._match(text, depth, key, entry) for key in entry.keys):
            return False
        if not (entry.selective and entry.secondary_keys):
            return True
        hits = [self._match(text, depth, key, entry) for key in entry.secondary_keys]
        if entry.logic == "not_all":
            return not all(hits)
        if entry.logic == "not_any":
            return not any(hits)
        if entry.logic == "and_all":
            return all(hits)
        return any(hits)

    def _match(self, text: str, depth: int, key: str, entry: Entry) -> bool:
        """Whether ``key`` occurs in ``text`` (the scan at ``depth``); remembered per scan,
        since big books repeat keys and every entry rescans the same text."""
        case = entry.case_sensitive if entry.case_sensitive is not None else self._settings.case_sensitive
        whole = entry.match_whole_words if entry.match_whole_words is not None else self._settings.match_whole_words
        memo = (key, case, whole, depth)
        if memo not in self._memo:
            self._memo[memo] = self._find(text, key, case, whole)
        return self._memo[memo]

    def _find(self, text: str, key: str, case: bool, whole: bool) -> bool:
        key = self._sub(key).strip()
        if not key:
            return False
        pattern = regex_key(key)
        if pattern is not None:
            try:
                return pattern.search(text, timeout=REGEX_TIMEOUT_S) is not None
            except TimeoutError:
                return False
        if not case:
            text, key = self._lower(text), key.lower()
        if key not in text:  # the fast test first; word edges only where it occurs
            return False
        if not whole or len(key.split()) > 1:
            return True
        return _word_pattern(key).search(text) is not None


@lru_cache(maxsize=4096)
def regex_key(key: str) -> regex.Pattern[str] | None:
    """The compiled pattern of a ``/pattern/flags`` key, None for a plain key (ST's rule: an
    unescaped ``/`` inside, or a pattern that does not compile, makes it plain text)."""
    match = _REGEX_KEY.match(key)
    if match is None:
        return None
    pattern, flags = match.groups()
    if _UNESCAPED_SLASH.search(pattern):
        return None
    pattern = pattern.replace("\\/", "/", 1)
    options = regex.V0
    if "i" in flags:
        options |= regex.IGNORECASE
    if "m" in flags:
        options |= regex.MULTILINE
    if "s" in flags:
        options |= regex.DOTALL
    try:
        return regex.compile(pattern, options)
    except (regex.error, ValueError, OverflowError, RecursionError):
        return None


@lru_cache(maxsize=4096)
def _word_pattern(key: str) -> regex.Pattern[str]:
    # JavaScript's \W without the u flag is ASCII-only: CJK text next to a key is a boundary.
    return regex.compile(r"(?:^|\W)(" + regex.escape(key) + r")(?:$|\W)", regex.ASCII | regex.V0)


def _rolls(entry: Entry, seed: str) -> bool:
    """Whether the entry passes its probability check; the same seed gives the same answer."""
    if not entry.use_probability or entry.probability >= 100:
        return True
    digest = hashlib.sha256(f"{seed}\x00{entry.index}\x00{entry.uid}".encode()).digest()
    roll = random.Random(digest).random() * 100  # noqa: S311 - a replayable roll, not a secret
    return roll <= entry.probability
