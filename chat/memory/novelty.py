"""Near-duplicate memories take one place in a recall, not several (§8.3).

People repeat themselves ("the train was late again", "good night!"), and every
repeat is its own observation (§5.3.1). Scored alone, the copies score alike and
fill the top k side by side, pushing out memories that say something else; in the
prompt the second copy tells the model nothing the first did not. This is the
novelty half of maximal marginal relevance (Carbonell & Goldstein, 1998) in its
simplest form: walking the candidates best first, one whose words are nearly those
of a memory already taken is passed over. "Nearly" is a Jaccard similarity of at
least `SAME_WORDS` between the two texts' words (lower-cased, the stopwords of
`chat.state.fts` dropped, every number kept: "2 cats" is not "3 cats"): at most
about one word in five differs. Texts that merely share a topic stay, so two
answers to one question are both kept.

Measured on ``kith bench memory`` (recall@5 / 10 without an embedder 56.5 / 57.3 -> 57.5 / 58.3 %
with owner-scoped candidates) and on the public LoCoMo conversations (unchanged:
their turns rarely repeat): see docs/benchmarks.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from chat.state.fts import STOPWORDS

SAME_WORDS = 0.8
"""Jaccard similarity of two memories' word sets from which the later one is a repeat."""

_WORD = re.compile(r"\w+", re.UNICODE)
Item = TypeVar("Item")


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``, lower-cased, without stopwords; numbers kept."""
    return frozenset(_WORD.findall(text.lower())) - STOPWORDS


def repeats(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two word sets say nearly the same (empty sets repeat nothing)."""
    small, large = (len(a), len(b)) if len(a) <= len(b) else (len(b), len(a))
    if small < SAME_WORDS * large:  # Jaccard is at most small / large: no set operation needed
        return False
    union = len(a | b)
    return union > 0 and len(a & b) >= SAME_WORDS * union


def walk_distinct(ranked: Iterable[Item], text_of: Callable[[Item], str]) -> Iterator[Item]:
    """``ranked`` (best first) less the items that repeat one yielded before, lazily: a
    caller that passes over some of them stops the walk when it has what it needs.

    A text met before (the same words, or the very same string) is passed over by a
    lookup; only the others are compared with each memory taken. Chats repeat
    themselves, and a walk through a few hundred candidates must stay cheap."""
    taken: list[frozenset[str]] = []
    met_texts: set[str] = set()
    met_words: set[frozenset[str]] = set()
    for item in ranked:
        text = text_of(item)
        if text in met_texts:
            continue
        met_texts.add(text)
        words = word_set(text)
        if words in met_words:
            continue
        met_words.add(words)
        if any(repeats(words, other) for other in taken):
            continue
        taken.append(words)
        yield item
