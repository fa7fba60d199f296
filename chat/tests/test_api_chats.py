"""HTTP API: chats, messages, turns, alternatives, rewind and the event stream (§4, §11.2),
with the scripted backend so every reply is exact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from chat.app import create_app
from chat.tests.api_support import (
    SSEReader,
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    runtime_of,
    say,
)
from chat.world.chats import MAX_MESSAGE_CHARS

pytestmark = pytest.mark.anyio

MESSAGE_KEYS = {"id", "chat_id", "author", "text", "created_at", "turn_id"}


async def _end(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/health")).json()["last_event_id"]


def _write_script(path: Path, rules: list[dict]) -> None:
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    stamp = path.stat().st_mtime + 1 if path.exists() else None
    if stamp:
        os.utime(path, (stamp, stamp))


async def test_chat_create_post_and_transcript(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada", kickoff_prose="Hello {{user}}, I am {{char}}.")
        chat = await make_chat(client, ["ada"], title="Tea")
        assert {k: chat[k] for k in ("title", "bot_ids")} == {"title": "Tea", "bot_ids": ["ada"]}
        assert isinstance(chat["id"], str)

        listed = (await client.get("/api/chats")).json()
        assert [c["id"] for c in listed] == [chat["id"]]
        detail = (await client.get(f"/api/chats/{chat['id']}")).json()
        assert detail["scene"]["present"] == ["you", "ada"]

        posted = await client.post(f"/api/chats/{chat['id']}/messages", json={"text": "hi there"})
        assert posted.status_code == 202, posted.text
        body = posted.json()
        assert set(body) == {"message", "turn_id"}
        assert body["message"]["text"] == "hi there" and body["message"]["author"] == "you"
        assert set(body["message"]) >= MESSAGE_KEYS

        await runtime_of(app).wait_idle(chat["id"])
        turn = (await client.get(f"/api/turns/{body['turn_id']}")).json()
        assert {"id", "chat_id", "status", "error", "message_ids"} <= set(turn)
        assert turn["status"] == "completed" and turn["error"] is None
        assert turn["chat_id"] == chat["id"] and len(turn["message_ids"]) == 1

        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert all(set(m) >= MESSAGE_KEYS for m in transcript)
        assert [(m["author"], m["text"]) for m in transcript] == [
            ("ada", "Hello You, I am Ada."),
            ("you", "hi there"),
            ("ada", "Ada heard you say: hi there"),
        ]
        assert transcript[2]["id"] == turn["message_ids"][0]

        prompt = await client.get(f"/api/turns/{body['turn_id']}/prompt")
        assert prompt.status_code == 200
        replies = [p for p in prompt.json() if p["purpose"] == "reply"]
        assert replies and replies[0]["bot_id"] == "ada"
        assert any("hi there" in m["content"] for m in replies[0]["messages"])


async def test_chat_errors(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        before = await _end(client)
        assert_error(await client.post("/api/chats", json={"bot_ids": ["ghost"]}), 404, "bot_ids")
        assert_error(await client.post("/api/chats", json={"bot_ids": []}), 422, "bot_ids")
        assert_error(await client.post("/api/chats", json={"title": "x"}), 422, "bot_ids")
        assert_error(await client.get("/api/chats/nochat"), 404)
        assert_error(await client.get("/api/chats/nochat/messages"), 404)
        assert_error(await client.post("/api/chats/nochat/messages", json={"text": "hi"}), 404)
        assert_error(await client.post(f"/api/chats/{chat['id']}/messages", json={}), 422, "text")
        assert_error(
            await client.post(f"/api/chats/{chat['id']}/messages", json={"text": ""}), 422, "text"
        )
        assert_error(
            await client.post(f"/api/chats/{chat['id']}/messages", json={"text": "x" * (MAX_MESSAGE_CHARS + 1)}),
            422,
            "text",
        )
        assert_error(await client.post(f"/api/chats/{chat['id']}/regenerate"), 409)
        assert_error(await client.get("/api/chats/nochat/stream"), 404)
        assert_error(await client.get("/api/turns/noturn"), 404)
        assert_error(await client.get("/api/turns/noturn/prompt"), 404)
        assert_error(await client.post("/api/turns/noturn/retry"), 404)
        assert_error(await client.post("/api/turns/noturn/cancel"), 404)
        assert_error(await client.get("/api/messages/nomsg"), 404)
        assert_error(await client.patch("/api/messages/nomsg", json={"text": "x"}), 404)
        assert_error(await client.delete("/api/messages/nomsg"), 404)
        assert_error(
            await client.post(f"/api/chats/{chat['id']}/rewind", json={"before_message_id": "m"}),
            404,
        )
        assert_error(await client.post(f"/api/chats/{chat['id']}/rewind", json={}), 422,
                     "before_message_id")
        assert await _end(client) == before


async def test_edit_delete_regenerate_choose(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], "first")
        reply_id = turn["message_ids"][0]

        regen = await client.post(f"/api/chats/{chat['id']}/regenerate")
        assert regen.status_code == 202, regen.text
        await runtime_of(app).wait_idle(chat["id"])
        regen_turn = (await client.get(f"/api/turns/{regen.json()['turn_id']}")).json()
        assert regen_turn["status"] == "completed"
        new_id = regen_turn["message_ids"][0]

        alts = (await client.get(f"/api/messages/{reply_id}/alternatives")).json()
        assert [a["id"] for a in alts] == [reply_id, new_id]
        assert [a["chosen"] for a in alts] == [False, True]

        chosen = await client.post(f"/api/messages/{reply_id}/choose")
        assert chosen.status_code == 200, chosen.text
        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert transcript[-1]["id"] == reply_id

        user_id = transcript[0]["id"]
        edited = await client.patch(f"/api/messages/{user_id}", json={"text": "first, edited"})
        assert edited.status_code == 200 and edited.json()["text"] == "first, edited"
        assert_error(await client.patch(f"/api/messages/{user_id}", json={"text": ""}), 422, "text")

        deleted = await client.delete(f"/api/messages/{user_id}")
        assert deleted.status_code == 204
        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert user_id not in [m["id"] for m in transcript]
        hidden = await client.get(
            f"/api/chats/{chat['id']}/messages", params={"include_hidden": "true"}
        )
        assert user_id in [m["id"] for m in hidden.json()]
        assert_error(await client.delete(f"/api/messages/{user_id}"), 404)


async def test_rewind_reverts_turns_and_marks_their_events(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        first = await say(app, client, chat["id"], "one")
        memories_after_one = (await client.get("/api/memories")).json()
        second = await say(app, client, chat["id"], "two")
        assert len((await client.get("/api/memories")).json()) > len(memories_after_one)

        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        two_id = next(m["id"] for m in transcript if m["text"] == "two")
        response = await client.post(
            f"/api/chats/{chat['id']}/rewind", json={"before_message_id": two_id}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"reverted_turn_ids": [second["id"]]}

        transcript = (await client.get(f"/api/chats/{chat['id']}/messages")).json()
        assert [m["text"] for m in transcript] == ["one", "Ada heard you say: one"]
        assert (await client.get("/api/memories")).json() == memories_after_one
        assert (await client.get(f"/api/turns/{second['id']}")).json()["status"] == "reverted"
        assert (await client.get(f"/api/turns/{first['id']}")).json()["status"] == "completed"

        events = (await client.get("/api/events", params={"limit": 1000})).json()
        of_second = [e for e in events if e["turn_id"] == second["id"]]
        assert of_second and all(e["reverted"] for e in of_second)
        assert not any(e["reverted"] for e in events if e["turn_id"] == first["id"])


async def test_failed_turn_retry_and_cancel(data_dir: Path) -> None:
    script = data_dir / "script.json"
    _write_script(
        script,
        [
            {"match": "explode", "error": "the model fell over"},
            {"match": "slowly", "delay_ms": 300},
        ],
    )
    async with running_app(make_settings(data_dir, script_path=script)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        failed = await say(app, client, chat["id"], "explode please")
        assert failed["status"] == "failed" and "fell over" in failed["error"]
        assert_error(await client.post(f"/api/turns/{failed['id']}/cancel"), 409)

        _write_script(script, [{"match": "slowly", "delay_ms": 300}])
        retried = await client.post(f"/api/turns/{failed['id']}/retry")
        assert retried.status_code == 202 and retried.json() == {"turn_id": failed["id"]}
        await runtime_of(app).wait_idle(chat["id"])
        turn = (await client.get(f"/api/turns/{failed['id']}")).json()
        assert turn["status"] == "completed"
        assert_error(await client.post(f"/api/turns/{failed['id']}/retry"), 409)

        slow = await client.post(f"/api/chats/{chat['id']}/messages", json={"text": "slowly now"})
        turn_id = slow.json()["turn_id"]
        cancelled = await client.post(f"/api/turns/{turn_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["turn_id"] == turn_id
        await runtime_of(app).wait_idle(chat["id"])
        turn = (await client.get(f"/api/turns/{turn_id}")).json()
        assert turn["status"] == "failed" and turn["message_ids"] == []


async def test_stream_sends_token_message_and_turn_events(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        async with SSEReader(app, f"/api/chats/{chat['id']}/stream") as stream:
            assert stream.status == 200
            assert stream.response_headers["content-type"].startswith("text/event-stream")
            posted = await client.post(
                f"/api/chats/{chat['id']}/messages", json={"text": "stream me"}
            )
            turn_id = posted.json()["turn_id"]
            seen = await stream.events_until(
                lambda event, data: event == "turn"
                and data["id"] == turn_id
                and data["status"] == "completed"
            )
        kinds = [event for event, _ in seen]
        assert {"token", "message", "turn", "state"} <= set(kinds)
        tokens = "".join(data["text"] for event, data in seen if event == "token")
        assert tokens == "Ada heard you say: stream me"
        stored = [data for event, data in seen if event == "message" and data["author"] == "ada"]
        assert stored and stored[-1]["text"] == "Ada heard you say: stream me"
        statuses = [(i, data["status"]) for i, (event, data) in enumerate(seen) if event == "turn"]
        running = next(i for i, status in statuses if status == "running")
        first_token = kinds.index("token")
        assert running < first_token < len(seen) - 1 and statuses[-1][1] == "completed"
        assert runtime_of(app).bus.subscriber_count == 0


async def test_stream_sends_keepalive_comments_and_ends_on_disconnect(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir), keepalive_s=0.05) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        async with SSEReader(app, f"/api/chats/{chat['id']}/stream") as stream:
            for _ in range(3):
                assert await stream.next_block(timeout=5) == (None, None)
            assert runtime_of(app).bus.subscriber_count == 1
        assert stream.comments.count("keep-alive") >= 2
        assert runtime_of(app).bus.subscriber_count == 0


async def test_stream_ends_when_the_app_stops(data_dir: Path) -> None:
    app = create_app(make_settings(data_dir))
    async with app.router.lifespan_context(app):
        rt = runtime_of(app)
        chat = await rt.create_chat([(await rt.author_bot({"name": "Ada"}))["id"]])
        stream = SSEReader(app, f"/api/chats/{chat['id']}/stream")
        await stream.__aenter__()
        assert stream.status == 200
    with pytest.raises(EOFError):
        while True:
            await stream.next_block(timeout=5)
    await stream.__aexit__()


def test_the_composer_leaves_the_message_limit_to_the_api() -> None:
    """One message limit, the API's (the UI and API once disagreed: 20000 vs 16000). The
    composer has no maxlength of its own: a browser cuts a longer paste without a word and
    the cut text would be sent; the API refuses it whole and the page keeps it."""
    index = Path(__file__).parents[1] / "app" / "static" / "index.html"
    composer = next(line for line in index.read_text().splitlines() if 'id="composer-input"' in line)
    assert "maxlength" not in composer
