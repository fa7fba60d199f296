"""Sense checks for extraction proposals (§5.5): what parses can still be junk.

A 135M model fills every slot of the schema with something: the user's name as a
scene location, "Isolde Varga" as a world-fact key with "1.5" as its value, a
line of dialogue ("I am a new friend to you") as a fact, a memory that repeats
one the bot already has. Each check here returns ``None`` when the item makes
sense, or the reason it does not (the reason goes into ``proposal_dropped``), so
junk never reaches the world and, through it, every later prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

FACT_KEY = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+){0,4}$")
MAX_KEY_CHARS = 40
MAX_VALUE_WORDS = 12
MAX_VALUE_CHARS = 120
MAX_ENTITY_FACT_WORDS = 30
MAX_PLACE_WORDS = 6
DUPLICATE_OVERLAP = 0.8
"""Share of word overlap (Jaccard) at which a memory counts as a repeat of another."""
INSTRUCTION_RUN = 5
"""A memory sharing this many words in a row with the instructions restates them."""

_WORD = re.compile(r"[a-z0-9']+")
_PERSONAL = re.compile(r"\b(i|i'm|i am|me|my|mine|you|you're|your|yours|we|us|our)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s+\S")
_NOT_PLACES = ("bot", "you", "person", "group")

# Phrases of the instructions Kith gives the model (the extraction prompt and the reply
# prompt's framing): a "memory" that quotes them is the prompt leaking back.
INSTRUCTION_TEXT = (
    "you keep the world state of a story consistent read the exchange and answer with one "
    "json object with the keys entities edges memories world and scene "
    "new or changed people places things how one entity's feelings toward another changed "
    "deltas are small whole numbers from -10 to 10 what each bot will remember "
    "facts that changed use these ids the user is you leave a list empty when nothing changed "
    "known entities stay in character never write lines for anyone else "
    "reply as yourself in a few sentences write only your own reply "
    "only in a few sentences never write what or anyone else says or does "
    "say something in your own voice"
)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes kept, punctuation dropped)."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=8192)
def word_set(text: str) -> frozenset[str]:
    """The words of ``text`` as a set; kept, since extraction compares each turn's memories
    with the same few hundred a bot already has."""
    return frozenset(words(text))


def _names(names: Iterable[str]) -> set[str]:
    """Each name whole and each of its words, lower-cased: "Isolde Varga" -> isolde varga, isolde, varga."""
    out: set[str] = set()
    for name in names:
        clean = " ".join(words(name))
        if clean:
            out.add(clean)
            out.add(clean.replace(" ", "_"))
            out.update(w for w in clean.split() if len(w) > 2)
    return out


@lru_cache(maxsize=16)
def _entity_views(
    entities: tuple[tuple[str, str, str], ...],
) -> tuple[Mapping[str, str], frozenset[str], Mapping[str, str]]:
    """From (id, name, kind) of every entity: kinds by id, the names of people (whole and
    word by word) and entity ids by name and by id. The same turn after turn until an
    entity changes, so kept: a world of 200 entities took ~1 ms to go through each time."""
    kinds = {eid: kind for eid, _, kind in entities}
    people = [n for _, n, kind in entities if kind in _NOT_PLACES]
    people_ids = [eid for eid, _, kind in entities if kind in _NOT_PLACES]
    by_name = {" ".join(words(n)): eid for eid, n, _ in entities}
    by_name.update({eid: eid for eid, _, _ in entities})
    names = frozenset(_names([*people, *(i.replace("-", " ") for i in people_ids)]))
    return MappingProxyType(kinds), names, MappingProxyType(by_name)


class SenseChecks:
    """Checks against what the world already holds: who exists, what each bot remembers."""

    def __init__(
        self,
        *,
        entity_names: dict[str, tuple[str, str]],
        user_name: str,
        memories: dict[str, list[str]],
        proposed: dict[str, list[str]] | None = None,
    ) -> None:
        """``entity_names``: id -> (name, kind); ``memories``: owner -> texts it already
        holds; ``proposed``: owner -> texts proposed for it before (the review tray's)."""
        self.kinds, people, self.by_name = _entity_views(
            tuple((eid, name, kind) for eid, (name, kind) in entity_names.items())
        )
        self.user_names = _names(["you", "user", "me", user_name])
        self.people = people | self.user_names
        self.memories: dict[str, list[frozenset[str]]] = {
            owner: [word_set(t) for t in texts] for owner, texts in memories.items()
        }
        self.proposed = {owner: [word_set(t) for t in texts] for owner, texts in (proposed or {}).items()}
        self._instruction_runs = _runs(words(INSTRUCTION_TEXT))

    # -- world facts ---------------------------------------------------------------

    def fact_key(self, key: str) -> str | None:
        """A world-fact key is a short snake_case name, not a person and not a sentence."""
        if len(key) > MAX_KEY_CHARS:
            return f"world fact key {key[:60]!r} is too long for a name (at most {MAX_KEY_CHARS} characters)"
        if not FACT_KEY.match(key):
            return f"world fact key {key[:60]!r} is not a short snake_case name such as time_of_day"
        if key in self.people or key.replace("_", " ") in self.people:
            return f"world fact key {key!r} is the name of a character, not a fact"
        return None

    def fact_value(self, key: str, value: str, *, limit: int = MAX_VALUE_WORDS) -> str | None:
        """A value is a short phrase ("fog", "the third of May"), not dialogue or a paragraph."""
        count = len(value.split())
        if count > limit or len(value) > limit * 10:
            return f"value of {key!r} has {count} words; a fact's value is a short phrase (at most {limit})"
        if _PERSONAL.search(value):
            return f"value of {key!r} reads like a line of dialogue ({value[:60]!r}), not a fact"
        if _SENTENCE_END.search(value.strip()):
            return f"value of {key!r} is several sentences, not a short phrase"
        if not any(c.isalpha() for c in value):
            return f"value of {key!r} ({value[:20]!r}) says nothing without a word"
        return None

    def entity_fact(self, entity_id: str, key: str, value: str) -> str | None:
        """Facts on an entity: a short key, a value of at most a sentence, not dialogue."""
        label = f"{entity_id}.{key}"
        if len(key) > MAX_KEY_CHARS or len(key.split()) > 3:
            return f"fact key {label[:80]!r} is a sentence, not a name"
        if key.strip().lower() in self.people and key.strip().lower() not in ("name",):
            return f"fact key {label!r} is the name of a character, not a fact"
        return self.fact_value(label, value, limit=MAX_ENTITY_FACT_WORDS)

    # -- scene -----------------------------------------------------------------------

    def location(self, location: str) -> str | None:
        """A scene location must be a place: not the user, not a character, not a sentence."""
        clean = " ".join(words(location))
        if not clean:
            return "a scene location needs a name"
        if clean in self.user_names:
            return f"scene location {location!r} is the user, not a place"
        known = self.by_name.get(clean) or self.by_name.get(clean.replace(" ", "-"))
        if known is not None:
            kind = self.kinds.get(known, "other")
            if kind in _NOT_PLACES:
                return f"scene location {location!r} is a {kind if kind != 'you' else 'user'}, not a place"
            return None
        if clean in self.people:
            return f"scene location {location!r} is a character's name, not a place"
        if len(clean.split()) > MAX_PLACE_WORDS or _SENTENCE_END.search(location):
            return f"scene location {location[:60]!r} is a sentence, not a place"
        if _PERSONAL.search(location):
            return f"scene location {location[:60]!r} reads like dialogue, not a place"
        return None

    @staticmethod
    def present(present: list[str], must_stay: list[str]) -> str | None:
        """Who is present may grow or shrink, but the user is in every scene of their own chat."""
        gone = [e for e in must_stay if e not in present]
        if gone:
            return f"the scene must keep {', '.join(gone)}: the user is in every scene of their chat"
        return None

    # -- memories --------------------------------------------------------------------

    def memory(self, owner: str, text: str) -> str | None:
        """Dropped when it repeats what ``owner`` already remembers or was proposed before
        (waiting in the review tray, or rejected there), or quotes the instructions."""
        mine = set(words(text))
        if not mine:
            return "a memory needs words"
        if _repeats(mine, self.memories.get(owner, [])):
            return f"{owner} already remembers this"
        if _repeats(mine, self.proposed.get(owner, [])):
            return f"this memory of {owner} was proposed before (waiting in the review tray, or reviewed)"
        run = _runs(words(text)) & self._instruction_runs
        if run:
            return f"the memory restates Kith's instructions ({' '.join(sorted(run)[0])!r})"
        return None

    def remember(self, owner: str, text: str) -> None:
        """Count an accepted memory, so a second copy in the same proposal is a repeat."""
        self.memories.setdefault(owner, []).append(word_set(text))


LINE_SHARE = 0.8
"""Share of a memory's words found in one line said this turn from which it is that line."""
LINE_MIN_WORDS = 4
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my|mine|myself)\b", re.IGNORECASE)


def line_of_this_turn(owner: str, text: str, said: list[tuple[str, str, str]]) -> str | None:
    """Why a memory that is another bot's line of this turn is no memory of ``owner``, or None.

    ``said``: (author id, author name, text) of the turn's replies. The bundled 135M model
    proposes lines of the reply as memories: Mara's "I am afraid of the flames" as
    Tobias's, in Mara's voice (false in his mouth), and the same line for each bot.
    Another bot's line in the first person is given to the wrong owner. The owner's own
    line may stand: extraction may keep what a bot said as a fact worth more than the
    message's own importance ("I promised to mend the nets")."""
    mine = set(words(text))
    if len(mine) < LINE_MIN_WORDS or not _FIRST_PERSON.search(text):
        return None
    for author, name, line in said:
        if author != owner and len(mine & set(words(line))) >= LINE_SHARE * len(mine):
            return f"the memory is {name}'s line of this turn, in {name}'s voice, not a memory of {owner}"
    return None


def _repeats(mine: set[str], known: list[frozenset[str]]) -> bool:
    """Whether ``mine`` overlaps one of ``known`` by `DUPLICATE_OVERLAP` (Jaccard)."""
    size = len(mine)
    for other_words in known:
        # The overlap is at most the smaller set's share of the larger: most of a bot's
        # few hundred memories are ruled out by their sizes, without building two sets.
        other = len(other_words)
        if not other or min(size, other) < DUPLICATE_OVERLAP * max(size, other) - 1e-9:
            continue
        shared = len(mine & other_words)
        if shared / (size + other - shared) >= DUPLICATE_OVERLAP:
            return True
    return False


def _runs(tokens: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + INSTRUCTION_RUN]) for i in range(len(tokens) - INSTRUCTION_RUN + 1)}
