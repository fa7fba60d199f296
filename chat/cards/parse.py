"""Reading a card file (JSON or PNG, V1/V2/V3) into a ``bot_authored`` payload.

Everything here treats the file as hostile: size is checked before anything is decoded,
the PNG is walked by the strict reader in ``png``, base64 and JSON failures become a
``CardInvalid`` that names the chunk or position, and the result is validated against the
``bot_authored`` schema before the caller can append it. Nothing here touches the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from chat.cards.avatar import GENERATED_KEYWORD, GENERATED_VALUE
from chat.cards.fields import json_type
from chat.cards.limits import MAX_CARD_BYTES, MAX_JSON_BYTES
from chat.cards.mapping import card_to_bot
from chat.cards.png import (
    Chunk,
    is_png,
    read_chunks,
    text_keyword,
    text_value,
    with_text_chunks,
    write_png,
)
from chat.cards.sniff import CHAT_IMPORT_HINT, looks_like_chat
from chat.errors import CardInvalid, KithError, PayloadTooLarge, ValidationFailed
from chat.eventlog.schemas import validate_payload

CARD_KEYWORDS = ("ccv3", "chara")
"""PNG text keywords holding a card, in order of preference (§3.4: ccv3 wins)."""

AVATAR_MAX_CHARS = 3_000_000
MAX_JSON_DEPTH = 64
"""Real cards nest a handful of levels; deep nesting only serves to crash serialisers."""
PNG_DATA_URL = "data:image/png;base64,"
_PLACEHOLDER_ID = "card-import"
_BOT_TO_CARD_FIELD = {
    "persona": "description/personality",
    "traits": "personality",
    "backstory": "scenario",
    "scenario": "scenario",
    "kickoff_prose": "first_mes",
    "voice_samples": "mes_example",
    "lore": "character_book.entries",
}


def parse_card(data: bytes, *, filename: str | None = None) -> dict[str, Any]:
    """Return a validated ``bot_authored`` payload (without ``id``) for a card file.

    ``data`` is the whole file: JSON (V1 flat object, V2 ``chara_card_v2``, V3
    ``chara_card_v3``) or a PNG whose ``ccv3``/``chara`` text chunk holds base64 JSON
    (``ccv3`` preferred). ``filename`` only improves error messages. Fields with no home
    in the bot are kept verbatim under ``card`` so export loses nothing; a PNG's picture
    (without its card chunks) becomes ``avatar`` as a ``data:image/png;base64,`` URL.

    Raises ``CardInvalid`` (422) naming what is wrong, or ``PayloadTooLarge`` (413).
    """
    try:
        return _parse(data)
    except (CardInvalid, PayloadTooLarge) as exc:
        if isinstance(exc, CardInvalid) and _is_chat(data):
            named = f"{filename} is" if filename else "this is"
            raise CardInvalid(
                f"{named} a SillyTavern chat, not a character card: {CHAT_IMPORT_HINT}", field="file"
            ) from None
        if filename:
            raise type(exc)(f"{filename}: {exc.message}", field="file") from None
        raise type(exc)(exc.message, field="file") from None


def _is_chat(data: object) -> bool:
    return isinstance(data, bytes | bytearray | memoryview) and looks_like_chat(bytes(data))


def _parse(data: bytes) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CardInvalid("card must be given as bytes")
    data = bytes(data)
    if len(data) > MAX_CARD_BYTES:
        raise PayloadTooLarge(
            f"card file is {len(data):,} bytes; the limit is {MAX_CARD_BYTES:,} bytes"
        )
    if not data.strip():
        raise CardInvalid("card file is empty")
    avatar: str | None = None
    if is_png(data):
        card_text, avatar, label = _from_png(data)
        obj = decode_card_json(card_text, source=label)
    else:
        obj = decode_card_json(_json_text(data), source="card JSON")
    bot = card_to_bot(obj)
    bot["avatar"] = avatar
    return _validated(bot)


def _json_text(data: bytes) -> bytes:
    head = data.lstrip()[:1]
    if head.startswith(b"\xef") or head == b"{":
        return data
    if head == b"[":
        raise CardInvalid("card JSON must be an object, not a list")
    raise CardInvalid("not a character card: expected a PNG image or a JSON file")


def decode_card_json(raw: bytes, *, source: str) -> dict[str, Any]:
    """Decode UTF-8 JSON text into an object, refusing NaN, deep nesting and bad Unicode."""
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"{source} is {len(raw):,} bytes; the limit is {MAX_JSON_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardInvalid(f"{source} is not valid UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise CardInvalid(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise CardInvalid(f"{source} is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise CardInvalid(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CardInvalid(f"{source} must be a JSON object, not {json_type(obj)}")
    if _too_deep(obj, MAX_JSON_DEPTH):
        raise CardInvalid(f"{source} is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise CardInvalid(f"{source} holds an unpaired surrogate escape (invalid Unicode text)") from None
    return obj


def _too_deep(obj: Any, limit: int) -> bool:
    """Whether lists/objects nest deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a card")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _from_png(data: bytes) -> tuple[bytes, str | None, str]:
    """The card JSON of a PNG (ccv3 preferred over chara), its picture as a data URL, the chunk's label."""
    chunks = read_chunks(data)
    found: dict[str, Chunk] = {}
    generated = False
    for chunk in chunks:
        keyword = (text_keyword(chunk) or "").lower()
        if keyword in CARD_KEYWORDS and keyword not in found:
            found[keyword] = chunk
        elif keyword == GENERATED_KEYWORD and chunk.type == b"tEXt":
            generated = text_value(chunk) == GENERATED_VALUE
    chosen = next((found[k] for k in CARD_KEYWORDS if k in found), None)
    if chosen is None:
        raise CardInvalid("PNG holds no character card (no 'chara' or 'ccv3' text chunk)")
    label = f"PNG chunk {chosen.name} '{text_keyword(chosen)}'"
    text = text_value(chosen)
    # tEXt/zTXt hold Latin-1, iTXt UTF-8: encoding back gives the chunk's own bytes.
    encoding = "utf-8" if chosen.type == b"iTXt" else "latin-1"
    card_json = _unbase64(text, label, encoding)
    avatar = None
    if not generated:
        picture = write_png(with_text_chunks(chunks, set(CARD_KEYWORDS), []))
        avatar = PNG_DATA_URL + base64.b64encode(picture).decode("ascii")
        if len(avatar) > AVATAR_MAX_CHARS:
            raise PayloadTooLarge(
                f"the card's picture is {len(picture):,} bytes; Kith keeps avatars up to"
                f" {AVATAR_MAX_CHARS * 3 // 4:,} bytes - shrink the image and import again"
            )
    return card_json, avatar, label


_B64_SPACE = re.compile(r"\s+")


def _unbase64(text: str, label: str, encoding: str) -> bytes:
    """base64 text to bytes; raw JSON (some old tools skip the base64) is accepted as is."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped.encode(encoding)
    compact = _B64_SPACE.sub("", stripped)
    if len(compact) * 3 // 4 > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"{label} is larger than {MAX_JSON_BYTES:,} bytes of card JSON")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CardInvalid(f"{label} is not valid base64") from None


def _validated(bot: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = validate_payload("bot_authored", {**bot, "id": _PLACEHOLDER_ID})
    except ValidationFailed as exc:
        raise CardInvalid(_card_message(exc), field=exc.field) from None
    except KithError as exc:  # pragma: no cover - validate_payload raises only ValidationFailed here
        raise CardInvalid(exc.message) from None
    payload.pop("id", None)
    return payload


def _card_message(exc: ValidationFailed) -> str:
    message = exc.message.replace("invalid bot_authored:", "card does not fit a Kith bot:", 1)
    for field, card_field in _BOT_TO_CARD_FIELD.items():
        message = re.sub(rf"(?<![\w.]){field}(?=[.:])", f"{field} (card {card_field})", message)
    return message
