"""GET /api/chats/{id}/messages pages a long transcript (§11.1, §11.2): newest page by
default, `before` walks back, bad parameters are 422 naming them, a `before` that is no
message of the chat is 404 naming it, nothing is appended."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.tests.api_support import assert_error, log_end, make_settings, running_app
from chat.tests.long_chat import bot_text, build_long_chat, user_text

pytestmark = pytest.mark.anyio


async def test_pages_walk_back_from_the_newest_to_the_first_message(data_dir: Path) -> None:
    long = build_long_chat(data_dir, 1_000)
    async with running_app(make_settings(data_dir)) as (_app, client):
        url = f"/api/chats/{long.chat_id}/messages"
        newest = (await client.get(url)).json()
        assert len(newest) == 100
        assert newest[-1]["text"] == bot_text(499) and newest[0]["text"] == user_text(450)
        assert [m["event_id"] for m in newest] == sorted(m["event_id"] for m in newest)
        assert {"alternatives", "alt_index", "turn_id"} <= set(newest[0])

        seen = list(newest)
        while True:
            page = (await client.get(url, params={"before": seen[0]["id"], "limit": 300})).json()
            assert all(m["event_id"] < seen[0]["event_id"] for m in page)
            seen = page + seen
            if len(page) < 300:
                break
        assert len(seen) == long.messages
        assert seen[0]["text"] == long.first_text and seen[-1]["text"] == long.last_text
        assert len({m["id"] for m in seen}) == long.messages


async def test_bad_page_parameters_are_422_naming_the_field(data_dir: Path) -> None:
    long = build_long_chat(data_dir, 10)
    other = build_long_chat(data_dir, 4, chat_id="chat_other")
    async with running_app(make_settings(data_dir)) as (_app, client):
        url = f"/api/chats/{long.chat_id}/messages"
        before = log_end(data_dir)
        for params, field in (
            ({"limit": "0"}, "limit"),
            ({"limit": "100001"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"before": ""}, "before"),
        ):
            assert_error(await client.get(url, params=params), 422, field)
        for anchor in ("msg_nobody", f"msg_{other.chat_id}_u0"):  # none, or of another chat
            assert_error(await client.get(url, params={"before": anchor}), 404, "before")
        assert_error(await client.get("/api/chats/nochat/messages"), 404)
        assert log_end(data_dir) == before
        one = (await client.get(url, params={"limit": 1})).json()
        assert [m["text"] for m in one] == [long.last_text]
