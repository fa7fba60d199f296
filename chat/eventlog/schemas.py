"""One payload schema per event kind (§3.3, §9.2).

Every payload is validated here before it is appended, so the log only ever
holds well-formed events; a failure names the field and the rule. The models
are strict about unknown fields (``extra="forbid"``) so a typo is an error,
not silently dropped data. ``SCHEMA_VERSIONS`` is the version new events are
written with; older payloads are upgraded on read (see ``upcasting``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticSerializationError

from chat.errors import UnknownEventKind, ValidationFailed
from chat.eventlog.fields import (
    SLUG_RE,
    Alias,
    Aliases,
    EntityName,
    Facts,
    FactValue,
    Importance,
    MemoryAbout,
    MemoryText,
    WorldFactKey,
    WorldValue,
)
from chat.eventlog.messages import _first_field, describe_validation_error
from chat.eventlog.review_schemas import ProposalQueued, ProposalReviewed

ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
ISO_UTC_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
"""Times as the log writes them (``utc_now_iso``)."""
IsoTime = Annotated[str, StringConstraints(pattern=ISO_UTC_RE)]

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE)]
Ident = Annotated[str, StringConstraints(pattern=ID_RE)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=60)]

CARD_TEXT_CHARS = 6 * 1024 * 1024
"""Longest text of a bot's card-derived fields: as long as the largest card JSON (§3.4).

SillyTavern puts no cap on a card's fields, lists or lorebook; Kith caps each field and
list only at what the overall card file limit could hold, and the whole event at
``MAX_PAYLOAD_BYTES``, so every card SillyTavern accepts imports."""
CARD_LIST_ITEMS = 100_000
"""Most greetings, example dialogues or lore entries (a card file this large holds fewer)."""
CardText = Annotated[str, StringConstraints(max_length=CARD_TEXT_CHARS)]

ENTITY_KINDS = ("bot", "you", "person", "place", "thing", "group", "other")
MEMORY_KINDS = ("observation", "reflection", "fact")
EntityKind = Literal["bot", "you", "person", "place", "thing", "group", "other"]
MemoryKind = Literal["observation", "reflection", "fact"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


DEFAULT_WORLD = "default"  # the world of all that was written before worlds (§3.5, §9.4)

WorldRef = Slug | None
"""An event's world; None: its chat's, else ``default`` (see chat.state.worlds.world_of)."""


class WorldScoped(Payload):
    world_id: WorldRef = None  # see WorldRef


class LoreEntry(BaseModel):
    """A character-book / lorebook entry, activated by keywords in recent messages (§8.1)."""

    model_config = ConfigDict(extra="allow")

    keys: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=list, max_length=1000
    )
    secondary_keys: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=list, max_length=1000
    )
    content: CardText = ""
    enabled: bool = True
    insertion_order: int = 100
    position: str = "before_char"
    case_sensitive: bool = False
    selective: bool = False
    constant: bool = False
    name: ShortText = ""
    comment: ShortText = ""


class BotFields(Payload):
    """The fields of a bot (§3.1), shared by authoring and revising."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    persona: CardText = ""
    voice_samples: list[CardText] = Field(default_factory=list, max_length=CARD_LIST_ITEMS)
    traits: list[Word] = Field(default_factory=list, max_length=30)
    backstory: CardText = ""
    initial_relationship_to_you: ShortText = "stranger"
    kickoff_prose: CardText = ""
    avatar: Annotated[str, StringConstraints(max_length=3_000_000)] | None = None
    tags: list[Word] = Field(default_factory=list, max_length=50)
    talkativeness: float = Field(default=0.5, ge=0.0, le=1.0)
    alternate_greetings: list[CardText] = Field(default_factory=list, max_length=CARD_LIST_ITEMS)
    scenario: CardText = ""
    lore: list[LoreEntry] = Field(default_factory=list, max_length=CARD_LIST_ITEMS)
    card: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class BotAuthored(BotFields):
    world_id: WorldRef = None
    id: Slug


class BotRevised(Payload):
    id: Slug
    changes: dict[str, Any]

    @field_validator("changes")
    @classmethod
    def _known_fields(cls, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(BotFields.model_fields)
        if unknown:
            raise ValueError(f"unknown bot field(s): {sorted(unknown)}")
        if not changes:
            raise ValueError("must change at least one field")
        return changes


class BotRetired(Payload):
    id: Slug


class EntityAdded(WorldScoped):
    id: Slug
    kind: EntityKind = "other"
    name: EntityName
    aliases: Aliases = Field(default_factory=list)
    description: Text = ""
    facts: Facts = Field(default_factory=dict)


class EntityUpdated(WorldScoped):
    id: Slug
    name: EntityName | None = None
    kind: EntityKind | None = None
    aliases: list[Alias] | None = None
    description: Text | None = None
    facts: dict[str, FactValue] | None = None


class EdgeChanged(WorldScoped):
    """A relative change from extraction: deltas are clamped to ±10 before append (§5.5)."""

    src: Slug
    dst: Slug
    label: ShortText | None = Field(default=None, exclude_if=lambda v: v is None)
    affinity_delta: int = Field(default=0, ge=-10, le=10)
    trust_delta: int = Field(default=0, ge=-10, le=10)
    notes: Text | None = Field(default=None, exclude_if=lambda v: v is None)
    source: Literal["sentiment"] | None = Field(default=None, exclude_if=lambda v: v is None)  # chat/memory/sentiment.py


class MemoryAdded(WorldScoped):
    id: Ident
    owner: Slug
    text: MemoryText
    kind: MemoryKind = "observation"
    importance: Importance
    about: MemoryAbout = Field(default_factory=list)


class MemorySuperseded(Payload):
    """A later memory contradicts or updates ``id`` (§5.3), as extraction proposed it."""

    id: Ident
    superseded_by: Ident


class WorldFactSet(WorldScoped):
    key: WorldFactKey
    value: WorldValue


class WorldFactDeleted(WorldScoped):
    key: WorldFactKey


class SceneChanged(Payload):
    chat_id: Ident
    location: ShortText | None = None
    present: list[Slug] | None = None


class ManualEdit(WorldScoped):
    """A person's edit of one field of one item, with the value it replaced (§6.1)."""

    target_type: Literal["entity", "edge", "memory", "world", "bot", "scene", "chapter"]
    target_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    field: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    action: Literal["set", "delete", "unpin"] = "set"
    value: Any = None
    previous: Any = None


class ChatCreated(WorldScoped):
    id: Ident
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    bot_ids: list[Slug] = Field(min_length=1, max_length=20)


class MessageEdited(Payload):
    id: Ident
    text: Annotated[str, StringConstraints(max_length=40_000)]
    previous: str = ""


class MessageDeleted(Payload):
    id: Ident


class AlternativeChosen(Payload):
    alt_group: Ident
    message_id: Ident


class PromptRecorded(Payload):
    """The exact prompt behind a reply (§8.4). Kept in the log, not in projections."""

    message_id: Ident | None = Field(default=None, exclude_if=lambda v: v is None)
    bot_id: Slug
    purpose: Literal["reply", "extraction", "reflection"] = Field(default="reply", exclude_if=lambda v: v == "reply")
    messages: list[dict[str, str]] = Field(default_factory=list, exclude_if=lambda v: not v)
    memory_ids: list[Ident] = Field(default_factory=list, exclude_if=lambda v: not v)
    chapter_ids: list[Ident] = Field(default_factory=list, exclude_if=lambda v: not v)
    """The chapter memories (§5.7) the prompt held; none: left out (chat/turns/record_chapters.py)."""
    lore: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)
    token_count: int = 0
    # Compact form (chat/turns/prompt_record.py): references instead of ``messages``; defaults left out.
    compact: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)


class ProposalDropped(Payload):
    """A model proposal that validation refused, logged so the audit trail shows it (§5.5)."""

    reason: Annotated[str, StringConstraints(max_length=1000)]
    proposal: Any = Field(default=None, exclude_if=lambda v: v is None)


class ReflectionRecorded(WorldScoped):
    bot_id: Slug
    memory_ids: list[Ident] = Field(default_factory=list)


from chat.eventlog.chapter_schemas import ChapterWritten  # noqa: E402 - builds on the types above
from chat.eventlog.message_schemas import MessagePosted  # noqa: E402 - builds on the types above
from chat.eventlog.turn_schemas import (  # noqa: E402 - they build on the types above
    TurnCompleted,
    TurnFailed,
    TurnQueued,
    TurnsReverted,
    TurnStarted,
)
from chat.eventlog.world_schemas import (  # noqa: E402 - they build on the types above
    LoreSet,
    PersonaCleared,
    PersonaSet,
    WorldArchived,
    WorldCreated,
    WorldJoined,
    WorldRenamed,
    WorldRestored,
    WorldScenarioSet,
)

SCHEMAS: dict[str, type[Payload]] = {
    "bot_authored": BotAuthored,
    "bot_revised": BotRevised,
    "bot_retired": BotRetired,
    "entity_added": EntityAdded,
    "entity_updated": EntityUpdated,
    "edge_changed": EdgeChanged,
    "memory_added": MemoryAdded,
    "memory_superseded": MemorySuperseded,
    "world_fact_set": WorldFactSet,
    "world_fact_deleted": WorldFactDeleted,
    "scene_changed": SceneChanged,
    "manual_edit": ManualEdit,
    "chat_created": ChatCreated,
    "message_posted": MessagePosted,
    "message_edited": MessageEdited,
    "message_deleted": MessageDeleted,
    "alternative_chosen": AlternativeChosen,
    "turn_queued": TurnQueued,
    "turn_started": TurnStarted,
    "turn_completed": TurnCompleted,
    "turn_failed": TurnFailed,
    "turns_reverted": TurnsReverted,
    "prompt_recorded": PromptRecorded,
    "proposal_dropped": ProposalDropped,
    "proposal_queued": ProposalQueued,
    "proposal_reviewed": ProposalReviewed,
    "reflection_recorded": ReflectionRecorded,
    "lore_set": LoreSet,
    "chapter_written": ChapterWritten,
    "world_created": WorldCreated,
    "world_renamed": WorldRenamed,
    "world_scenario_set": WorldScenarioSet,
    "world_archived": WorldArchived,
    "world_restored": WorldRestored,
    "world_joined": WorldJoined,
    "persona_set": PersonaSet,
    "persona_cleared": PersonaCleared,
}

WORLD_SCOPED_KINDS = frozenset(
    kind for kind, schema in SCHEMAS.items() if issubclass(schema, WorldScoped) or kind == "bot_authored"
)
"""Kinds whose payload names its world; version 1 of them predates worlds (§9.4)."""

# The version new payloads of each kind are written with; bump and add an upcaster to change one.
SCHEMA_VERSIONS: dict[str, int] = {kind: 2 if kind in WORLD_SCOPED_KINDS else 1 for kind in SCHEMAS}


def _validated(kind: str, payload: dict[str, Any]) -> Payload:
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise UnknownEventKind(
            f"unknown event kind {kind!r}; known kinds: {', '.join(sorted(SCHEMAS))}", field="kind"
        )
    if not isinstance(payload, dict):
        raise ValidationFailed(f"{kind} payload must be a JSON object", field="payload")
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_error(kind, exc), field=_first_field(exc)) from None


def validate_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised payload for ``kind`` or raise an error naming the field and rule."""
    model = _validated(kind, payload)
    try:
        return model.model_dump(mode="json", exclude_unset=False, exclude=_unnamed_world(model))
    except PydanticSerializationError as exc:
        raise ValidationFailed(
            f"invalid {kind}: a value cannot be stored as JSON ({exc})", field="payload"
        ) from None


def payload_json(kind: str, payload: dict[str, Any], leave_out: frozenset[str] = frozenset()) -> str:
    """The normalised payload as compact JSON text, as the log stores it (one validation pass).

    pydantic writes the JSON itself (no intermediate dict), which is most of the cost of an
    append; the text equals ``json.dumps(validate_payload(...), separators=(",", ":"),
    ensure_ascii=False)`` for everything a payload holds, and NaN or infinity become null.
    ``leave_out``: fields the row's own columns hold (chat/eventlog/columns.py)."""
    model = _validated(kind, payload)
    unnamed = _unnamed_world(model)
    try:
        return model.model_dump_json(exclude=(unnamed | leave_out) if unnamed else leave_out or None)
    except PydanticSerializationError as exc:
        raise ValidationFailed(
            f"invalid {kind}: a value cannot be stored as JSON ({exc})", field="payload"
        ) from None


def _unnamed_world(model: Payload) -> set[str] | None:
    """A world_id left None is not stored (its world is then its chat's); not ``getattr``,
    which pydantic answers by raising and catching an error (12 % of a batched append)."""
    return {"world_id"} if model.__dict__.get("world_id", "") is None else None
