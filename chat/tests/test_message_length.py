"""A message too long for the model to answer is refused when posted or edited (§4.4, §8.2).

A newcomer pasted 20,000 characters: the API took it (202), and the turn could only fail
("the latest message needs 4008 tokens but only 3627 … are left"). Now the post is a 422
naming the text's size and the limit, nothing is stored, and the longest text the check
accepts is one the turn really answers: the boundary is found through the check itself
and then posted for real.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chat.errors import ValidationFailed
from chat.state.chats import get_chat
from chat.tests.api_support import (
    api_log_end,
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    runtime_of,
)
from chat.turns.message_fit import check_message_fits, may_not_fit

pytestmark = pytest.mark.anyio

CONTEXT = 1024


def words(n: int) -> str:
    return " ".join(["harbour"] * n)


async def _fits(app: FastAPI, chat_id: str, text: str) -> bool:
    rt = runtime_of(app)

    def check(conn: object) -> bool:
        try:
            check_message_fits(conn, get_chat(conn, chat_id), text, backend=rt.backend,  # type: ignore[arg-type]
                               reply_tokens=rt.settings.reply_max_tokens)
        except ValidationFailed:
            return False
        return True

    return await rt.read(check)


async def _setup(client: httpx.AsyncClient) -> str:
    bot = await make_bot(client, name="Ada")
    return (await make_chat(client, [bot["id"]]))["id"]


async def test_a_20000_character_message_is_refused_naming_its_size_and_the_limit(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        chat_id = await _setup(client)
        before = await api_log_end(client)
        response = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "x " * 10_000})
        error = assert_error(response, 422, "text")
        assert "20,000 characters" in error["message"], error
        assert "context of 4,096 tokens" in error["message"] and "at most" in error["message"], error
        assert await api_log_end(client) == before


async def test_the_longest_accepted_message_is_answered(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        chat_id = await _setup(client)
        low, high = 1, 2000  # words: low fits, high does not
        assert await _fits(app, chat_id, words(low)) and not await _fits(app, chat_id, words(high))
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if await _fits(app, chat_id, words(mid)) else (low, mid)
        too_long = await client.post(f"/api/chats/{chat_id}/messages", json={"text": words(high)})
        assert f"context of {CONTEXT:,} tokens" in assert_error(too_long, 422, "text")["message"]
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": words(low)})
        assert posted.status_code == 202, posted.text
        await runtime_of(app).wait_idle(chat_id)
        turn = (await client.get(f"/api/turns/{posted.json()['turn_id']}")).json()
        assert turn["status"] == "completed", turn
        assert turn["message_ids"], turn


async def test_an_edit_into_an_over_long_text_is_refused_and_the_message_kept(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        chat_id = await _setup(client)
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "Hello."})
        await runtime_of(app).wait_idle(chat_id)
        message_id = posted.json()["message"]["id"]
        before = await api_log_end(client)
        edit = await client.patch(f"/api/messages/{message_id}", json={"text": words(1500)})
        assert "too long for the model to answer" in assert_error(edit, 422, "text")["message"]
        assert await api_log_end(client) == before
        assert (await client.get(f"/api/messages/{message_id}")).json()["text"] == "Hello."
        fine = await client.patch(f"/api/messages/{message_id}", json={"text": "Hello again."})
        assert fine.status_code == 200, fine.text


async def test_only_a_long_text_is_checked(data_dir: Path) -> None:
    """The everyday message costs its byte length: no prompt frame, no tokenizer call."""
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, _client):
        rt = runtime_of(app)
        assert not may_not_fit("Hello.", backend=rt.backend, reply_tokens=200)
        assert may_not_fit(words(200), backend=rt.backend, reply_tokens=200)
        assert not may_not_fit(None, backend=rt.backend, reply_tokens=200)
