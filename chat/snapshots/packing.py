"""Snapshot files over ``COMPRESS_OVER`` bytes are gzip-compressed (§10.4 keeps five
periodic snapshots of a world that can be hundreds of MB of JSON); readers tell the two
kinds apart by their first bytes, so both load."""

from __future__ import annotations

import gzip
import zlib

from chat.errors import SnapshotInvalid

COMPRESS_OVER = 64 * 1024
"""A snapshot larger than this is written gzip-compressed (level 1: the JSON of a long
chat shrinks ~5-10x at a few hundred MB/s); a smaller one stays plain JSON, readable by
eye. Readers tell them apart by the first bytes, so both kinds load."""
_GZIP_MAGIC = b"\x1f\x8b"


def packed(parts: list[bytes]) -> list[bytes]:
    """The parts to write for a snapshot whose bytes are ``parts``: gzip-compressed when
    large, part by part, so a large world's JSON is never joined into one string."""
    if sum(map(len, parts)) <= COMPRESS_OVER:
        return parts
    gz = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing, level 1
    return [*(gz.compress(part) for part in parts), gz.flush()]


def unpacked(raw: bytes, name: str) -> bytes:
    """A snapshot file's JSON, whether it was written compressed or not."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise SnapshotInvalid(f"{name}: damaged compressed snapshot ({exc})") from None
