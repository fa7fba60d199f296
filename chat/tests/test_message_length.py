"""A message too long for the model to answer is refused when posted or edited (§4.4, §8.2).

A newcomer pasted 20,000 characters: the API took it (202), and the turn could only fail
("the latest message needs 4008 tokens but only 3627 … are left"). Now the post is a 422
naming the text's size and the limit, nothing is stored, and the longest text the check
accepts is one the turn really answers: the boundary is found through the check itself
and then posted for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.errors import ValidationFailed
from chat.state.chats import get_chat
from chat.tests.api_support import (
    UPLOAD,
    api_log_end,
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    runtime_of,
)
from chat.turns.lore import scan_lore
from chat.turns.message_fit import answerers, cheap_fit, check_message_fits

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


async def test_an_edit_of_the_newest_message_into_an_over_long_text_is_refused_and_the_message_kept(
    data_dir: Path,
) -> None:
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        chat_id = await _setup(client)
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "Hello."})
        await runtime_of(app).wait_idle(chat_id)
        turn = (await client.get(f"/api/turns/{posted.json()['turn_id']}")).json()
        reply_id = turn["message_ids"][-1]  # the newest message: the bot's reply
        before = await api_log_end(client)
        edit = await client.patch(f"/api/messages/{reply_id}", json={"text": words(1500)})
        assert "too long for the model to answer" in assert_error(edit, 422, "text")["message"]
        assert await api_log_end(client) == before
        kept = (await client.get(f"/api/messages/{reply_id}")).json()["text"]
        assert kept != words(1500)
        fine = await client.patch(f"/api/messages/{reply_id}", json={"text": "Hello again."})
        assert fine.status_code == 200, fine.text


async def test_an_older_message_may_be_edited_long_and_a_deleted_one_says_it_was_deleted(data_dir: Path) -> None:
    """An older message can only drop out of a prompt, never block a reply; a deleted
    message's edit keeps its own error, whatever the text's length."""
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        chat_id = await _setup(client)
        first = (await client.post(f"/api/chats/{chat_id}/messages", json={"text": "Hello."})).json()
        await runtime_of(app).wait_idle(chat_id)
        edit = await client.patch(f"/api/messages/{first['message']['id']}", json={"text": words(1500)})
        assert edit.status_code == 200, edit.text
        second = (await client.post(f"/api/chats/{chat_id}/messages", json={"text": "Again."})).json()
        await runtime_of(app).wait_idle(chat_id)
        gone = second["message"]["id"]
        assert (await client.delete(f"/api/messages/{gone}")).status_code == 204
        edit = await client.patch(f"/api/messages/{gone}", json={"text": words(1500)})
        assert "was deleted" in assert_error(edit, 404)["message"]


def _card(name: str, **fields: Any) -> bytes:
    data = {"name": name, "description": "An engineer.", "personality": "", "scenario": "", "first_mes": "",
            "mes_example": "", "creator_notes": "", "system_prompt": "", "post_history_instructions": "",
            "alternate_greetings": [], "tags": [], "creator": "", "character_version": "", "extensions": {}}
    data.update(fields)
    return json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}).encode()


async def _import(client: httpx.AsyncClient, card: bytes, world: str | None = None) -> str:
    made = await client.post("/api/bots/import", files={"file": ("c.json", card)}, headers=UPLOAD,
                             params={"world": world} if world else None)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def _boundary(app: FastAPI, chat_id: str) -> int:
    """The most "!" the check accepts."""
    low, high = 1, 4000
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if await _fits(app, chat_id, "!" * mid) else (low, mid)
    return low


async def test_lore_with_a_probability_is_counted_as_if_every_roll_passed(data_dir: Path) -> None:
    """The turn rolls with its own id, which the check cannot know: a book of entries
    that pass 1 time in 100 leaves the message the room of a book whose entries always do."""

    def book(probability: int) -> dict[str, Any]:
        entries = [{"keys": ["x"], "content": f"fact{i} " + words(20), "constant": True, "enabled": True,
                    "insertion_order": 100, "id": i,
                    "extensions": {"position": 4, "depth": 0, "probability": probability, "useProbability": True}}
                   for i in range(8)]  # fmt: skip
        return {"entries": entries, "extensions": {}}

    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        rare = await make_chat(client, [await _import(client, _card("Ada", character_book=book(1)))])
        sure = await make_chat(client, [await _import(client, _card("Bea", character_book=book(100)))])
        assert await _boundary(app, rare["id"]) == await _boundary(app, sure["id"])
    entry = {"keys": ["x"], "content": "c", "constant": True, "probability": 0, "useProbability": True}
    assert scan_lore([entry], ["x"], seed="turn-1") == []  # the turn's own roll is unchanged
    assert [a.content for a in scan_lore([entry], ["x"], seed="turn-1", every_roll_passes=True)] == ["c"]


async def test_a_short_message_beside_long_card_inserts_is_refused_and_the_longest_accepted_answered(
    data_dir: Path,
) -> None:
    """A Character's Note and post-history instructions take room the byte bound must see:
    150 characters were accepted, and the turn failed."""
    fields = {"post_history_instructions": " ".join(["stay"] * 300),
              "extensions": {"depth_prompt": {"prompt": " ".join(["salt"] * 300), "depth": 4}}}  # fmt: skip
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        chat_id = (await make_chat(client, [await _import(client, _card("Ada", **fields))]))["id"]
        refused = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "!" * 150})
        assert "too long for the model to answer" in assert_error(refused, 422, "text")["message"]
        longest = await _boundary(app, chat_id)
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "!" * longest})
        assert posted.status_code == 202, posted.text
        await runtime_of(app).wait_idle(chat_id)
        turn = (await client.get(f"/api/turns/{posted.json()['turn_id']}")).json()
        assert turn["status"] == "completed", turn


async def test_only_the_bots_present_in_the_scene_count(data_dir: Path) -> None:
    """Bob, whose post-history instructions leave no room, is not in the scene: he cannot
    answer, so he refuses nothing."""
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        ada = await make_bot(client, name="Ada")
        bob = await _import(client, _card("Bob", post_history_instructions=words(550)), ada.get("world_id", "default"))
        chat_id = (await make_chat(client, [ada["id"], bob]))["id"]
        both = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "!" * 300})
        assert "Bob's card" in assert_error(both, 422, "text")["message"]
        scene = await client.put(f"/api/chats/{chat_id}/scene", json={"present": ["you", ada["id"]]})
        assert scene.status_code == 200, scene.text
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "!" * 300})
        assert posted.status_code == 202, posted.text
        await runtime_of(app).wait_idle(chat_id)
        turn = (await client.get(f"/api/turns/{posted.json()['turn_id']}")).json()
        assert turn["status"] == "completed", turn
        edit = await client.patch(f"/api/messages/{turn['message_ids'][-1]}", json={"text": "!" * 300})
        assert edit.status_code == 200, edit.text


async def test_an_everyday_message_needs_no_tokenizer(data_dir: Path) -> None:
    """The byte bound settles a short message beside a plain card; long inserts or a regex
    script send it to the full check."""
    async with running_app(make_settings(data_dir, context_length=CONTEXT)) as (app, client):
        plain = (await make_chat(client, [(await make_bot(client, name="Ada"))["id"]]))["id"]
        noted = await _import(client, _card("Bea", post_history_instructions=words(100)))
        scripts = [{"scriptName": "x", "findRegex": "/a/g", "replaceString": "aaaa", "placement": [1, 2]}]
        scripted = await _import(client, _card("Cy", extensions={"regex_scripts": scripts}))
        rt = runtime_of(app)

        def cheap(chat_id: str, text: str) -> bool:
            def run(conn: Any) -> bool:
                chat = get_chat(conn, chat_id)
                return cheap_fit(conn, chat, answerers(conn, chat), text, author_name="You",
                                 budget=CONTEXT - 200 - 16, context_length=CONTEXT, you="You")  # fmt: skip

            return rt._read_now(run)  # type: ignore[no-any-return]

        assert cheap(plain, "Hello.") and not cheap(plain, words(200))
        assert not cheap((await make_chat(client, [noted]))["id"], "Hello.")
        assert not cheap((await make_chat(client, [scripted]))["id"], "Hello.")


async def test_the_longest_accepted_message_is_answered_after_an_edge_moves(data_dir: Path) -> None:
    """A turn queued before this one may move an edge, and "likes them and trusts them"
    becomes "feels neutral about them and is unsure whether to trust them": the check
    leaves each relationship line that much room, so the message is still answered."""
    script = data_dir / "script.json"
    script.write_text(json.dumps({"rules": [{"match": "slowly", "reply": "Fine.", "delay_ms": 700}]}))
    async with running_app(make_settings(data_dir, context_length=CONTEXT, script_path=script)) as (app, client):
        chat_id = await _setup(client)
        warm = await client.patch("/api/edges/ada/you", json={"affinity": 30, "trust": 30, "label": "friend"})
        assert warm.status_code == 200, warm.text
        first = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "slowly"})
        assert first.status_code == 202, first.text  # its turn holds the chat's queue
        longest = await _boundary(app, chat_id)
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "!" * longest})
        assert posted.status_code == 202, posted.text
        cool = await client.patch("/api/edges/ada/you", json={"affinity": 0, "trust": 0})
        assert cool.status_code == 200, cool.text  # what the first turn's sentiment could do
        await runtime_of(app).wait_idle(chat_id)
        turns = [(await client.get(f"/api/turns/{r.json()['turn_id']}")).json() for r in (first, posted)]
        assert turns[0]["created_at"] <= turns[1]["created_at"]
        assert turns[1]["status"] == "completed", turns[1]
