"""Malformed, oversized and hostile card files (§3.4, §12.3): a clear 4xx error, never a crash."""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.cards import MAX_CARD_BYTES, MAX_CHUNKS, MAX_DECOMPRESSED_BYTES, parse_card
from chat.errors import CardInvalid, PayloadTooLarge
from chat.tests.test_cards import (
    PNG_SIG,
    b64,
    chunk,
    dumps,
    itext,
    lorebook,
    png,
    text,
    tiny_image_chunks,
    v1_card,
    v2_card,
    ztext,
)


def _with_data(**changes: object) -> bytes:
    card = v2_card()
    card["data"].update(changes)
    return dumps(card)


def _bomb_z() -> bytes:
    payload = zlib.compress(b"\0" * (MAX_DECOMPRESSED_BYTES + 1024), 9)
    return png(chunk(b"zTXt", b"chara\0\0" + payload))


def _bomb_i() -> bytes:
    payload = zlib.compress(b"A" * (MAX_DECOMPRESSED_BYTES * 2), 9)
    return png(chunk(b"iTXt", b"ccv3\0\1\0\0\0" + payload))


def _bad_crc() -> bytes:
    good = text("chara", b64(v2_card()))
    broken = good[:-4] + bytes([good[-4] ^ 0xFF]) + good[-3:]
    return png(broken)


def _huge_claim() -> bytes:
    claim = struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"chara\0AAAA"
    return PNG_SIG + tiny_image_chunks()[0] + claim


def _too_many_chunks() -> bytes:
    filler = chunk(b"tIMe", b"\0" * 7) * (MAX_CHUNKS + 5)
    return png(filler, text("chara", b64(v2_card())))


def _deep_json() -> bytes:
    return b'{"name": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _huge_avatar() -> bytes:
    noise = chunk(b"IDAT", os.urandom(2_400_000))
    return png(noise, text("chara", b64(v2_card())))


CASES: dict[str, tuple[Callable[[], bytes], type[Exception], str]] = {
    "empty": (lambda: b"", CardInvalid, "empty"),
    "not a card": (lambda: b"GIF89a\x01\x00garbage", CardInvalid, "expected a PNG image or a JSON"),
    "json list": (lambda: b"[1, 2]", CardInvalid, "must be an object"),
    "bad json": (lambda: b'{"name": "x",', CardInvalid, "not valid JSON"),
    "bad utf-8": (lambda: b'{"name": "\xff"}', CardInvalid, "not valid UTF-8"),
    "nan": (lambda: b'{"name": "x", "talk": NaN}', CardInvalid, "NaN"),
    "infinite float": (lambda: b'{"name": "x", "n": 1e999}', CardInvalid, "out of range"),
    "huge integer": (lambda: b'{"name": "x", "n": ' + b"9" * 5000 + b"}", CardInvalid, "not valid JSON"),
    "lone surrogate": (lambda: b'{"name": "\\ud800"}', CardInvalid, "surrogate"),
    "deep nesting": (_deep_json, CardInvalid, "nested too deeply"),
    "moderate nesting": (lambda: b'{"name": "x", "d": ' + b"[" * 900 + b"]" * 900 + b"}", CardInvalid, "more than 64 levels"),
    "missing name": (lambda: dumps({"description": "no name"}), CardInvalid, "no name"),
    "blank name": (lambda: _with_data(name="   "), CardInvalid, "no name"),
    "name not text": (lambda: _with_data(name=["x"]), CardInvalid, "name must be text"),
    "name too long": (lambda: _with_data(name="x" * 81), CardInvalid, "name"),
    "unknown spec": (lambda: dumps({"spec": "chara_card_v9", "data": {}}), CardInvalid, "unknown card spec"),
    "data not object": (lambda: dumps({"spec": "chara_card_v2", "data": "x"}), CardInvalid, "data must be an object"),
    "description number": (lambda: _with_data(description=5), CardInvalid, "description must be text"),
    "greetings not list": (lambda: _with_data(alternate_greetings="hi"), CardInvalid, "alternate_greetings must be a list"),
    "greeting not text": (lambda: _with_data(alternate_greetings=["hi", 7]), CardInvalid, "alternate_greetings"),
    "extensions not object": (lambda: _with_data(extensions=[1]), CardInvalid, "extensions must be an object"),
    "book not object": (lambda: _with_data(character_book=[1]), CardInvalid, "character_book must be an object"),
    "entries not list": (lambda: _with_data(character_book={"entries": 3}), CardInvalid, "entries must be a list"),
    "entry not object": (lambda: _with_data(character_book={"entries": ["x"]}), CardInvalid, "entries[0] must be an object"),
    "entry bad keys": (
        lambda: _with_data(character_book={**lorebook(), "entries": [{"keys": [1], "content": "c"}]}),
        CardInvalid, "lore",
    ),
    "png without card": (lambda: png(), CardInvalid, "no character card"),
    "png truncated": (lambda: png(text("chara", b64(v2_card())))[:-30], CardInvalid, "truncated"),
    "png bad crc": (_bad_crc, CardInvalid, "bad CRC"),
    "png huge chunk claim": (_huge_claim, CardInvalid, "runs past the end"),
    "png too many chunks": (_too_many_chunks, CardInvalid, "more than"),
    "png first chunk not IHDR": (lambda: PNG_SIG + chunk(b"tEXt", b"chara\0x") + chunk(b"IEND", b""), CardInvalid, "IHDR"),
    "png bad chunk type": (lambda: PNG_SIG + tiny_image_chunks()[0] + chunk(b"t\0Xt", b""), CardInvalid, "invalid type"),
    "png bad base64": (lambda: png(text("chara", b"!!!not base64!!!")), CardInvalid, "not valid base64"),
    "png base64 of junk": (lambda: png(text("chara", b"aGVsbG8gd29ybGQ=")), CardInvalid, "tEXt 'chara' is not valid JSON"),
    "png base64 of list": (lambda: png(text("ccv3", b"WzEsMl0=")), CardInvalid, "must be a JSON object, not a list"),
    "png corrupt zlib": (lambda: png(chunk(b"zTXt", b"chara\0\0not zlib at all")), CardInvalid, "corrupt compressed"),
    "png truncated zlib": (
        lambda: png(chunk(b"zTXt", b"chara\0\0" + zlib.compress(b64(v2_card()))[:-8])),
        CardInvalid, "truncated compressed",
    ),
    "png ztxt bomb": (_bomb_z, PayloadTooLarge, "decompression bomb"),
    "png itxt bomb": (_bomb_i, PayloadTooLarge, "decompression bomb"),
    "png itxt malformed": (lambda: png(chunk(b"iTXt", b"chara\0\0\0no-terminators")), CardInvalid, "malformed"),
    "png avatar too big": (_huge_avatar, PayloadTooLarge, "shrink the image"),
    "oversized file": (lambda: b"{" + b" " * MAX_CARD_BYTES + b"}", PayloadTooLarge, "limit"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_card_gets_a_clear_error(name: str) -> None:
    make, error, fragment = CASES[name]
    with pytest.raises(error) as caught:
        parse_card(make(), filename="evil.card")
    exc = caught.value
    assert fragment in exc.message
    assert exc.message.startswith("evil.card: ")
    assert 400 <= exc.status < 500
    assert exc.to_dict()["error"]["field"] is not None


def test_error_codes_and_statuses() -> None:
    with pytest.raises(CardInvalid) as invalid:
        parse_card(b"[]")
    assert (invalid.value.status, invalid.value.code) == (422, "card_invalid")
    with pytest.raises(PayloadTooLarge) as large:
        parse_card(b" " * (MAX_CARD_BYTES + 1))
    assert large.value.status == 413


def test_bomb_is_refused_without_inflating_it_all() -> None:
    """The inflater stops at the limit: a 128 MiB bomb is refused as fast as a small one."""
    inflater = zlib.compressobj(9)
    parts = [inflater.compress(b"\0" * (1 << 20)) for _ in range(128)]
    payload = b"".join(parts) + inflater.flush()
    assert len(payload) < MAX_CARD_BYTES
    with pytest.raises(PayloadTooLarge, match="decompression bomb"):
        parse_card(png(chunk(b"zTXt", b"chara\0\0" + payload)))


def test_junk_after_iend_and_odd_keyword_case_are_tolerated() -> None:
    data = png(text("Chara", b64(v1_card()))) + b"trailing junk"
    assert parse_card(data)["name"] == "Captain Iris"


def test_card_json_with_bom_is_read() -> None:
    assert parse_card(b"\xef\xbb\xbf" + json.dumps(v1_card()).encode())["name"] == "Captain Iris"


def test_non_latin_card_text_survives() -> None:
    card = v2_card()
    card["data"]["name"] = "Ирис 🌊"
    assert parse_card(png(itext("chara", b64(card))))["name"] == "Ирис 🌊"


_VALID_PNG = png(ztext("ccv3", b64(v2_card())), text("chara", b64(v1_card())))
_VALID_JSON = dumps(v2_card())


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([_VALID_PNG, _VALID_JSON]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
    st.integers(min_value=0),
)
def test_corrupted_cards_only_ever_raise_card_errors(
    base: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    """Flip bytes and truncate a valid card: the result imports or gets a 4xx, never a crash."""
    data = bytearray(base)
    for position, value in flips:
        data[position % len(data)] = value
    data = data[: len(data) - cut % 64]
    try:
        payload = parse_card(bytes(data))
    except (CardInvalid, PayloadTooLarge) as exc:
        assert exc.message
    else:
        assert payload["name"]
