"""Field types shared by the event schemas and manual edits: one place for each limit.

`chat.eventlog.schemas` builds its payloads from these, and `chat.state.manual_edit`
checks a person's edit of one field with the very same type (strictly), so the two
can never disagree about a name's length or an importance's range.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

SLUG_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_RE)]

EntityName = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Alias = Annotated[str, StringConstraints(max_length=120)]
Aliases = Annotated[list[Alias], Field(max_length=30)]
FactKey = Annotated[str, StringConstraints(max_length=100)]
FactValue = Annotated[str, StringConstraints(max_length=2000)]
Facts = dict[FactKey, FactValue]
MemoryText = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Importance = Annotated[int, Field(ge=1, le=10)]
MemoryAbout = Annotated[list[Slug], Field(max_length=30)]
Score = Annotated[int, Field(ge=-100, le=100)]
"""An edge's affinity or trust (§5.2)."""
EdgeLabel = Annotated[str, StringConstraints(min_length=1, max_length=200)]
WorldFactKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
WorldValue = Annotated[str, StringConstraints(max_length=4000)]
ScenePresent = Annotated[list[Slug], Field(max_length=100)]

WORLD_KEY_RE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
WORLD_KEY_CHARS = 60


def world_key_problem(key: object) -> str | None:
    """Why ``key`` cannot name a new world fact (§5.5: a short snake_case name), or None."""
    if not isinstance(key, str) or not key:
        return "a world fact key must be a non-empty string"
    if len(key) > WORLD_KEY_CHARS or not re.fullmatch(WORLD_KEY_RE, key):
        return (
            f"a world fact key must be a short snake_case name (a-z, 0-9 and _, at most"
            f" {WORLD_KEY_CHARS} characters) such as weather or time_of_day"
        )
    return None
