"""The payload of a posted message (§4.1).

``schemas`` imports it into ``SCHEMAS``; it builds on its base types.

A reply's ``retrieved_memory_ids`` are stored in a short form (chat/eventlog/recalled.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from chat.eventlog.recalled import full_id, short_id
from chat.eventlog.schemas import ID_RE, Ident, IsoTime, Payload, Slug

RecalledId = Annotated[str, StringConstraints(pattern=r"^\*?" + ID_RE.removeprefix("^"))]


class MessagePosted(Payload):
    id: Ident
    chat_id: Ident
    author: Slug
    text: Annotated[str, StringConstraints(max_length=40_000)]
    alt_group: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    retrieved_memory_ids: list[RecalledId] = Field(default_factory=list, max_length=200, exclude_if=lambda v: not v)
    """Stored in the short form (chat/eventlog/recalled.py); read with ``recalled_ids``."""
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
