"""Character cards (§3.4): import Character Card V1/V2/V3 from JSON or PNG, export V2/V3/PNG.

The web app and the CLI use only these names:

* ``parse_card(data, filename=None)`` -> a validated ``bot_authored`` payload without ``id``
  (the caller picks a unique slug); raises ``CardInvalid`` (422) or ``PayloadTooLarge`` (413).
* ``export_card(bot, fmt)`` -> ``(bytes, media_type, filename)`` for ``fmt`` in v2, v3, png;
  ``bot`` is what ``chat.state.entities.get_bot`` returns.
* ``MAX_CARD_BYTES`` and the PNG limits, so the upload route can refuse a body early.

Pillow is deliberately not used: the PNG chunk walker in ``png.py`` is small, strict and
bounded, which is what hostile input needs.
"""

from __future__ import annotations

from chat.cards.export import export_card
from chat.cards.limits import (
    MAX_CARD_BYTES,
    MAX_CHUNK_BYTES,
    MAX_CHUNKS,
    MAX_DECOMPRESSED_BYTES,
    MAX_JSON_BYTES,
)
from chat.cards.parse import parse_card

__all__ = [
    "MAX_CARD_BYTES",
    "MAX_CHUNKS",
    "MAX_CHUNK_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_JSON_BYTES",
    "export_card",
    "parse_card",
]
