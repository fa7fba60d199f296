"""Writing a bot as a V2/V3 JSON card or a PNG card (§3.4).

The PNG is the bot's avatar when it is a PNG data URL, else a generated picture, with a
``ccv3`` chunk (base64 V3 JSON) and a ``chara`` chunk (base64 V2 JSON) for readers that
only know V2, both placed before IEND as SillyTavern does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from typing import Any, Literal

from chat.cards.avatar import generated_avatar
from chat.cards.mapping import card_data, outer_fields, v1_backfill
from chat.cards.png import read_chunks, text_chunk, with_text_chunks, write_png
from chat.errors import CardInvalid, PayloadTooLarge, ValidationFailed

CardFormat = Literal["v2", "v3", "png"]
FORMATS = ("v2", "v3", "png")
JSON_MEDIA_TYPE = "application/json"
PNG_MEDIA_TYPE = "image/png"
PNG_DATA_URL = "data:image/png;base64,"


def export_card(bot: dict[str, Any], fmt: CardFormat) -> tuple[bytes, str, str]:
    """Return ``(body, media_type, filename)`` for ``bot`` (as ``get_bot`` returns it).

    v2 -> ``chara_card_v2`` JSON, v3 -> ``chara_card_v3`` JSON, png -> the avatar (or a
    generated one) carrying a ``ccv3`` chunk and a ``chara`` V2 backfill. Fields the bot
    has not changed since import are written exactly as the original card had them.
    Raises ``ValidationFailed`` for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", field="format")
    stem = file_stem(bot)
    if fmt == "png":
        return card_png(bot), PNG_MEDIA_TYPE, f"{stem}.png"
    body = json.dumps(card_object(bot, fmt), ensure_ascii=False, indent=2).encode("utf-8")
    return body, JSON_MEDIA_TYPE, f"{stem}.{fmt}.json"


def card_object(bot: dict[str, Any], version: Literal["v2", "v3"]) -> dict[str, Any]:
    """The whole card object: the original top-level extras, spec, spec_version and data;
    a V2 card also carries the V1 fields at the top level, as SillyTavern writes them."""
    card = bot.get("card") or {}
    if version == "v3":
        spec = "chara_card_v3"
        original = card.get("spec_version")
        spec_version = original if card.get("spec") == spec and isinstance(original, str) else "3.0"
    else:
        spec, spec_version = "chara_card_v2", "2.0"
    data = card_data(bot, version)
    backfill = v1_backfill(data) if version == "v2" else {}
    return {
        **backfill,
        **outer_fields(bot),
        "spec": spec,
        "spec_version": spec_version,
        "data": data,
    }


def card_png(bot: dict[str, Any]) -> bytes:
    """The avatar PNG (or a generated one) with ``chara`` (V2) and ``ccv3`` (V3) chunks."""
    picture = avatar_png(bot)
    chunks = [
        text_chunk("chara", _b64_json(card_object(bot, "v2"))),
        text_chunk("ccv3", _b64_json(card_object(bot, "v3"))),
    ]
    return write_png(with_text_chunks(read_chunks(picture), {"chara", "ccv3"}, chunks))


def avatar_png(bot: dict[str, Any]) -> bytes:
    """The bot's avatar when it is a readable PNG data URL, else the generated picture."""
    avatar = bot.get("avatar")
    if isinstance(avatar, str) and avatar.startswith(PNG_DATA_URL):
        try:
            picture = base64.b64decode(avatar[len(PNG_DATA_URL):], validate=True)
            read_chunks(picture)
        except (binascii.Error, ValueError, CardInvalid, PayloadTooLarge):
            pass
        else:
            return picture
    return generated_avatar(bot.get("name") or "?")


def _b64_json(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def file_stem(bot: dict[str, Any]) -> str:
    """A safe file name stem: the bot id if it is a slug, else an ASCII form of the name."""
    raw = str(bot.get("id") or bot.get("name") or "bot")
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9_-]+", "-", folded.lower()).strip("-")[:64]
    return stem or "bot"
