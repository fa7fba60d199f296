"""Size limits for card files (§12.3), in one place so the upload route can share them."""

from __future__ import annotations

MAX_CARD_BYTES = 8 * 1024 * 1024
"""Largest card file accepted, JSON or PNG (a big avatar plus a big lorebook fits)."""

MAX_CHUNKS = 1024
"""Most PNG chunks walked; a real image has a handful (plus IDAT runs)."""

MAX_CHUNK_BYTES = MAX_CARD_BYTES
"""Largest single chunk; bounded by the file limit anyway, stated for clarity."""

MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024
"""Most bytes one zTXt/iTXt chunk may inflate to (decompression bombs stop here)."""

MAX_JSON_BYTES = 6 * 1024 * 1024
"""Largest card JSON text after base64 decoding."""
