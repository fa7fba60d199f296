"""The payload of a posted message (§4.1), and the short form of its recalled memory ids.

``schemas`` imports it into ``SCHEMAS``; it builds on its base types.

A reply's ``retrieved_memory_ids`` name the memories its prompt recalled, best first:
mostly the bot's own witnessed observations, ``obs:msg-<rest>:<bot>`` (chat/state/
observations.py; ``msg-<rest>``, the message's id), the bot being the message's author.
Such an id is stored as ``*<rest>``: 12 bytes less an id, ~100 a reply. No id starts with ``*`` (``ID_RE``),
so the short form is never taken for an id, and ``recalled_ids`` gives back the exact
list; every other id is stored as it is, and messages written before keep theirs whole.
Readers that need the ids (the recall's projection, "why did it say that?") read them
through ``recalled_ids``; a count is the same either way.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from chat.eventlog.schemas import ID_RE, Ident, IsoTime, Payload, Slug

OWN_MARK = "*"
_PREFIX = "obs:msg-"  # chat.state.observations.OBSERVATION_PREFIX and a message id's (state is above)
RecalledId = Annotated[str, StringConstraints(pattern=r"^\*?" + ID_RE.removeprefix("^"))]


def short_id(memory_id: str, author: str) -> str:
    """``memory_id`` as stored in a message of ``author``."""
    suffix = ":" + author
    rest = memory_id[len(_PREFIX) : len(memory_id) - len(suffix)]
    if memory_id.startswith(_PREFIX) and memory_id.endswith(suffix) and rest[:1].isascii() and rest[:1].isalnum():
        return OWN_MARK + rest  # a short form that is no id starts with a letter or digit
    return memory_id


def full_id(stored: str, author: str) -> str:
    """The memory id a stored entry of a message of ``author`` names."""
    return f"{_PREFIX}{stored[1:]}:{author}" if stored.startswith(OWN_MARK) else stored


def recalled_ids(payload: dict[str, Any]) -> list[str]:
    """The exact memory ids a ``message_posted`` payload recalled, in either form."""
    ids = payload.get("retrieved_memory_ids") or []
    author = str(payload.get("author", ""))
    return [full_id(stored, author) for stored in ids]


class MessagePosted(Payload):
    id: Ident
    chat_id: Ident
    author: Slug
    text: Annotated[str, StringConstraints(max_length=40_000)]
    alt_group: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    retrieved_memory_ids: list[RecalledId] = Field(default_factory=list, max_length=200, exclude_if=lambda v: not v)
    """Stored in the short form (see the module); read with ``recalled_ids``."""
    sent_at: IsoTime | None = Field(default=None, exclude_if=lambda value: value is None)
    """When first written, for a message imported from elsewhere (§11.5); else left out."""
    stopped: bool = Field(default=False, exclude_if=lambda v: not v)  # the user stopped it part way (§4.3)

    @model_validator(mode="after")
    def _short_form(self) -> MessagePosted:
        """Each of the author's own observations in the short form; every id, whole, an id."""
        if self.retrieved_memory_ids:
            for stored in self.retrieved_memory_ids:
                if len(full_id(stored, self.author)) > 128:
                    raise ValueError(f"retrieved memory id {stored!r} is longer than 128 characters")
            self.retrieved_memory_ids = [short_id(full_id(s, self.author), self.author) for s in self.retrieved_memory_ids]
        return self
