"""A generated avatar for bots that have none: the initials on a colour block.

Made with the stdlib (a 5x7 bitmap font scaled up, zlib-compressed rows) so exporting a
PNG card never needs an image library. The picture depends only on the name, so exports
are reproducible. A ``tEXt`` marker says the image is generated; importing such a card
leaves the bot's avatar empty instead of storing a picture Kith can redraw at any time.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
import zlib

from chat.cards.png import Chunk, text_chunk, write_png

SIZE = 256
SCALE = 16
GENERATED_KEYWORD = "kith_avatar"
GENERATED_VALUE = "generated"

_FONT_ROWS = {
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "?": "01110 10001 00001 00010 00100 00000 00100",
}
FONT: dict[str, list[str]] = {ch: rows.split() for ch, rows in _FONT_ROWS.items()}

_PALETTE = (
    (0x3B, 0x6E, 0xA5),
    (0x8E, 0x44, 0xAD),
    (0x16, 0xA0, 0x85),
    (0xC0, 0x39, 0x2B),
    (0xD3, 0x54, 0x00),
    (0x27, 0xAE, 0x60),
    (0x2C, 0x3E, 0x50),
    (0xB7, 0x95, 0x0B),
)


def initials(name: str) -> str:
    """Up to two letters or digits: the first of the first two words, ASCII-folded."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = ["".join(ch for ch in word if ch.isalnum()) for word in folded.split()]
    letters = [word[0].upper() for word in words if word][:2]
    return "".join(letters) or "?"


def background(name: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def generated_avatar(name: str) -> bytes:
    """A deterministic SIZE x SIZE RGB PNG: the bot's initials, white on a colour block."""
    text = initials(name)
    bg = bytes(background(name))
    fg = b"\xff\xff\xff"
    glyph_w, glyph_h, gap = 5 * SCALE, 7 * SCALE, SCALE
    total_w = len(text) * glyph_w + (len(text) - 1) * gap
    left = (SIZE - total_w) // 2
    top = (SIZE - glyph_h) // 2
    blank = b"\0" + bg * SIZE
    rows: list[bytes] = []
    for y in range(SIZE):
        font_row = (y - top) // SCALE
        if not 0 <= font_row < 7:
            rows.append(blank)
            continue
        pixels = [bg] * SIZE
        for index, ch in enumerate(text):
            bits = FONT.get(ch, FONT["?"])[font_row]
            x0 = left + index * (glyph_w + gap)
            for col, bit in enumerate(bits):
                if bit == "1":
                    for x in range(x0 + col * SCALE, x0 + (col + 1) * SCALE):
                        pixels[x] = fg
        rows.append(b"\0" + b"".join(pixels))
    ihdr = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return write_png(
        [
            Chunk(b"IHDR", ihdr),
            text_chunk(GENERATED_KEYWORD, GENERATED_VALUE),
            Chunk(b"IDAT", zlib.compress(b"".join(rows), 9)),
            Chunk(b"IEND", b""),
        ]
    )
