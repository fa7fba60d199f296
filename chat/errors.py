"""Every error Kith reports to a person, one small class each.

The HTTP status and a stable machine code live on the class, so one handler in
the web app (and one in the CLI) can render any of them; the message says what
is wrong and, where it can, how to fix it.
"""

from __future__ import annotations

from typing import Any


class KithError(Exception):
    """Base of every error Kith shows to a user."""

    status: int = 400
    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class ValidationFailed(KithError):
    """Input broke a rule; the message names the field and the rule."""

    status = 422
    code = "validation_failed"


class UnknownEventKind(KithError):
    """An event kind that no schema is registered for."""

    status = 422
    code = "unknown_event_kind"


class NotFound(KithError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(KithError):
    """The request clashes with the current state (duplicate id, wrong status)."""

    status = 409
    code = "conflict"


class CardMatchesBot(Conflict):
    """An imported card matches a bot Kith already has: the caller must say update or copy."""

    code = "card_matches_bot"

    def __init__(self, message: str, *, bot_id: str, bot_name: str, field: str | None = "file") -> None:
        super().__init__(message, field=field)
        self.bot_id = bot_id
        self.bot_name = bot_name

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["error"]["bot"] = {"id": self.bot_id, "name": self.bot_name}
        return body


class PayloadTooLarge(KithError):
    """A body, file or field is over its size limit."""

    status = 413
    code = "too_large"


class ProjectionFailed(KithError):
    """A projection handler raised; the batch was rolled back."""

    status = 500
    code = "projection_failed"

    def __init__(self, message: str, *, event_id: int, kind: str) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.kind = kind


class MigrationFailed(KithError):
    """A migration failed; the database stays at the previous version."""

    status = 500
    code = "migration_failed"


class SnapshotInvalid(KithError):
    """A snapshot file is truncated, fails its checksum or has another schema."""

    status = 422
    code = "snapshot_invalid"


class ImmutableLog(KithError):
    """Something tried to update or delete an event."""

    status = 500
    code = "immutable_log"


class Unauthorized(KithError):
    """The access token is missing or wrong."""

    status = 401
    code = "unauthorized"


class GenerationCancelled(KithError):
    """The user pressed stop while the model was generating."""

    status = 409
    code = "cancelled"


class ConfigError(KithError):
    """A setting is unknown or has a bad value; the message names the key and where it came from."""

    status = 400
    code = "config_error"


class BackendError(KithError):
    """The model backend failed; the message says why and how to fix it."""

    status = 502
    code = "backend_error"


class BackendTimeout(BackendError):
    """The model backend did not answer in time."""

    status = 504
    code = "backend_timeout"


class BackendUnavailable(BackendError):
    """The model backend cannot be reached or loaded (server down, model file missing)."""

    status = 503
    code = "backend_unavailable"


class BackendAuthError(BackendError):
    """The model server refused the API key (HTTP 401/403)."""

    status = 502
    code = "backend_auth"


class ModelOutputInvalid(BackendError):
    """The model's output did not match the expected JSON schema, even after one repair attempt."""

    status = 502
    code = "model_output_invalid"


class CardInvalid(KithError):
    """A character card file is malformed or hostile; the message names what is wrong with it."""

    status = 422
    code = "card_invalid"


class SnapshotFailed(KithError):
    """A snapshot could not be written (the message says why); the log is untouched."""

    status = 500
    code = "snapshot_failed"


def _plural(n: Any, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


_PLAIN: dict[str, Any] = {
    "string_too_short": lambda c: "cannot be empty" if c.get("min_length") == 1
    else f"needs at least {_plural(c.get('min_length'), 'character', 'characters')}",
    "string_too_long": lambda c: f"can be at most {_plural(c.get('max_length'), 'character', 'characters')}",
    "too_short": lambda c: f"needs at least {_plural(c.get('min_length'), 'item', 'items')}",
    "too_long": lambda c: f"can have at most {_plural(c.get('max_length'), 'item', 'items')}",
    "greater_than_equal": lambda c: f"must be {c.get('ge')} or more",
    "less_than_equal": lambda c: f"must be {c.get('le')} or less",
    "greater_than": lambda c: f"must be more than {c.get('gt')}",
    "less_than": lambda c: f"must be less than {c.get('lt')}",
    "int_parsing": lambda c: "must be a whole number",
    "int_type": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "float_parsing": lambda c: "must be a number",
    "float_type": lambda c: "must be a number",
    "bool_parsing": lambda c: "must be true or false",
    "bool_type": lambda c: "must be true or false",
    "string_type": lambda c: "must be text",
    "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be an object",
    "literal_error": lambda c: f"must be one of {c.get('expected')}",
    "enum": lambda c: f"must be one of {c.get('expected')}",
    "string_pattern_mismatch": lambda c: "may use only lower-case letters, digits, - and _"
    if "a-z0-9_-" in str(c.get("pattern", "")) else "has characters that are not allowed here",
}


def plain_rule(err: dict[str, Any]) -> str:
    """A validation rule in plain words ("cannot be empty"), not pydantic's phrasing
    ("String should have at least 1 character"); unknown kinds keep pydantic's message."""
    make = _PLAIN.get(str(err.get("type")))
    if make is not None:
        return str(make(err.get("ctx") or {}))
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")
