"""The one FTS5 query builder: the UI's memory search and recall split words alike.

Both `chat.state.memory.search_memories` (GET /api/memories?q=) and recall
(`chat.memory.retrieval`) turn text into an FTS5 query here, so a search in the
UI and a prompt's recall drop the same stopwords and keep the same words
(architecture review §5.1 item 4).
"""

from __future__ import annotations

import re

MAX_QUERY_TERMS = 16

_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to say what a message is about; matching them costs time and tells nothing.
_STOPWORD_TEXT = (
    """a about after again all am an and any are as at be been before being but by can could
    did do does doing down for from had has have having he her here hers him his how i if in
    into is it its just me more most my no nor not now of off on once only or other our out
    over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself"""
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def fts_terms(text: str, *, max_terms: int = MAX_QUERY_TERMS) -> list[str]:
    """The words of ``text`` worth searching for: no stopwords or repeats, at most
    ``max_terms`` (the longest, which say most), in their original order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word in seen or word in STOPWORDS or (word.isdigit() and len(word) < 2):
            continue
        seen[word] = None
    words = list(seen)
    if len(words) > max_terms:
        keep = set(sorted(words, key=len, reverse=True)[:max_terms])
        words = [w for w in words if w in keep]
    return words


def fts_query(text: str, *, max_terms: int = MAX_QUERY_TERMS) -> str | None:
    """A safe FTS5 query for ``text``: its words, each quoted, joined with OR.

    Quoting makes every word a plain string, so user text such as ``"``, ``NEAR(``,
    ``*``, ``AND`` or parentheses can never be an FTS syntax error (`_WORD` only
    lets letters, digits and ``_`` through, so a word never holds a quote). None
    when nothing is left to search for.
    """
    return or_query(fts_terms(text, max_terms=max_terms))


def or_query(words: list[str]) -> str | None:
    """Words already taken from `fts_terms` as a quoted FTS5 OR-query; None for no words."""
    return " OR ".join(f'"{w}"' for w in words) if words else None
