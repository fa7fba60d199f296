"""Request bodies of the HTTP API, strict (``extra="forbid"``, ``strict=True``) so a typo is a
422, not ignored, and a value of the wrong JSON type is refused, not coerced.

Size rules are the event schemas' own types (``chat.eventlog.schemas``), so a request
that passes here also passes the event validation; the message limit is tighter than
the log's, because a chat message is typed by a person (§12.3).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from chat.eventlog.fields import Aliases, EntityName, Facts, ScenePresent, WorldValue
from chat.eventlog.schemas import (
    ID_RE,
    SLUG_RE,
    BotFields,
    EntityKind,
    ManualEdit,
    MemoryKind,
    ShortText,
    Text,
)
from chat.world.chats import MAX_MESSAGE_CHARS  # one limit for the API, CLI and UI

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE)]
Ident = Annotated[str, StringConstraints(pattern=ID_RE)]
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class Body(BaseModel):
    """Strict: unknown fields are refused, and JSON types are taken as given, never coerced
    (``true`` is not 1, ``"10"`` is not 10)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class BotCreate(BotFields):
    """A new bot; ``id`` is made from the name when not given."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Slug | None = None
    world_id: Slug | None = None
    """The world the bot takes part in from the start (default: the only world)."""


class BotPatch(Body):
    """The bot fields to change; fields left out keep their value."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    persona: str | None = None
    voice_samples: list[str] | None = None
    traits: list[str] | None = None
    backstory: str | None = None
    initial_relationship_to_you: str | None = None
    kickoff_prose: str | None = None
    avatar: str | None = None
    tags: list[str] | None = None
    talkativeness: float | None = Field(default=None, ge=0.0, le=1.0)
    alternate_greetings: list[str] | None = None
    scenario: str | None = None
    lore: list[dict[str, Any]] | None = None


class ChatCreate(Body):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    bot_ids: list[Slug] = Field(min_length=1, max_length=20)
    world_id: Slug | None = None
    """The world the chat belongs to (default: the only world); its bots join it."""


class MessagePost(Body):
    text: MessageText


class MessageEdit(Body):
    text: MessageText


class Rewind(Body):
    before_message_id: Ident


class EntityPatch(Body):
    kind: EntityKind | None = None
    name: str | None = None
    aliases: list[str] | None = None
    description: str | None = None
    facts: dict[str, str] | None = None


class EntityCreate(Body):
    """A new entity; ``id`` is a unique slug of the name when not given."""

    id: Slug | None = None
    name: EntityName
    kind: EntityKind
    description: Text | None = None
    aliases: Aliases | None = None
    facts: Facts | None = None


class ScenePut(Body):
    """A chat's scene: the location, who is present (entity ids); either may be left out."""

    location: ShortText | None = None
    present: ScenePresent | None = None


class EdgePatch(Body):
    label: str | None = None
    affinity: int | None = None
    trust: int | None = None
    notes: str | None = None


class MemoryPatch(Body):
    text: str | None = None
    importance: int | None = None
    kind: MemoryKind | None = None
    about: list[str] | None = None
    superseded_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    """The newer memory that replaces this one (§5.3); null un-marks it."""


class ChapterPatch(Body):
    """A person's rewrite of a chapter (§5.7); checked as a memory text when it is applied."""

    text: str


class MemoryCreate(Body):
    """A memory given to a bot by hand (§11.1)."""

    owner: Slug
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    importance: int = Field(default=5, ge=1, le=10)
    kind: MemoryKind = "observation"
    about: list[Slug] = Field(default_factory=list, max_length=30)


class WorldFactPut(Body):
    value: WorldValue


ManualEditRequest = create_model(
    "ManualEditRequest",
    __base__=Body,
    __doc__="One manual edit (§6.1): set a field, delete an item, or unpin a field (§6.2).\n\n"
    "The fields of the ``manual_edit`` event but ``previous``, which the server fills in.",
    **{  # type: ignore[call-overload]
        name: (info.annotation, info)
        for name, info in ManualEdit.model_fields.items()
        if name != "previous"
    },
)


class WorldCreate(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    scenario: Annotated[str, StringConstraints(max_length=20_000)] = ""
    id: Slug | None = None


class WorldPatch(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    scenario: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class PersonaPut(Body):
    """Who "you" are (§3.6); ``world_id`` sets it for that world only."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    world_id: Slug | None = None


class LorePut(Body):
    """One book of one world's lore, whole (the lore editor saves the list it shows)."""

    entries: list[dict[str, Any]] = Field(max_length=100_000)


class SnapshotCreate(Body):
    kind: Literal["manual"] = "manual"


def set_fields(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body actually gave, in declaration order (null counts as given, and
    is then validated)."""
    given = body.model_fields_set
    return {name: getattr(body, name) for name in type(body).model_fields if name in given}
