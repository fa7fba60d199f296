"""Readable text for a pydantic validation error: the field and the rule (§3.3).

Kept apart from `schemas` (which re-exports ``describe_validation_error``) for size.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError


def describe_validation_error(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{loc}: {_rule(err)}")
    return f"invalid {what}: " + "; ".join(parts)


def _rule(err: dict[str, Any]) -> str:
    message = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    if err.get("type") == "missing":
        return "required field is missing"
    return re.sub(r"^Value error, ", "", message)


def _first_field(exc: ValidationError) -> str | None:
    errors = exc.errors()
    if not errors:
        return None
    return ".".join(str(p) for p in errors[0]["loc"]) or None
