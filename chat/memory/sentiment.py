"""A deterministic relationship signal (§5.2, §5.5): how what the user says sounds.

A 135M model's extraction rarely proposes an edge change, so relationships never
move on the bundled model, even after "You're a liar and I don't trust you". VADER
(a lexicon and rules, no model) scores the user's message; a clearly warm or hostile
message nudges the affinity, and a clearly hostile or warm one the trust, of each bot
it was said to (chat/turns/effects.py chooses: the bots it names, else those that
answered) toward the user, by a few points. The nudge is an ordinary
``edge_changed`` by the actor ``system`` with ``source: "sentiment"``, so the edge
history says where it came from, and it shares the ±10 per turn of §5.5 with the
model's own proposals.

What counts is the tone of what the user says *to the bot*, not the mood of the story.
VADER's negative words are mostly the words of a grim world ("drowned", "cold",
"fog lies thick", "smuggle"), which a role-play uses all the time. So the message is
read sentence by sentence (`tone`), and:

- a sentence counts as hostile only when it is aimed at the listener: it speaks to them
  ("you", "your"...), or judges what they just said or did ("That was a stupid thing
  to do", "What a cruel idea"), or is a dismissal ("shut up", "nobody asked", "get
  lost": VADER scores "shut up, nobody asked you" 0, so these carry `DISMISSAL`);
  "I am so cold and tired" or "the fog lies thick" describe, and move nothing;
- a question asks rather than states: its score is damped by `QUESTION_WEIGHT`, so
  "did you hear the drowned bell last night?" (-0.60) stays neutral while a barbed one
  worded strongly ("Why are you such a useless, lying coward?", -0.85) still counts;
- warmth is read the same way, damped questions aside, wherever it is aimed: kind words
  seldom describe a world ("What a lovely idea, let's do it" is warmth to the listener);
- sympathy is not hostility, though it is worded with negative words at the listener:
  concern for how they are ("you look tired", "you must be exhausted", "you're soaked"),
  sorrow for what befell them ("I'm sorry you had a rough day", "sorry for your loss",
  "poor you", "that must have been awful for you"). Those words (`_SYMPATHY`) are taken
  out before the sentence is scored, so what is left says whether anything else in it is
  warm or hostile ("Sorry you got hurt, you idiot" still is);
- a bare interjection ("Ugh.", "Damn!", "Hell.") is a sigh, not words at anyone: a
  sentence of only those (`_INTERJECTION`) is neutral, while a bare insult ("Idiot!",
  "Liar.") still counts as said to the listener;
- the message's tone is its strongest sentence, so one hostile line is not averaged away.

Known limits: the sympathy frames are phrases, so sarcasm worded as sympathy ("sorry for
your little feelings") reads as sympathy ("sorry you are such a ..." does not); concern that
names a state the list lacks ("you look grim") still reads as a little hostile. A lexicon cannot tell concern from contempt; the
frames cover the common wordings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from chat.eventlog.log import NewEvent
from chat.memory.extraction import MAX_DELTA

WARM_FROM = 0.5
HOSTILE_FROM = -0.3
"""Between these the message is neutral and moves nothing. Asymmetric because VADER reads
politeness as warmth ("good morning", "is the channel clear?" score 0.4), while hostile
words seldom turn up in plain talk ("you're useless" is only -0.42)."""
MAX_AFFINITY_NUDGE = 4
MAX_TRUST_NUDGE = 2
TRUST_FROM = 0.5
"""Only a strongly worded message moves trust."""
SOURCE = "sentiment"
QUESTION_WEIGHT = 0.4
"""A question's score is multiplied by this: asking about a dark thing is not hostility."""
DISMISSAL = -0.6
"""The score of a sentence that waves the listener off, which VADER's lexicon misses."""
MAX_CHARS = 4000

_SENTENCES = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)*_]*\s+|\n+")
_TO_LISTENER = re.compile(
    r"\b(you|your|yours|yourself|yourselves|ya|thee|thou|thy|thine)\b"
    # a judgement of what the listener said or did: "That was stupid", "What a cruel idea",
    # "That was a stupid thing to do", not "This is a cold, cruel, drowned town"
    r"|^\W*(that|this)(\s+(was|is)|'s)\s+(so\s+|really\s+|very\s+|just\s+)?\w+\W*$"
    r"|^\W*((that|this)(\s+(was|is)|'s)|what)\s+(an?\s+)?([\w-]+,?\s+){0,3}"
    r"(thing|idea|plan|question|answer|joke|lie|excuse|trick|choice|suggestion|remark|comment|reply)s?\b"
    # a bare insult: "Idiot!", "Liar."
    r"|^\W*\w+\W*$",
    re.IGNORECASE,
)
_DISMISSALS = re.compile(
    r"\b(shut up|shut it|nobody asked|no one asked|who asked|get lost|go away|piss off|"
    r"back off|buzz off|get out of my|leave me alone|go to hell|screw you)\b",
    re.IGNORECASE,
)

_STATES = (
    r"tired|exhausted|weary|worn(?:\s+|-)out|sleepy|drained|beat|sad|upset|unhappy|miserable|down|low|"
    r"heartbroken|lonely|homesick|hurt|injured|wounded|bleeding|in\s+pain|sore|cold|freezing|frozen|"
    r"chilled|soaked|drenched|wet|sick|ill|unwell|pale|feverish|hungry|starving|thirsty|shaken|"
    r"shaking|shivering|scared|frightened|afraid|terrified|worried|anxious|nervous|stressed|"
    r"overwhelmed|troubled|lost"
)
_DEGREE = r"(?:(?:so|very|really|quite|rather|pretty|completely|utterly|half|still|all|a\s+bit|a\s+little|awfully|terribly)[\s-]+)*"
_SYMPATHY = re.compile(
    # concern for how the listener is: "you look tired", "you must be exhausted"
    r"\byou(?:\s+(?:look|seem|sound|feel)s?(?:\s+like\s+you(?:'re|\s+are))?|\s+must\s+(?:be|have\s+been|feel)|"
    r"\s+might\s+be|(?:'re|\s+are)(?=\s+(?:still|all|so|very|really|completely|half)?\s*"
    r"(?:soaked|drenched|freezing|frozen|shaking|shivering|bleeding|hurt|injured|wounded|exhausted)))"
    rf"\s+{_DEGREE}(?:{_STATES})\b"
    # sorrow for what befell them: "I'm sorry you had a rough day", "sorry for your loss"
    r"|\b(?:i'?m\s+|i\s+am\s+|we'?re\s+|we\s+are\s+)?(?:so\s+|very\s+|really\s+|truly\s+|terribly\s+)*"
    r"sorry\s+(?:(?:that|to\s+hear(?:\s+that)?|about|for)\s+)?(?:you|your)\b(?![^,;:.!?]*\bsuch\b)[^,;:.!?]*"
    # "poor you", "you poor thing", "that must have been awful for you"
    r"|\bpoor\s+(?:you|thing|dear|soul|lamb|love)\b|\byou\s+poor\s+(?:thing|dear|soul|lamb|love)\b"
    r"|\b(?:that|it|this)\s+must\s+(?:have\s+been|be)\s+" + _DEGREE
    + r"(?:hard|awful|terrible|horrible|dreadful|rough|tough|difficult|painful|frightening|scary|"
    r"exhausting|lonely|sad|upsetting|hell)\b(?:\s+(?:for|on)\s+you)?"
    r"|\b(?:you(?:'ve|\s+have)?\s+had|you\s+went\s+through)\s+(?:such\s+)?an?\s+" + _DEGREE
    + r"(?:rough|hard|long|bad|awful|terrible|horrible|tough|difficult)\s+(?:day|night|week|time|year|journey)\b",
    re.IGNORECASE,
)
_INTERJECTION = re.compile(
    r"^\W*(?:(?:ugh+|u+gh|argh+|a+rgh|damn|dammit|darn|dang|blast|bother|hell|shit|crap|crud|"
    r"fuck|bloody|sigh|oh|ah+|aw+|ow+|ouch|oof|geez|jeez|god|christ|bah|meh|hmph|eek|yikes|"
    r"alas|oops|whoops|no+|nope|drat)\W*)+$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    """The analyzer, built once: it loads a 7k-word lexicon (imported late for the same reason)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def compound(text: str) -> float:
    """VADER's compound score of ``text``, -1 (hostile) .. 1 (warm)."""
    return float(_analyzer().polarity_scores(text[:MAX_CHARS])["compound"])


def _sentence_tone(sentence: str) -> float:
    """One sentence's score under the rules of the module docstring."""
    if _DISMISSALS.search(sentence):
        return min(compound(sentence), DISMISSAL)  # "who asked you?" is no question
    if _INTERJECTION.match(sentence):
        return max(compound(sentence), 0.0)  # a sigh at nobody
    sentence = _SYMPATHY.sub(" ", sentence)  # concern is not contempt: what else is said counts
    score = compound(sentence)
    if score < 0 and not _TO_LISTENER.search(sentence):
        return 0.0  # a description of the world, not words at the listener
    if sentence.rstrip(" \"'\u201d\u2019)*_").endswith("?"):
        return score * QUESTION_WEIGHT
    return score


@lru_cache(maxsize=64)
def tone(text: str) -> float:
    """How ``text`` sounds to the one it is said to, -1 (hostile) .. 1 (warm): the score of
    its strongest sentence, read as the module docstring says."""
    scores = [_sentence_tone(s) for s in _SENTENCES.split(text[:MAX_CHARS]) if s and s.strip()]
    return max(scores, key=abs, default=0.0)


def nudge(score: float) -> tuple[int, int]:
    """(affinity, trust) deltas for a compound score; (0, 0) when it is neutral."""
    if HOSTILE_FROM < score < WARM_FROM:
        return 0, 0
    affinity = round(score * MAX_AFFINITY_NUDGE) or (1 if score > 0 else -1)
    trust = round(score * MAX_TRUST_NUDGE) if abs(score) >= TRUST_FROM else 0
    return affinity, trust


def sentiment_events(
    *,
    user_text: str,
    bot_ids: list[str],
    chat_id: str,
    turn_id: str,
    used: dict[tuple[str, str], tuple[int, int]],
) -> list[NewEvent]:
    """One ``edge_changed`` per bot that answered, from the user's message; ``used``: the
    deltas the model's proposals already spent on each (src, dst) edge this turn."""
    affinity, trust = nudge(tone(user_text))
    if not affinity and not trust:
        return []
    events = []
    for bot_id in dict.fromkeys(bot_ids):
        spent_a, spent_t = used.get((bot_id, "you"), (0, 0))
        a = max(-MAX_DELTA - spent_a, min(MAX_DELTA - spent_a, affinity))
        t = max(-MAX_DELTA - spent_t, min(MAX_DELTA - spent_t, trust))
        if a or t:
            payload = {"src": bot_id, "dst": "you", "affinity_delta": a, "trust_delta": t, "source": SOURCE}
            events.append(NewEvent("edge_changed", payload, chat_id=chat_id, turn_id=turn_id, actor="system"))
    return events


def spent(events: list[NewEvent]) -> dict[tuple[str, str], tuple[int, int]]:
    """The affinity and trust deltas ``events`` already change each edge by."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for event in events:
        if event.kind == "edge_changed":
            key = (event.payload["src"], event.payload["dst"])
            a, t = out.get(key, (0, 0))
            out[key] = (a + event.payload.get("affinity_delta", 0), t + event.payload.get("trust_delta", 0))
    return out
