"""Keeping the model from writing anyone else's lines (§4.8).

The backend gets stop sequences ("\\nYou:", "\\nAlice:" ...), and because not every
model honours them exactly (a 135M model least of all), the streamed text is also
watched. The reply is cut at the first:

- line that starts with another speaker's label ("Tobias:", "You:"), also behind a bullet
  or markup ("- Mara Quinn:", "**Tobias:**"), and a later line with the bot's own label
  (a second turn of its own, "...\nTobias Wren: I don't");
- line that narrates the user ("*You look down at your nets.*");
- line that repeats a heading of the prompt ("How Mara speaks:", "Scene:");
- quoted line attributed to the user or another speaker (`"Mine," you say with pride`,
  `"We sail," said Mara Quinn`), from its opening quote.

A leading label of the bot's own ("Mara:", "**Mara Quinn:**", "- Mara:") is removed, and
so is the bot calling itself by name at the start (`"Mara, I'm so glad` in Mara's reply
keeps `"I'm so glad`). Nothing
past a line-start cut is ever sent to a client: a tail as long as the longest stop
sequence, and a last line that could still become a heading or the user's narration,
are held back until they can be told apart. (The user's quoted line is found
only once its attribution arrives, so its words may have streamed; the stored reply,
which every client is sent when it is appended, never has them.) When the token limit
cut the reply, `finish_at_sentence` ends it at its last complete sentence.
"""

from __future__ import annotations

import re
from functools import lru_cache

HEADINGS = (
    "traits", "backstory", "scenario", "scene", "world", "lore", "location", "present",
    "persona", "memories", "relationships", "example", "examples", "instruction", "instructions",
)  # fmt: skip
_SAY = (
    "say|says|said|reply|replies|replied|ask|asks|asked|answer|answers|answered|whisper|"
    "whispers|shout|shouts|mutter|mutters|add|adds|added|laugh|laughs|nod|nods|grin|grins|sigh|sighs"
)
_BULLET_CHARS = "-*_>•#"
_BULLET = r"(?:[-*_>•#]+[ \t]*)?[*_]*"
"""What may stand before a label at a line start: a list bullet ("-", "•", ">", "#"), markup."""
_NEVER = r"(?!x)x"
_SPEECH = "say|says|said|reply|replies|replied|ask|asks|asked|answer|answers|answered|whisper|whispers|mutter|mutters"
HOLD = 48
"""Characters held back at least: room for a heading such as "How Isolde Varga speaks:"."""
_SENTENCE_END = re.compile(r"[.!?…](?:[\"”’*)\]]+)?(?=\s|$)")


def stop_sequences(user_name: str, other_names: list[str]) -> list[str]:
    """Line starts that mean the model began writing for someone else (full and first names:
    a small model writes "Tobias:" as often as "Tobias Wren:")."""
    names = ["You", "User", user_name, *other_names]
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            seen.setdefault(f"\n{name}:", None)
    for name in names:
        first = name.strip().split()[0] if name.strip() else ""
        if len(first) > 2:
            seen.setdefault(f"\n{first}:", None)
    return list(seen)


def cut_at_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (also at its very start); True when cut."""
    padded = "\n" + text
    cuts = [i for stop in stops if (i := padded.find(stop)) >= 0]
    if not cuts:
        return text, False
    return text[: max(min(cuts) - 1, 0)] if min(cuts) > 0 else "", True


def _alternation(names: list[str]) -> str:
    forms: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            forms.setdefault(re.escape(name), None)
            first = name.split()[0]
            if len(first) > 2:
                forms.setdefault(re.escape(first), None)
    return "|".join(sorted(forms, key=len, reverse=True))


class ReplyRules:
    """The patterns of §4.8 for one speaker: own label, others' lines, prompt headings."""

    def __init__(self, stops: list[str], own_name: str, user_name: str = "You") -> None:
        self.rules_stops = stops
        own = _alternation([own_name]) if own_name.strip() else ""
        self.own_label = re.compile(rf"^\s*{_BULLET}(?:{own})\s*[*_]*\s*:[*_]*" if own else _NEVER)
        self.own_vocative = re.compile(rf"\s*([\"“]?)[ \t]*(?:{own})[ \t]*,[ \t]*(?=\S)" if own else _NEVER)
        users = _alternation(["You", user_name])
        speakers = [s.strip("\n:") for s in stops]
        named = _alternation([own_name, user_name, *speakers]) or "You"
        others = _alternation(speakers) or "You"
        self.line_cuts = re.compile(
            rf"(?:^|\n)[ \t]*(?:"
            rf"[*_]+[ \t]*(?:{users})\b"  # narration of the user: *You look down...*
            rf"|[*#_ \t]*(?:how|what)\s+(?:{named}|\w+(?:\s\w+)?)\s+(?:speaks|talks|sounds|remembers)\b[^\n]{{0,20}}:"
            rf"|[*#_ \t]*(?:{'|'.join(HEADINGS)})[*_ \t]*:"
            rf")",
            re.IGNORECASE,
        )
        # A speaker's label at a line start, behind a bullet or markup or not: "- Mara Quinn:",
        # "**Tobias:**", and the bot's own on a later line (its label at the start is removed
        # before this is asked). Names as written: "you:" in running text is no label.
        labelled = _alternation([*speakers, own_name]) or "You"
        self.label_line = re.compile(rf"(?:^|\n)[ \t]*{_BULLET}(?:{labelled})[ \t]*[*_]*[ \t]*:")
        self.label_forms = _forms([*speakers, own_name])
        self.user_forms = [f.lower() for f in _alternation(["You", user_name]).replace("\\", "").split("|")]
        # The user's quoted line, by a verb of speech or gesture ("," You say / You nod); another
        # speaker's by speech only, either way round ("," Tobias says / said Tobias): after the
        # bot's own quoted line, "Tobias nods" narrates him but does not make the line his.
        self.said_by_user = re.compile(
            rf"[,.!?…][\"”][ \t]*(?:(?:{users})[ \t]+(?:{_SAY})"
            rf"|(?:{others})[ \t]+(?:{_SPEECH})|(?:{_SPEECH})[ \t]+(?:{others}))\b"
        )

    def held_line(self, body: str) -> int | None:
        """Where the last line starts when it could still turn into a heading or the user's
        narration (so it is not shown yet); None when it cannot."""
        start = body.rfind("\n") + 1
        line = body[start:]
        if len(line) >= HOLD or ":" in line:
            return None  # too long for a heading, or complete (and not cut)
        core = line.lstrip(" \t*_#")
        if not core:
            return start
        if self._may_become_label(line):
            return start
        if line.lstrip(" \t")[:1] in ("*", "_"):
            low = core.lower()
            return start if any(form.startswith(low) for form in self.user_forms) else None
        if any(c in core for c in '.,!?"'):
            return None
        first, space, _rest = core.partition(" ")
        word = first.lower()
        if not space:  # the first word is still coming: hold while it may become one
            candidates = ("how", "what", *HEADINGS)
            return start if any(c.startswith(word) for c in candidates) else None
        return start if word in ("how", "what") else None

    def _may_become_label(self, line: str) -> bool:
        """Whether ``line`` (no colon yet) may still become a speaker's label: a bullet or
        markup, then the start of a name, or a whole name with only markup after it."""
        core = line.lstrip(" \t" + _BULLET_CHARS).rstrip(" \t*_")
        if not core:
            return True
        return any(form.startswith(core) for form in self.label_forms)

    def cut(self, body: str) -> tuple[int, bool, bool]:
        """Where ``body`` (the reply after its own label) must end; whether a rule cut it;
        and whether that rule's match is complete (more text came after it)."""
        cuts: list[tuple[int, int]] = []  # (cut at, match ended at)
        padded = "\n" + body
        for stop in self.rules_stops:
            if (i := padded.find(stop)) >= 0:
                cuts.append((max(i - 1, 0), i - 1 + len(stop)))
        if (line := self.line_cuts.search(body)) is not None:
            cuts.append((line.start(), line.end()))
        if (label := self.label_line.search(body)) is not None:
            cuts.append((label.start(), label.end()))
        if (said := self.said_by_user.search(body)) is not None:
            opening = max(body.rfind('"', 0, said.start()), body.rfind("“", 0, said.start()))
            start = opening if opening >= 0 else _last_sentence_end(body[: said.start()])
            cuts.append((max(start, 0), said.end()))
        if not cuts:
            return len(body), False, False
        at, ended = min(cuts)
        return at, True, ended < len(body)


def _forms(names: list[str]) -> list[str]:
    """Each name whole and by its first word (longer than two letters), as written."""
    forms: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            forms.setdefault(name, None)
            first = name.split()[0]
            if len(first) > 2:
                forms.setdefault(first, None)
    return list(forms)


def _last_sentence_end(text: str) -> int:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return ends[-1] if ends else 0


def _ends_sentence(text: str) -> bool:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return bool(ends) and ends[-1] == len(text)


def finish_at_sentence(text: str) -> str:
    """``text`` up to its last complete sentence (a reply the token limit cut mid-sentence);
    unchanged when it already ends one or has no complete sentence to fall back to."""
    stripped = text.strip()
    if not stripped or _ends_sentence(stripped):
        return stripped
    end = _last_sentence_end(stripped)
    return stripped[:end].rstrip() if end else stripped


@lru_cache(maxsize=64)
def reply_rules(stops: tuple[str, ...], own_name: str, user_name: str) -> ReplyRules:
    """The rules for one speaker, compiled once: every reply of the bot in the chat asks
    for the same (compiling them took half a millisecond a turn)."""
    return ReplyRules(list(stops), own_name, user_name)


class StopTrimmer:
    """Feed streamed pieces; get back only text that is certainly part of the reply.

    Holds back a tail as long as the longest pattern (it may be the start of one) and,
    at the beginning, the bot's own "Name:" prefix until it can tell.
    """

    def __init__(self, stops: list[str], own_name: str, user_name: str = "You") -> None:
        self.rules = reply_rules(tuple(stops), own_name, user_name)
        name = own_name.strip().lower()
        self._own_forms = [f for f in {name, name.split()[0] if name else ""} if f]
        self._hold = max((len(s) for s in stops), default=1)
        self.text = ""
        self._sent = 0
        self._start = 0
        self._prefix_checked = not own_name.strip()
        self._end = 0
        self._lead = ""  # put before the body: the quote mark a removed self-address stood behind
        self._capital = False
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add a piece; return the text now safe to show (maybe empty)."""
        if self.stopped:
            return ""
        self.text += piece
        if not self._prefix_checked:
            if self._may_be_label():
                return ""  # may still be "**Name:**": wait for what follows the label
            self._check_prefix()
        body = self.text[self._start :]
        end, found, complete = self.rules.cut(body)
        if found and complete:
            self.stopped = True
            return self._release(end)
        safe = max(len(body) - self._hold, 0)
        held = self.rules.held_line(body)
        if held is not None:
            safe = min(safe, held)
        return self._release(min(end, safe))

    def finish(self) -> str:
        """The rest of the reply once the stream ended."""
        if not self._prefix_checked:
            self._check_prefix()
        end, found, _ = self.rules.cut(self.text[self._start :])
        self.stopped = self.stopped or found
        return self._release(end)

    def _may_be_label(self) -> bool:
        """Whether the text so far could still become the bot's own label: held back only
        while it is a start of the name, or the name not yet followed by anything decisive."""
        label = self.rules.own_label.match(self.text)
        if label is not None:  # a whole label: wait only while a self-address may follow it
            return self._may_be_vocative(self.text[label.end() :])
        core = self.text.lstrip(" \t\n\"“" + _BULLET_CHARS).lower()
        for form in self._own_forms:
            if form.startswith(core):
                return True
            if core.startswith(form):
                rest = core[len(form) :]
                colon = rest.find(":")
                if not rest.strip(" *_") or colon >= 0 and not rest[colon + 1 :].strip(" *_"):
                    return True
                if rest.lstrip(" ").startswith(",") and not rest.lstrip(" ")[1:].strip():
                    return True  # "Mara," in Mara's reply: wait for what follows
        return False

    def _may_be_vocative(self, rest: str) -> bool:
        core = rest.lstrip(" \t\n\"“").lower()
        for form in self._own_forms:
            if form.startswith(core):
                return True
            after = core[len(form) :].lstrip(" ") if core.startswith(form) else None
            if after is not None and after.startswith(",") and not after[1:].strip():
                return True
        return False

    def _check_prefix(self) -> None:
        self._prefix_checked = True
        label = self.rules.own_label.match(self.text)
        if label is not None:
            self._start = label.end()
        vocative = self.rules.own_vocative.match(self.text, self._start)
        if vocative is not None:  # the bot calling itself by name: "Mara, the tide..." in Mara's reply
            self._start = vocative.end()
            self._lead = vocative.group(1)
            self._capital = True

    def _release(self, upto: int) -> str:
        self._end = upto
        upto = max(upto, self._sent)
        out = self.text[self._start + self._sent : self._start + upto]
        if out and self._sent == 0:
            out = self._opening(out)
        self._sent = upto
        return out

    @property
    def reply(self) -> str:
        """The reply as it will be stored (before stripping): up to the latest cut."""
        body = self.text[self._start : self._start + self._end]
        return self._opening(body) if body else ""

    def _opening(self, text: str) -> str:
        """The reply's first text as shown: after a removed self-address, the quote mark it
        stood behind and a capital ("Mara, the tide" became "The tide")."""
        return self._lead + text[:1].upper() + text[1:] if self._capital else text
