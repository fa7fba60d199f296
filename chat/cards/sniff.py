"""Telling a SillyTavern chat file from a character card, so a wrong door says which is right.

SillyTavern users hold both kinds of file side by side (``Mara.png`` and
``Mara - 2024-05-01.jsonl``) and pick the wrong one easily. A card given to the card
import that fails to parse is checked here: when it reads as a chat (JSON Lines whose
first line is a chat header or a message), the refusal says so and names the chat import
instead of reporting a JSON error at "line 2". The reverse check (a card given to the
chat import) lives with the chat reader, which may use ``parse_card`` itself.
"""

from __future__ import annotations

import json

CHAT_HEADER_KEYS = frozenset({"user_name", "character_name", "create_date", "chat_metadata"})
"""Keys of a SillyTavern chat file's first line (as ``chat.world.st_chat`` reads it)."""
_SNIFF_BYTES = 1024 * 1024
"""Only the first line is read, and only this much of the file."""

CHAT_IMPORT_HINT = "import it with Import chat… in the Chats list (or `kith import-chat`)"
CARD_IMPORT_HINT = "import it with Import card… in Bots (or `kith bots import`)"


def looks_like_chat(data: bytes) -> bool:
    """Whether ``data`` starts like a SillyTavern chat: its first non-blank line is a JSON
    object holding a chat header key or a message (``mes``)."""
    for raw in data[:_SNIFF_BYTES].split(b"\n"):
        if not raw.strip():
            continue
        try:
            first = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return False
        return isinstance(first, dict) and bool(CHAT_HEADER_KEYS & first.keys() or "mes" in first)
    return False
