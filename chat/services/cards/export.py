"""Writing a bot as a V2/V3 JSON card or a PNG card."""

from __future__ import annotations

from typing import Any, Literal

CardFormat = Literal["v2", "v3", "png"]


def export_card(bot: dict[str, Any], fmt: CardFormat) -> tuple[bytes, str, str]:
    """Return ``(body, media_type, filename)`` for ``bot`` (as ``get_bot`` returns it).

    v2 -> ``chara_card_v2`` JSON, v3 -> ``chara_card_v3`` JSON, png -> the avatar (or a
    generated one) carrying a ``ccv3`` chunk and a ``chara`` V2 backfill. Raises
    ``ValidationFailed`` for an unknown format.
    """
    raise NotImplementedError
