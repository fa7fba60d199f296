"""The field transforms between a card and a bot, each paired with its inverse.

Import applies the forward transform (``personality`` -> traits, ``mes_example`` ->
voice samples...). Where the inverse would not give back the exact original text, the
original is kept in ``card`` and export writes it verbatim as long as the bot field still
equals what import derived from it; once the person edits the field, export writes the
edited value instead. That rule makes import -> export -> import exact and keeps edits.
"""

from __future__ import annotations

import math
import re
from typing import Any

from chat.errors import CardInvalid

PERSONALITY_LABEL = "Personality: "
PERSONA_SEPARATOR = "\n\n"
MAX_TRAITS = 30
MAX_TRAIT_CHARS = 60
MAX_TRAIT_WORDS = 4
MAX_TAGS = 50
DEFAULT_TALKATIVENESS = 0.5
DEFAULT_RELATIONSHIP = "stranger"

_START = re.compile(r"<START>", re.IGNORECASE)
_TRAIT_SPLIT = re.compile(r"[,;\n]")
_SENTENCE_MARK = re.compile(r"[.!?:\"()]")


def text_field(data: dict[str, Any], key: str, *, where: str = "card field") -> str:
    """A text field of the card: missing or null reads as ''; anything else but text is an error."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CardInvalid(f"{where} {key} must be text, not {json_type(value)}")
    return value


def text_list(data: dict[str, Any], key: str, *, where: str = "card field") -> list[str]:
    """A list-of-text field: missing or null reads as []; other shapes are an error."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CardInvalid(f"{where} {key} must be a list of text, not {json_type(value)}")
    return list(value)


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def split_traits(personality: str) -> list[str] | None:
    """Split a short comma/semicolon list into trait words, or None when it reads as prose."""
    items = [item.strip().rstrip(".").strip() for item in _TRAIT_SPLIT.split(personality)]
    items = [item for item in items if item]
    if not items or len(items) > MAX_TRAITS:
        return None
    for item in items:
        if (
            len(item) > MAX_TRAIT_CHARS
            or len(item.split()) > MAX_TRAIT_WORDS
            or _SENTENCE_MARK.search(item)
        ):
            return None
    return items


def traits_of(personality: str) -> list[str]:
    return split_traits(personality) or []


def join_traits(traits: list[str]) -> str:
    return ", ".join(traits)


def personality_in_persona(personality: str) -> str:
    """The text appended to the persona for a personality that traits cannot hold ('' if none)."""
    if not personality.strip() or split_traits(personality) is not None:
        return ""
    return PERSONALITY_LABEL + personality


def persona_of(description: str, personality: str) -> str:
    """description, plus the personality when it is prose, so the prompt never loses it."""
    extra = personality_in_persona(personality)
    if not extra:
        return description
    return f"{description}{PERSONA_SEPARATOR}{extra}" if description else extra


def description_of(persona: str, personality: str) -> str:
    """Undo ``persona_of``: the persona without the personality text import appended."""
    extra = personality_in_persona(personality)
    if not extra:
        return persona
    if persona == extra:
        return ""
    suffix = PERSONA_SEPARATOR + extra
    return persona[: -len(suffix)] if persona.endswith(suffix) else persona


def split_samples(mes_example: str) -> list[str]:
    """Example dialogue blocks: split on <START>, trimmed, empty ones dropped."""
    return [block.strip() for block in _START.split(mes_example) if block.strip()]


def join_samples(samples: list[str]) -> str:
    return "\n".join(f"<START>\n{sample}" for sample in samples)


def clean_tags(tags: list[str]) -> list[str]:
    """Tags as Kith keeps them: trimmed, non-empty, at most 60 chars, first 50, no repeats."""
    seen: list[str] = []
    for tag in tags:
        tag = tag.strip()[:MAX_TRAIT_CHARS].strip()
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:MAX_TAGS]


def talkativeness_of(value: Any) -> float:
    """SillyTavern stores talkativeness as text ("0.5"); read it as a number in 0..1."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TALKATIVENESS
    try:
        number = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TALKATIVENESS
    if not math.isfinite(number):
        return DEFAULT_TALKATIVENESS
    return min(1.0, max(0.0, number))


def talkativeness_text(value: float) -> str:
    """Written as text like SillyTavern does; ``repr`` keeps every digit so it reads back equal."""
    return repr(float(value))
