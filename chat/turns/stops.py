"""Keeping the model from writing anyone else's lines (§4.8).

The backend gets stop sequences ("\\nYou:", "\\nAlice:" ...), and because not every
model honours them exactly, the streamed text is also watched: at the first
line that starts with another speaker's name the reply is cut, and nothing
past that point is ever sent to a client. A leading "<own name>:" is removed.
"""

from __future__ import annotations


def stop_sequences(user_name: str, other_names: list[str]) -> list[str]:
    """Line starts that mean the model began writing for someone else."""
    names = ["You", "User", user_name, *other_names]
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            seen.setdefault(f"\n{name}:", None)
    return list(seen)


def cut_at_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (also at its very start); True when cut."""
    padded = "\n" + text
    cuts = [i for stop in stops if (i := padded.find(stop)) >= 0]
    if not cuts:
        return text, False
    return text[: max(min(cuts) - 1, 0)] if min(cuts) > 0 else "", True


class StopTrimmer:
    """Feed streamed pieces; get back only text that is certainly part of the reply.

    Holds back a tail as long as the longest stop sequence (it may be the start
    of one) and, at the beginning, the bot's own "Name:" prefix until it can tell.
    """

    def __init__(self, stops: list[str], own_name: str) -> None:
        self.stops = stops
        self.prefix = f"{own_name.strip()}:" if own_name.strip() else ""
        self._hold = max((len(s) for s in stops), default=1)
        self.text = ""
        self._sent = 0
        self._start = 0
        self._prefix_checked = not self.prefix
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add a piece; return the text now safe to show (maybe empty)."""
        if self.stopped:
            return ""
        self.text += piece
        if not self._prefix_checked:
            head = self.text.lstrip()
            if len(head) < len(self.prefix) and self.prefix.lower().startswith(head.lower()):
                return ""
            self._prefix_checked = True
            if head.lower().startswith(self.prefix.lower()):
                self._start = len(self.text) - len(head) + len(self.prefix)
        body = self.text[self._start :]
        cut, found = cut_at_stops(body, self.stops)
        if found:
            self.stopped = True
            return self._release(len(cut))
        return self._release(max(len(body) - self._hold, 0))

    def finish(self) -> str:
        """The rest of the reply once the stream ended."""
        if not self._prefix_checked:
            self._prefix_checked = True
            head = self.text.lstrip()
            if head.lower().startswith(self.prefix.lower()):
                self._start = len(self.text) - len(head) + len(self.prefix)
        body = self.text[self._start :]
        cut, _ = cut_at_stops(body, self.stops)
        return self._release(len(cut))

    def _release(self, upto: int) -> str:
        upto = max(upto, self._sent)
        out = self.text[self._start + self._sent : self._start + upto]
        self._sent = upto
        return out

    @property
    def reply(self) -> str:
        """Everything released so far: the reply as it will be stored (before stripping)."""
        return self.text[self._start : self._start + self._sent]
