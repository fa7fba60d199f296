"""Snapshot files over ``COMPRESS_OVER`` bytes are zstd-compressed (§10.4 keeps five
periodic snapshots of a world that can be hundreds of MB of JSON); readers tell the
kinds apart by their first bytes, so plain JSON, zstd and the gzip files older Kiths
wrote all load.

Why zstd with long-distance matching: a chat's observation memories repeat each
message's text, tens of MB after the ``messages`` table in the same JSON. gzip's 32 KB
window never sees the first copy; zstd with a window as large as the file (up to
``_MAX_WINDOW_LOG``) and long-distance matching stores the second copy as a reference.
Measured on a 30,000-message chat (docs/benchmarks.md, session 25): 10.3 MB with gzip
level 1, 4.95 MB with zstd level 3 and long matching, in less CPU time; the 100k-event
world of ``kith bench core`` 3.8 MB against 2.8 MB.
"""

from __future__ import annotations

import gzip
import zlib

import zstandard

from chat.errors import SnapshotInvalid

COMPRESS_OVER = 8 * 1024
"""A snapshot larger than this is written compressed; a smaller one (a world of a bot or
two, ~4 KB) stays plain JSON, readable by eye. The demo world's is already larger."""
LEVEL = 3
"""zstd level: level 1 is ~10% faster and ~7% larger on a long chat (session 25)."""
_MAX_WINDOW_LOG = 27
"""A window of up to 128 MB: the most ``zstd -d`` accepts without ``--long``, and the
compressor's extra memory while writing a world larger than that."""
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def packed(parts: list[bytes]) -> list[bytes]:
    """The parts to write for a snapshot whose bytes are ``parts``: zstd-compressed when
    large, part by part, so a large world's JSON is never joined into one string. The
    frame records its content size and a checksum of it, so a damaged file is refused."""
    size = sum(map(len, parts))
    if size <= COMPRESS_OVER:
        return parts
    window = min(max(size.bit_length(), zstandard.WINDOWLOG_MIN), _MAX_WINDOW_LOG)
    params = zstandard.ZstdCompressionParameters.from_level(
        LEVEL, window_log=window, enable_ldm=True, write_checksum=True, write_content_size=True
    )
    zs = zstandard.ZstdCompressor(compression_params=params).compressobj(size=size)
    return [*(zs.compress(part) for part in parts), zs.flush()]


def unpacked(raw: bytes, name: str) -> bytes:
    """A snapshot file's JSON, whether it was written compressed (zstd, or gzip by an
    older Kith) or not; SnapshotInvalid naming the file when a compressed one is damaged."""
    try:
        if raw[:4] == _ZSTD_MAGIC:
            return _unzstd(raw)
        if raw[:2] == _GZIP_MAGIC:
            return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise SnapshotInvalid(f"{name}: damaged compressed snapshot ({exc})") from None
    return raw


def _unzstd(raw: bytes) -> bytes:
    """One whole zstd frame's content; a cut or padded file is an error, not less data."""
    stream = zstandard.ZstdDecompressor(max_window_size=1 << _MAX_WINDOW_LOG).decompressobj()
    out = stream.decompress(raw)
    if not stream.eof:
        raise EOFError("the compressed stream ends early")
    if stream.unused_data:
        raise OSError(f"{len(stream.unused_data)} bytes after the compressed stream")
    return out
