"""SillyTavern chat files (§11.5): import with swipes and dates, export as ST JSONL and text,
round trip, and hostile files refused with the line named and nothing appended.

The fixtures follow SillyTavern 1.12's saveChat: a header line (user_name, character_name,
create_date, chat_metadata), then messages (name, is_user, is_system, send_date, mes,
extra, and for replies swipe_id, swipes, swipe_info).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.tests.api_support import (
    UPLOAD,
    assert_error,
    log_end,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    say,
)
from chat.tests.test_cards import v2_card
from chat.world.st_chat import MAX_LINE_BYTES, parse_date

pytestmark = pytest.mark.anyio


def header(name: str = "Ada") -> dict[str, Any]:
    return {"user_name": "Sam", "character_name": name, "create_date": "2024-9-28@01h02m36s",
            "chat_metadata": {"note_prompt": "", "tainted": False}}


def st_file(*messages: dict[str, Any], name: str = "Ada") -> bytes:
    return ("\n".join(json.dumps(line) for line in (header(name), *messages)) + "\n").encode()


GREETING = {"name": "Ada", "is_user": False, "is_system": False, "send_date": "September 28, 2024 1:02am",
            "mes": "Hello, {{user}}.", "extra": {}, "swipe_id": 0, "swipes": ["Hello, {{user}}."],
            "swipe_info": []}
USER = {"name": "Sam", "is_user": True, "is_system": False, "send_date": "September 28, 2024 1:03pm",
        "mes": "Tell me about the lighthouse.", "extra": {}}
REPLY = {"name": "Ada", "is_user": False, "is_system": False, "send_date": "2024-09-28T13:05:00.000Z",
         "mes": "It is dark now.", "extra": {}, "swipe_id": 1,
         "swipes": ["It burned for years.", "It is dark now.", "Ask Pell."],
         "swipe_info": [{"send_date": "2024-09-28T13:04:00.000Z", "extra": {}},
                        {"send_date": "2024-09-28T13:05:00.000Z", "extra": {}},
                        {"send_date": "2024-09-28T13:06:00.000Z", "extra": {}}]}


async def upload(client: httpx.AsyncClient, data: bytes, **form: Any) -> httpx.Response:
    return await client.post("/api/chats/import", files={"file": ("chat.jsonl", data)},
                             data=form, headers=UPLOAD)


async def hidden(client: httpx.AsyncClient, chat_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/chats/{chat_id}/messages?include_hidden=true&limit=1000")
    assert response.status_code == 200, response.text
    return response.json()


def test_send_dates_in_every_sillytavern_form() -> None:
    assert parse_date("June 19, 2023 2:20pm") == "2023-06-19T14:20:00.000000Z"
    assert parse_date("June 19, 2023 12:05am") == "2023-06-19T00:05:00.000000Z"
    assert parse_date("2024-7-12@01h31m37s") == "2024-07-12T01:31:37.000000Z"
    assert parse_date("2024-6-5 @14h 56m 50s 682ms") == "2024-06-05T14:56:50.682000Z"
    assert parse_date(1700000000000) == "2023-11-14T22:13:20.000000Z"
    assert parse_date("2024-09-28T13:05:00.000Z") == "2024-09-28T13:05:00.000000Z"
    assert parse_date("yesterday") is None and parse_date(None) is None


async def test_import_keeps_swipes_as_alternatives_and_dates(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        bot = await make_bot(client, name="Ada")
        response = await upload(client, st_file(GREETING, USER, REPLY))
        assert response.status_code == 201, response.text
        chat = response.json()
        assert chat["bot_ids"] == [bot["id"]] and chat["messages"] == 3
        shown = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert [(m["author"], m["text"]) for m in shown] == [
            (bot["id"], "Hello, {{user}}."), ("you", "Tell me about the lighthouse."), (bot["id"], "It is dark now.")
        ]
        assert [m["created_at"] for m in shown] == [
            "2024-09-28T01:02:00.000000Z", "2024-09-28T13:03:00.000000Z", "2024-09-28T13:05:00.000000Z"
        ]
        assert len(shown[2]["alternatives"]) == 3 and shown[2]["alt_index"] == 1
        every = await hidden(client, chat["id"])
        assert [m["text"] for m in every if m["alt_group"] == shown[2]["alt_group"]] == REPLY["swipes"]


async def test_export_as_sillytavern_and_reimport_is_identical(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, name="Ada")
        first = (await upload(client, st_file(GREETING, USER, REPLY))).json()
        exported = await client.get(f"/api/chats/{first['id']}/export?format=st")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/jsonl")
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert lines[0]["character_name"] == "Ada" and "create_date" in lines[0]
        assert lines[3]["mes"] == "It is dark now." and lines[3]["swipe_id"] == 1
        assert lines[3]["swipes"] == REPLY["swipes"] and lines[2]["is_user"] is True
        # the form SillyTavern 1.12's timestampToMoment reads ("2024-6-5 @14h 56m 50s 682ms")
        st_form = r"(\d{4})-(\d{1,2})-(\d{1,2}) @(\d{1,2})h (\d{1,2})m (\d{1,2})s (\d{1,3})ms"
        assert re.fullmatch(st_form, lines[3]["send_date"]), lines[3]["send_date"]
        assert lines[3]["send_date"] == "2024-9-28 @13h 5m 0s 0ms"
        second = (await upload(client, exported.content)).json()
        assert second["title"] == first["title"]

        def shape(messages: list[dict[str, Any]]) -> list[tuple]:
            return [(m["author"], m["text"], m["created_at"], m["chosen"], m["alt_index"], len(m["alternatives"]))
                    for m in messages]

        assert shape(await hidden(client, second["id"])) == shape(await hidden(client, first["id"]))
        again = await client.get(f"/api/chats/{second['id']}/export?format=st")
        assert again.text.splitlines()[1:] == exported.text.splitlines()[1:]


async def test_export_as_plain_text(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, name="Ada")
        chat = (await upload(client, st_file(GREETING, USER, REPLY), title="Harbour night")).json()
        text = (await client.get(f"/api/chats/{chat['id']}/export?format=txt")).text
        assert text.startswith("Harbour night\n")
        assert "Ada (2024-09-28 13:05):\nIt is dark now.\n" in text and "Ask Pell." not in text


async def test_the_chat_can_bring_its_character_card(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        card = json.dumps(v2_card()).encode()
        name = v2_card()["data"]["name"]
        reply = {**REPLY, "name": name}
        response = await client.post(
            "/api/chats/import",
            files={"file": ("chat.jsonl", st_file(USER, reply, name=name)), "card": ("card.json", card)},
            headers=UPLOAD,
        )
        assert response.status_code == 201, response.text
        bot = (await client.get(f"/api/bots/{response.json()['bot_ids'][0]}")).json()
        assert bot["name"] == name
        again = await client.post(
            "/api/chats/import",
            files={"file": ("chat.jsonl", st_file(USER, reply, name=name)), "card": ("card.json", card)},
            headers=UPLOAD,
        )
        assert again.status_code == 201 and again.json()["bot_ids"] == [bot["id"]]
        assert len((await client.get("/api/bots")).json()) == 1


async def test_a_chosen_bot_and_an_unknown_character(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        other = await make_bot(client, name="Bea")
        assert_error(await upload(client, st_file(USER, REPLY)), 404, "bot_id")
        response = await upload(client, st_file(USER, REPLY), bot_id=other["id"])
        assert response.status_code == 201 and response.json()["bot_ids"] == [other["id"]]


def _bad_line(line: str) -> bytes:
    return st_file(GREETING, USER) + line.encode() + b"\n"


HOSTILE = {
    "bad JSON": (_bad_line('{"name": "Ada", "mes": '), 422, "line 4: not valid JSON"),
    "not an object": (_bad_line("[1, 2]"), 422, "line 4: each line must be a JSON object"),
    "NaN": (_bad_line('{"mes": NaN}'), 422, "line 4"),
    "mes not text": (_bad_line('{"mes": 5}'), 422, "line 4: mes must be text"),
    "swipe_id out of range": (_bad_line('{"mes": "a", "swipes": ["a"], "swipe_id": 3}'), 422, "line 4: swipe_id"),
    "swipes not text": (_bad_line('{"mes": "a", "swipes": [1], "swipe_id": 0}'), 422, "line 4: swipes"),
    "huge line": (_bad_line('{"mes": "' + "x" * MAX_LINE_BYTES + '"}'), 413, "line 4 is"),
    "long message": (_bad_line('{"mes": "' + "x" * 40_001 + '"}'), 422, "line 4: a message"),
    "latin-1 bytes": (st_file(GREETING) + '{"mes": "caf\u00e9"}'.encode("latin-1") + b"\n", 422, "line 3: not valid UTF-8"),
    "utf-16": ('{"mes": "hi"}'.encode("utf-16"), 422, "UTF-16"),
    "empty": (b"\n\n", 422, "empty"),
    "a card, not a chat": (json.dumps(v2_card()).encode(), 422, "is a character card"),
    "a header-less object": (b'{"title": "x"}\n', 422, "line 1: not a SillyTavern chat"),
    "message without mes": (_bad_line('{"name": "Ada", "is_user": false}'), 422, "line 4: a message line needs mes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_files_are_refused_naming_the_line(data_dir: Path, case: str) -> None:
    data, status, fragment = HOSTILE[case]
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, name="Ada")
        before = log_end(data_dir)
        error = assert_error(await upload(client, data), status)
        assert fragment in error["message"], error
        assert log_end(data_dir) == before


async def test_alternate_greetings_are_offered_as_alternatives_of_the_opening(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        bot = await make_bot(client, name="Ada", kickoff_prose="Hi, {{user}}.",
                             alternate_greetings=["Oh, it's <USER>.", "{{char}} waves."])
        chat = (await client.post("/api/chats", json={"bot_ids": [bot["id"]]})).json()
        shown = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert [m["text"] for m in shown] == ["Hi, You."]
        assert len(shown[0]["alternatives"]) == 3 and shown[0]["alt_index"] == 0
        every = await hidden(client, chat["id"])
        assert [m["text"] for m in every] == ["Hi, You.", "Oh, it's You.", "Ada waves."]


async def test_the_transcript_pages_back_from_the_newest(data_dir: Path) -> None:
    lines = [{**USER, "mes": f"line {i}"} for i in range(250)]
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, name="Ada")
        chat = (await upload(client, st_file(*lines))).json()
        newest = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert [m["text"] for m in newest] == [f"line {i}" for i in range(150, 250)]
        older = (await client.get(f"/api/chats/{chat['id']}/messages",
                                  params={"before": newest[0]["id"], "limit": 120})).json()
        assert [m["text"] for m in older] == [f"line {i}" for i in range(30, 150)]
        assert_error(await client.get(f"/api/chats/{chat['id']}/messages", params={"before": "msg-nope"}), 404, "before")


async def test_a_kith_chat_survives_the_round_trip_to_the_microsecond(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        bot = await make_bot(client, name="Ada", kickoff_prose="Welcome.", alternate_greetings=["Hi."])
        chat = await make_chat(client, [bot["id"]], title="Native")
        await say(app, client, chat["id"], "How is the sea?")
        await say(app, client, chat["id"], "And the wind?")
        exported = await client.get(f"/api/chats/{chat['id']}/export?format=st")
        again = (await upload(client, exported.content)).json()
        assert again["title"] == "Native"

        def shape(messages: list[dict[str, Any]]) -> list[tuple]:
            return [(m["author"], m["text"], m["created_at"], m["alt_index"], len(m["alternatives"]))
                    for m in messages]

        first = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        second = (await client.get(f"/api/chats/{again['id']}/messages")).json()
        assert len(first) == 5 and shape(second) == shape(first)
        assert any(not m["created_at"].endswith("000Z") for m in first)  # real microseconds
