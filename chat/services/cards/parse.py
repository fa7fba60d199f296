"""Reading a card file (JSON or PNG, V1/V2/V3) into a ``bot_authored`` payload."""

from __future__ import annotations

from typing import Any


def parse_card(data: bytes, *, filename: str | None = None) -> dict[str, Any]:
    """Return a validated ``bot_authored`` payload (without ``id``) for a card file.

    ``data`` is the whole file: JSON (V1 flat object, V2 ``chara_card_v2``, V3
    ``chara_card_v3``) or a PNG whose ``ccv3``/``chara`` text chunk holds base64 JSON
    (``ccv3`` preferred). ``filename`` only improves error messages. Fields with no home
    in the bot are kept verbatim under ``card`` so export loses nothing.

    Raises ``CardInvalid`` (422) naming what is wrong, or ``PayloadTooLarge`` (413).
    """
    raise NotImplementedError
