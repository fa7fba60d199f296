"""A small, strict PNG chunk reader and writer (stdlib only: struct and zlib).

Card files come from strangers, so every length is checked against what is left of the
file, every CRC is verified, the number of chunks is capped and compressed text is
inflated with a hard output limit (``zlib.decompressobj().decompress(data, max_length)``),
so a decompression bomb stops at ``MAX_DECOMPRESSED_BYTES`` instead of eating memory.
We never decode image data: only the chunk structure and the text chunks matter here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from chat.cards.limits import MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_DECOMPRESSED_BYTES
from chat.errors import CardInvalid, PayloadTooLarge

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
_MAX_PNG_LENGTH = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk: its four-letter type, its data and where it started in the file."""

    type: bytes
    data: bytes
    offset: int = 0

    @property
    def name(self) -> str:
        return self.type.decode("ascii")

    def encode(self) -> bytes:
        """The chunk as it goes in a file: length, type, data, CRC."""
        return make_chunk(self.type, self.data)


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def make_chunk(chunk_type: bytes, data: bytes) -> bytes:
    """Serialise one chunk with its big-endian length and CRC-32 over type and data."""
    crc = zlib.crc32(chunk_type + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def read_chunks(data: bytes) -> list[Chunk]:
    """Walk every chunk from the signature to IEND, checking bounds, types and CRCs.

    Raises ``CardInvalid`` naming the chunk and byte offset of the first problem.
    Bytes after IEND are ignored (some tools append junk there).
    """
    if not is_png(data):
        raise CardInvalid("not a PNG image: the file does not start with the PNG signature")
    chunks: list[Chunk] = []
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while True:
        if len(chunks) >= MAX_CHUNKS:
            raise CardInvalid(f"PNG has more than {MAX_CHUNKS} chunks; refusing to read further")
        if pos + 8 > end:
            raise CardInvalid(f"PNG is truncated: no IEND chunk (file ends at byte {end})")
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        if not (chunk_type.isascii() and chunk_type.isalpha()):
            raise CardInvalid(f"PNG chunk at byte {pos} has an invalid type {chunk_type!r}")
        label = chunk_type.decode("ascii")
        body_start = pos + 8
        body_end = body_start + length
        if body_end + 4 > end:
            raise CardInvalid(
                f"PNG chunk {label} at byte {pos} claims {length:,} bytes and runs past the end"
                " of the file (truncated or corrupt)"
            )
        if length > _MAX_PNG_LENGTH or length > MAX_CHUNK_BYTES:
            raise PayloadTooLarge(f"PNG chunk {label} at byte {pos} holds {length:,} bytes; too large")
        body = data[body_start:body_end]
        (crc,) = struct.unpack_from(">I", data, body_end)
        if crc != zlib.crc32(chunk_type + body) & 0xFFFFFFFF:
            raise CardInvalid(f"PNG chunk {label} at byte {pos} has a bad CRC (corrupt file)")
        if not chunks and chunk_type != b"IHDR":
            raise CardInvalid(f"PNG must start with an IHDR chunk, found {label}")
        chunks.append(Chunk(chunk_type, body, pos))
        pos = body_end + 4
        if chunk_type == b"IEND":
            return chunks


def write_png(chunks: list[Chunk]) -> bytes:
    """Serialise chunks (IHDR first, IEND last) into a PNG file."""
    return PNG_SIGNATURE + b"".join(chunk.encode() for chunk in chunks)


def text_keyword(chunk: Chunk) -> str | None:
    """The keyword of a tEXt/zTXt/iTXt chunk (Latin-1, as the PNG spec says), else None."""
    if chunk.type not in TEXT_TYPES:
        return None
    keyword, sep, _ = chunk.data.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        return None
    return keyword.decode("latin-1")


def text_value(chunk: Chunk) -> str:
    """Decode the text of a tEXt, zTXt or iTXt chunk, inflating with a hard size limit."""
    label = f"{chunk.name} '{text_keyword(chunk)}'"
    _, _, rest = chunk.data.partition(b"\0")
    if chunk.type == b"tEXt":
        return rest.decode("latin-1")
    if chunk.type == b"zTXt":
        if not rest or rest[0] != 0:
            raise CardInvalid(f"PNG chunk {label} uses an unknown compression method")
        return inflate(rest[1:], label).decode("latin-1")
    # iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text.
    if len(rest) < 2:
        raise CardInvalid(f"PNG chunk {label} is truncated")
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise CardInvalid(f"PNG chunk {label} is malformed (missing language or keyword field)")
    text = parts[2]
    if compressed:
        if method != 0:
            raise CardInvalid(f"PNG chunk {label} uses an unknown compression method")
        text = inflate(text, label)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardInvalid(f"PNG chunk {label} is not valid UTF-8 ({exc.reason})") from None


def inflate(data: bytes, label: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress a zlib stream to at most ``limit`` bytes, refusing bombs and truncation."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CardInvalid(f"PNG chunk {label} holds corrupt compressed data ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"PNG chunk {label} inflates to more than {limit} bytes (decompression bomb?)"
        )
    if not inflater.eof:
        raise CardInvalid(f"PNG chunk {label} holds a truncated compressed stream")
    return out


def text_chunk(keyword: str, text: str) -> Chunk:
    """A tEXt chunk; ``text`` must be Latin-1 (card chunks hold base64, which is ASCII)."""
    return Chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))


def with_text_chunks(chunks: list[Chunk], drop: set[str], add: list[Chunk]) -> list[Chunk]:
    """Remove text chunks whose keyword (case-insensitive) is in ``drop``; add ``add`` before IEND."""
    kept = [c for c in chunks if (text_keyword(c) or "").lower() not in drop]
    if not kept or kept[-1].type != b"IEND":
        raise CardInvalid("PNG has no IEND chunk")
    return [*kept[:-1], *add, kept[-1]]
