"""Character cards (§3.4): mapping, export, and import -> export -> import round trips.

Cards of every version are built here (no fixture files); PNGs are assembled with
struct/zlib independently of the code under test, so a bug in our writer cannot hide a
bug in our reader.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
import zlib
from typing import Any

import pytest

from chat.cards import export_card, parse_card
from chat.errors import ValidationFailed

PNG_SIG = b"\x89PNG\r\n\x1a\n"


# --- builders (shared with the other card tests) ----------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tiny_image_chunks(pixel: bytes = b"\x10\x20\x30") -> list[bytes]:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return [chunk(b"IHDR", ihdr), chunk(b"IDAT", zlib.compress(b"\0" + pixel))]


def png(*extra: bytes, pixel: bytes = b"\x10\x20\x30") -> bytes:
    """A 1x1 PNG with ``extra`` chunks between IDAT and IEND."""
    return PNG_SIG + b"".join(tiny_image_chunks(pixel)) + b"".join(extra) + chunk(b"IEND", b"")


def b64(obj: Any) -> bytes:
    return base64.b64encode(json.dumps(obj).encode("utf-8"))


def text(keyword: str, value: bytes) -> bytes:
    return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + value)


def ztext(keyword: str, value: bytes) -> bytes:
    return chunk(b"zTXt", keyword.encode("latin-1") + b"\0\0" + zlib.compress(value))


def itext(keyword: str, value: bytes, *, compressed: bool = False) -> bytes:
    body = zlib.compress(value) if compressed else value
    flag = b"\1\0" if compressed else b"\0\0"
    return chunk(b"iTXt", keyword.encode("latin-1") + b"\0" + flag + b"en\0\0" + body)


def png_card(card: dict[str, Any], keyword: str = "chara") -> bytes:
    return png(text(keyword, b64(card)))


def lorebook() -> dict[str, Any]:
    return {
        "name": "Harbour lore",
        "description": "Places and people of the harbour",
        "scan_depth": 4,
        "token_budget": 512,
        "recursive_scanning": False,
        "extensions": {"vendor": {"depth": 2}},
        "entries": [
            {
                "keys": ["lighthouse", "beacon"],
                "content": "The lighthouse has been dark for ten years.",
                "extensions": {"st": {"probability": 100}},
                "enabled": True,
                "insertion_order": 10,
                "case_sensitive": False,
                "name": "Lighthouse",
                "priority": 5,
                "id": 1,
                "comment": "key place",
                "selective": True,
                "secondary_keys": ["night"],
                "constant": False,
                "position": "before_char",
            },
            {
                "keys": ["Mara"],
                "content": "Mara runs the tavern.",
                "extensions": {},
                "enabled": False,
                "insertion_order": 20,
                "use_regex": False,
            },
        ],
    }


def v1_card() -> dict[str, Any]:
    return {
        "name": "Captain Iris",
        "description": "A retired sea captain who keeps the harbour lighthouse.",
        "personality": "gruff, loyal, superstitious",
        "scenario": "A stormy night at the harbour.",
        "first_mes": "*Iris looks up.* Another storm, {{user}}.",
        "mes_example": "<START>\n{{char}}: Tie it tight.\n<START>\n{{user}}: Hi\n{{char}}: Hmph.",
        "create_date": "2023-1-1",  # a key V1 tools add that no spec names
    }


def v2_data() -> dict[str, Any]:
    return {
        **{k: v for k, v in v1_card().items() if k != "create_date"},
        "personality": "She speaks little; when she does, it is about the sea.",
        "creator_notes": "Best with a slow burn.",
        "system_prompt": "Write as {{char}}.",
        "post_history_instructions": "Stay in character.",
        "alternate_greetings": ["The fog rolls in.", "A gull cries."],
        "character_book": lorebook(),
        "tags": ["sea", "drama"],
        "creator": "someone",
        "character_version": "1.2",
        "extensions": {
            "talkativeness": "0.8",
            "fav": False,
            "depth_prompt": {"prompt": "Smell of salt.", "depth": 4},
            "someapp": {"nested": [1, 2, {"deep": True}]},
        },
        "x_unknown_data_key": {"kept": "verbatim"},
    }


def v2_card() -> dict[str, Any]:
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": v2_data()}


def v3_card() -> dict[str, Any]:
    data = v2_data()
    data.update(
        {
            "nickname": "Cap",
            "creator_notes_multilingual": {"en": "Slow burn.", "de": "Langsam."},
            "source": ["https://example.invalid/iris"],
            "group_only_greetings": ["Iris nods at the group."],
            "creation_date": 1700000000,
            "modification_date": 1700000500,
            "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        }
    )
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data, "x_outer": 7}


def dumps(card: dict[str, Any]) -> bytes:
    return json.dumps(card).encode("utf-8")


def as_bot(payload: dict[str, Any], bot_id: str = "iris") -> dict[str, Any]:
    """What get_bot would return after the payload was appended and projected."""
    return {**copy.deepcopy(payload), "id": bot_id, "retired": False}


def without_spec(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the card's format markers removed, for cross-format comparisons."""
    out = copy.deepcopy(payload)
    for key in ("spec", "spec_version", "group_only_greetings"):
        out["card"].pop(key, None)
    return out


# --- mapping ------------------------------------------------------------------------


def test_v1_fields_map_to_bot_fields() -> None:
    bot = parse_card(dumps(v1_card()))
    assert bot["name"] == "Captain Iris"
    assert bot["persona"] == v1_card()["description"]
    assert bot["traits"] == ["gruff", "loyal", "superstitious"]
    assert bot["scenario"] == "A stormy night at the harbour." and bot["backstory"] == ""  # §3.4.1: not copied
    assert bot["kickoff_prose"] == "*Iris looks up.* Another storm, {{user}}."
    assert bot["voice_samples"] == ["{{char}}: Tie it tight.", "{{user}}: Hi\n{{char}}: Hmph."]
    assert bot["card"]["create_date"] == "2023-1-1"
    assert "spec" not in bot["card"]
    assert bot["avatar"] is None
    assert "id" not in bot


def test_prose_personality_goes_to_persona_and_card() -> None:
    bot = parse_card(dumps(v2_card()))
    personality = v2_data()["personality"]
    assert bot["traits"] == []
    assert bot["persona"].startswith(v2_data()["description"])
    assert personality in bot["persona"]
    assert bot["card"]["personality"] == personality


def test_v2_keeps_everything_without_a_home_in_card() -> None:
    bot = parse_card(dumps(v2_card()))
    card = bot["card"]
    assert card["spec"] == "chara_card_v2" and card["spec_version"] == "2.0"
    for key in ("creator_notes", "system_prompt", "post_history_instructions", "creator",
                "character_version", "x_unknown_data_key"):
        assert card[key] == v2_data()[key]
    assert card["extensions"] == v2_data()["extensions"]
    book_meta = {k: v for k, v in lorebook().items() if k != "entries"}
    assert card["character_book"] == book_meta
    assert bot["alternate_greetings"] == v2_data()["alternate_greetings"]
    assert bot["tags"] == ["sea", "drama"]
    assert bot["talkativeness"] == 0.8


def test_character_book_entries_become_lore_with_unknown_keys() -> None:
    lore = parse_card(dumps(v2_card()))["lore"]
    assert [entry["keys"] for entry in lore] == [["lighthouse", "beacon"], ["Mara"]]
    first, second = lore
    assert first["selective"] is True and first["secondary_keys"] == ["night"]
    assert first["priority"] == 5 and first["id"] == 1
    assert first["extensions"] == {"st": {"probability": 100}}
    assert second["enabled"] is False and second["use_regex"] is False
    assert second["insertion_order"] == 20


def test_v3_fields_kept_and_outer_keys_kept() -> None:
    bot = parse_card(dumps(v3_card()))
    card = bot["card"]
    assert card["spec"] == "chara_card_v3"
    for key in ("nickname", "creator_notes_multilingual", "source", "group_only_greetings",
                "creation_date", "modification_date", "assets"):
        assert card[key] == v3_card()["data"][key]
    assert card["outer"] == {"x_outer": 7}


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["v2", "v3"])
def test_v1_round_trips_through_json(fmt: str) -> None:
    first = parse_card(dumps(v1_card()))
    body, media_type, filename = export_card(as_bot(first), fmt)  # type: ignore[arg-type]
    assert media_type == "application/json" and filename == f"iris.{fmt}.json"
    second = parse_card(body)
    assert without_spec(second) == without_spec(first)
    exported = json.loads(body)["data"]
    for key, value in v1_card().items():
        assert exported[key] == value


def test_v2_round_trips_exactly_and_rebuilds_the_original() -> None:
    first = parse_card(dumps(v2_card()))
    body, _, _ = export_card(as_bot(first), "v2")
    assert parse_card(body) == first
    exported = json.loads(body)
    assert exported["spec"] == "chara_card_v2" and exported["spec_version"] == "2.0"
    original = v2_data()
    for key, value in original.items():
        if key != "character_book":
            assert exported["data"][key] == value, key
    book = exported["data"]["character_book"]
    for key, value in lorebook().items():
        if key != "entries":
            assert book[key] == value
    for got, want in zip(book["entries"], lorebook()["entries"], strict=True):
        assert {k: got[k] for k in want} == want


def test_v3_round_trips_exactly_and_rebuilds_the_original() -> None:
    first = parse_card(dumps(v3_card()))
    body, _, _ = export_card(as_bot(first), "v3")
    assert parse_card(body) == first
    exported = json.loads(body)
    assert exported["spec"] == "chara_card_v3" and exported["spec_version"] == "3.0"
    assert exported["x_outer"] == 7
    for key, value in v3_card()["data"].items():
        if key != "character_book":
            assert exported["data"][key] == value, key


@pytest.mark.parametrize(
    "make",
    [v1_card, v2_card, v3_card],
    ids=["v1", "v2", "v3"],
)
@pytest.mark.parametrize("fmt", ["v2", "v3"])
def test_cross_format_round_trip_keeps_every_bot_field(make: Any, fmt: str) -> None:
    first = parse_card(dumps(make()))
    second = parse_card(export_card(as_bot(first), fmt)[0])  # type: ignore[arg-type]
    third = parse_card(export_card(as_bot(second), fmt)[0])  # type: ignore[arg-type]
    assert without_spec(second) == without_spec(first)
    assert third == second  # stable once in the target format


@pytest.mark.parametrize("make", [v1_card, v2_card], ids=["v1", "v2"])
def test_png_chara_card_round_trips_through_png(make: Any) -> None:
    original = png_card(make())
    first = parse_card(original, filename="iris.png")
    assert first["avatar"] is not None and first["avatar"].startswith("data:image/png;base64,")
    body, media_type, filename = export_card(as_bot(first), "png")
    assert media_type == "image/png" and filename == "iris.png"
    second = parse_card(body)
    assert second["avatar"] == first["avatar"]
    assert without_spec(second) == without_spec(first)
    assert parse_card(export_card(as_bot(second), "png")[0]) == second


def test_v3_png_round_trips_exactly_and_keeps_the_picture() -> None:
    original = png(text("ccv3", b64(v3_card())), pixel=b"\xaa\xbb\xcc")
    first = parse_card(original)
    body = export_card(as_bot(first), "png")[0]
    assert parse_card(body) == first
    idat = tiny_image_chunks(b"\xaa\xbb\xcc")[1]
    assert idat in body  # the same image data, byte for byte
    picture = base64.b64decode(first["avatar"].split(",", 1)[1])
    assert b"chara" not in picture and b"ccv3" not in picture


def test_png_export_has_ccv3_and_chara_backfill() -> None:
    bot = parse_card(dumps(v3_card()))
    body = export_card(as_bot(bot), "png")[0]
    found = _text_chunks(body)
    assert set(found) >= {"chara", "ccv3"}
    v3 = json.loads(base64.b64decode(found["ccv3"]))
    v2 = json.loads(base64.b64decode(found["chara"]))
    assert v3["spec"] == "chara_card_v3" and v2["spec"] == "chara_card_v2"
    assert v2["data"]["nickname"] == "Cap"  # V3-only fields survive in the V2 backfill too


def _text_chunks(data: bytes) -> dict[str, bytes]:
    pos, found = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode()] = value
        pos += 12 + length
    return found


def test_ccv3_is_preferred_over_chara() -> None:
    v2 = v2_card()
    v2["data"]["name"] = "Old Name"
    data = png(text("chara", b64(v2)), text("ccv3", b64(v3_card())))
    assert parse_card(data)["name"] == "Captain Iris"


@pytest.mark.parametrize("encode", ["ztxt", "itxt", "itxt_compressed", "raw_json"])
def test_compressed_and_international_text_chunks_are_read(encode: str) -> None:
    payload = b64(v2_card())
    chunk_bytes = {
        "ztxt": lambda: ztext("chara", payload),
        "itxt": lambda: itext("chara", payload),
        "itxt_compressed": lambda: itext("chara", payload, compressed=True),
        "raw_json": lambda: itext("chara", json.dumps(v2_card(), ensure_ascii=False).encode()),
    }[encode]()
    assert parse_card(png(chunk_bytes))["name"] == "Captain Iris"


def test_generated_avatar_when_the_bot_has_none() -> None:
    bot = parse_card(dumps(v2_card()))
    body = export_card(as_bot(bot), "png")[0]
    assert body.startswith(PNG_SIG)
    again = parse_card(body)
    assert again["avatar"] is None  # a generated picture is not stored as the bot's avatar
    assert export_card(as_bot(bot), "png")[0] == body  # deterministic
    assert parse_card(export_card(as_bot(again), "png")[0]) == again


def test_edits_after_import_are_exported() -> None:
    bot = as_bot(parse_card(dumps(v2_card())))
    bot.update(
        persona="Rewritten persona.",
        traits=["stern", "kind"],
        voice_samples=["{{char}}: New line."],
        kickoff_prose="New opening.",
        tags=["edited"],
        talkativeness=0.25,
        backstory="A different past.",
        initial_relationship_to_you="old friend",
    )
    data = json.loads(export_card(bot, "v2")[0])["data"]
    assert data["description"] == "Rewritten persona."
    assert data["personality"] == "stern, kind"
    assert data["mes_example"] == "<START>\n{{char}}: New line."
    assert data["first_mes"] == "New opening."
    assert data["tags"] == ["edited"]
    assert data["extensions"]["talkativeness"] == "0.25"
    assert data["extensions"]["kith"] == {
        "backstory": "A different past.",
        "initial_relationship_to_you": "old friend",
    }
    again = parse_card(export_card(bot, "v2")[0])
    for key in ("persona", "traits", "voice_samples", "kickoff_prose", "tags", "talkativeness",
                "backstory", "initial_relationship_to_you"):
        assert again[key] == bot[key], key
    assert "kith" not in again["card"]["extensions"]


def test_authored_bot_without_a_card_exports() -> None:
    bot = {
        "id": "nell", "name": "Nell", "persona": "A baker.", "traits": ["warm", "early riser"],
        "voice_samples": ["Fresh bread!"], "backstory": "Grew up in the mill.",
        "initial_relationship_to_you": "neighbour", "kickoff_prose": "", "avatar": None,
        "tags": [], "talkativeness": 0.5, "alternate_greetings": [], "scenario": "",
        "lore": [{"keys": ["mill"], "content": "The mill burned."}], "card": {},
    }
    card = json.loads(export_card(bot, "v3")[0])
    assert card["spec"] == "chara_card_v3"
    data = card["data"]
    assert data["description"] == "A baker." and data["personality"] == "warm, early riser"
    assert data["scenario"] == "Grew up in the mill."
    assert data["character_book"]["entries"][0]["content"] == "The mill burned."
    assert data["group_only_greetings"] == []
    back = parse_card(export_card(bot, "v3")[0])
    for key in ("name", "persona", "traits", "voice_samples", "backstory",
                "initial_relationship_to_you"):
        assert back[key] == bot[key], key


def test_export_rejects_an_unknown_format() -> None:
    with pytest.raises(ValidationFailed, match="format must be one of"):
        export_card(as_bot(parse_card(dumps(v1_card()))), "v9")  # type: ignore[arg-type]


def test_unreadable_avatar_falls_back_to_a_generated_picture() -> None:
    bot = as_bot(parse_card(dumps(v1_card())))
    bot["avatar"] = "data:image/png;base64,bm90IGEgcG5n"
    body = export_card(bot, "png")[0]
    assert parse_card(body)["avatar"] is None


def test_sillytavern_style_backfill_is_not_duplicated_but_extras_are_kept() -> None:
    card = v2_card()
    card.update({k: card["data"][k] for k in ("name", "description", "first_mes")})
    card.update({"avatar": "none", "chat": "Iris - 2024", "talkativeness": "0.8"})
    bot = parse_card(dumps(card))
    # talkativeness repeats data.extensions.talkativeness, as SillyTavern writes it: a backfill
    assert bot["card"]["outer"] == {"avatar": "none", "chat": "Iris - 2024"}
    exported = json.loads(export_card(as_bot(bot), "v2")[0])
    assert exported["chat"] == "Iris - 2024"
    assert parse_card(json.dumps(exported).encode()) == bot


def test_a_v2_export_carries_the_v1_fields_at_the_top_level() -> None:
    bot = parse_card(dumps(v2_card()))
    exported = json.loads(export_card(as_bot(bot), "v2")[0])
    data = exported["data"]
    for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert exported[key] == data[key], key
    assert exported["creatorcomment"] == data["creator_notes"] and exported["tags"] == data["tags"]
    assert parse_card(json.dumps(exported).encode()) == bot
    v1_reader = {k: v for k, v in exported.items() if k not in ("spec", "spec_version", "data")}
    assert parse_card(json.dumps(v1_reader).encode())["name"] == bot["name"]
    assert "name" not in json.loads(export_card(as_bot(bot), "v3")[0])


def test_a_kith_backstory_without_a_scenario_round_trips() -> None:
    bot = {**parse_card(dumps(v2_card())), "backstory": "Raised by gulls.", "scenario": ""}
    exported = export_card(as_bot(bot), "v2")[0]
    assert json.loads(exported)["data"]["scenario"] == "Raised by gulls."  # SillyTavern sees it
    again = parse_card(exported)
    assert (again["backstory"], again["scenario"]) == ("Raised by gulls.", "")


def test_long_example_dialogue_blocks_import() -> None:
    block = "{{user}}: Tell me about the sea.\n{{char}}: " + "The waves remember. " * 250
    card = v2_card()
    card["data"]["mes_example"] = f"<START>\n{block}\n<START>\n{{{{char}}}}: Aye."
    bot = parse_card(dumps(card))
    assert len(bot["voice_samples"][0]) > 5000
    assert bot["voice_samples"][1] == "{{char}}: Aye."
