"""A card given to the chat import, or a chat given to the card import (§3.4, §11.5), is
refused as the wrong kind of file, naming the import it belongs to, and appends nothing.

A newcomer holding ``Mara.png`` and ``Mara.jsonl`` side by side picked the wrong button and
got "line 1: not valid UTF-8" or "card JSON is not valid JSON: Extra data at line 2": true,
but no help. Every file here is real: the PNG and JSON cards are the app's own exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chat.cards.png import read_chunks, with_text_chunks, write_png
from chat.tests.api_support import (
    UPLOAD,
    api_log_end,
    assert_error,
    make_bot,
    make_settings,
    running_app,
)

pytestmark = pytest.mark.anyio

CHAT = (
    json.dumps({"user_name": "Sam", "character_name": "Ada", "create_date": "2024-9-28@01h02m36s",
                "chat_metadata": {}}) + "\n"
    + json.dumps({"name": "Ada", "is_user": False, "send_date": "2024-09-28T13:05:00.000Z",
                  "mes": "Hello."}) + "\n"
).encode()


async def _card(client: httpx.AsyncClient, fmt: str) -> bytes:
    bot = await make_bot(client, name="Ada")
    response = await client.get(f"/api/bots/{bot['id']}/card", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize(("fmt", "filename"), [("png", "Ada.png"), ("v2", "Ada.json"), ("v3", "Ada.json")])
async def test_a_card_given_to_the_chat_import_says_it_is_a_card(
    data_dir: Path, fmt: str, filename: str
) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        card = await _card(client, fmt)
        before = await api_log_end(client)
        response = await client.post("/api/chats/import", files={"file": (filename, card)}, headers=UPLOAD)
        error = assert_error(response, 422, "file")
        assert "character card (Ada)" in error["message"] and "not a chat" in error["message"]
        assert "Import card" in error["message"], error
        assert await api_log_end(client) == before


async def test_a_card_on_one_line_is_still_a_card(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        card = json.dumps(json.loads(await _card(client, "v2"))).encode()  # no newlines
        response = await client.post("/api/chats/import", files={"file": ("a.jsonl", card)}, headers=UPLOAD)
        assert "character card (Ada)" in assert_error(response, 422, "file")["message"]


async def test_a_plain_picture_is_named_as_one(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        card = await _card(client, "png")
        # The same PNG with its card chunks cut: a picture, not a card.
        picture = write_png(with_text_chunks(read_chunks(card), {"chara", "ccv3"}, []))
        response = await client.post("/api/chats/import", files={"file": ("a.png", picture)}, headers=UPLOAD)
        assert "PNG image, not a SillyTavern chat" in assert_error(response, 422, "file")["message"]


@pytest.mark.parametrize("path", ["/api/bots/import", "/api/bots/import/check"])
async def test_a_chat_given_to_the_card_import_says_it_is_a_chat(data_dir: Path, path: str) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = await api_log_end(client)
        response = await client.post(path, files={"file": ("Ada.jsonl", CHAT)}, headers=UPLOAD)
        error = assert_error(response, 422, "file")
        assert error["message"].startswith("Ada.jsonl is a SillyTavern chat, not a character card")
        assert "Import chat" in error["message"], error
        assert await api_log_end(client) == before


async def test_a_broken_chat_keeps_its_own_error(data_dir: Path) -> None:
    """Only a file that is a card is called one: a broken chat still names its line."""
    async with running_app(make_settings(data_dir)) as (_app, client):
        broken = CHAT + b'{"name": "Ada", "mes": \n'
        response = await client.post("/api/chats/import", files={"file": ("a.jsonl", broken)}, headers=UPLOAD)
        assert assert_error(response, 422, "file")["message"].startswith("line 3: not valid JSON")
        card = await client.post("/api/bots/import", files={"file": ("a.json", b'{"name": ')}, headers=UPLOAD)
        assert "not valid JSON" in assert_error(card, 422, "file")["message"]


async def test_a_one_line_chat_is_not_called_a_card(data_dir: Path) -> None:
    """{"name", "mes"} is a broken chat message, though a flat V1 card reader takes it."""
    async with running_app(make_settings(data_dir)) as (_app, client):
        line = json.dumps({"name": "Ada", "is_user": False, "mes": 5}).encode()
        response = await client.post("/api/chats/import", files={"file": ("a.jsonl", line)}, headers=UPLOAD)
        message = assert_error(response, 422, "file")["message"]
        assert "character card" not in message and message.startswith("line 1"), message


async def test_a_one_line_card_over_the_line_limit_is_still_a_card(data_dir: Path) -> None:
    """A 5 MB card on one line passes a chat line's 4 MiB: it is named as a card all the same."""
    async with running_app(make_settings(data_dir)) as (_app, client):
        card = json.loads(await _card(client, "v2"))
        card["data"]["extensions"]["padding"] = "x" * 5_000_000
        big = json.dumps(card).encode()
        response = await client.post("/api/chats/import", files={"file": ("a.jsonl", big)}, headers=UPLOAD)
        assert "character card (Ada)" in assert_error(response, 422, "file")["message"]
