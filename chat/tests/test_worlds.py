"""Worlds and personas end to end (§3.5, §3.6): the demo and an imported card live in two
worlds, and nothing of one is seen from the other — in prompts, retrieval, the state API —
with the real app, the real scripted backend and real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.demo import create_demo_world
from chat.tests.api_support import (
    UPLOAD,
    assert_error,
    log_end,
    make_settings,
    running_app,
    runtime_of,
    say,
)

pytestmark = pytest.mark.anyio

SALTMERE_WORDS = ("Saltmere", "Mara", "Tobias", "Isolde", "Teeth", "thick fog", "harbour pilot")

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Nell Brightwater",
        "description": "Nell runs a lighthouse-themed tea shop in a desert city.",
        "personality": "warm, teasing",
        "scenario": "The desert city of Qarth Amun during the spice festival.",
        "first_mes": "Nell slides a cup toward {{user}}. \"Mint or sage, {{user}}?\"",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {},
    },
}


def _write_script(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    return path


async def _import_card(client: httpx.AsyncClient, card: dict[str, Any] = CARD, **params: str) -> dict:
    response = await client.post(
        "/api/bots/import",
        params=params,
        files={"file": ("card.json", json.dumps(card).encode(), "application/json")},
        headers=UPLOAD,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _two_worlds(app: FastAPI, client: httpx.AsyncClient) -> tuple[dict, dict]:
    """The demo (Saltmere, with a turn that leaves memories) and the card in its own world."""
    demo = await create_demo_world(runtime_of(app))
    await say(app, client, demo["chat"]["id"], "Mara, the fog and the Teeth scare me. Tell me of the compass.")
    bot = await _import_card(client)
    return demo, bot


async def test_the_card_gets_its_own_world_and_no_prompt_of_its_chat_holds_saltmere(
    data_dir: Path,
) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        demo, bot = await _two_worlds(app, client)
        world = bot["world_id"]
        assert world == "nell-brightwater" and demo["chat"]["world_id"] == "saltmere"
        worlds = (await client.get("/api/worlds")).json()
        assert [(w["id"], w["name"]) for w in worlds] == [("saltmere", "Saltmere"), (world, "Nell Brightwater")]
        assert worlds[1]["scenario"] == CARD["data"]["scenario"]  # the card's scenario is its world's

        created = await client.post("/api/chats", json={"bot_ids": [bot["id"]], "world_id": world})
        assert created.status_code == 201, created.text
        chat = created.json()
        turns = []
        for text in ("Tell me about the fog, the reef, the Teeth and the compass.",
                     "Do you know Mara or Tobias or the harbour of Saltmere?"):
            turns.append(await say(app, client, chat["id"], text))
        assert all(t["status"] == "completed" for t in turns), turns

        prompts = []
        for t in turns:
            response = await client.get(f"/api/turns/{t['id']}/prompt")
            assert response.status_code == 200, response.text
            prompts.append(json.dumps(response.json(), ensure_ascii=False))
        system_prompts = " ".join(prompts)
        assert "Qarth Amun" in system_prompts  # the world's scenario reaches the prompt
        for text, prompt in zip(("fog", "Mara"), prompts, strict=True):
            assert text in prompt  # the user's own words are there, of course ...
        for prompt in prompts:  # ... but nothing of Saltmere's state: no facts, bots, memories
            shown = prompt.replace("Tell me about the fog, the reef, the Teeth and the compass.", "")
            shown = shown.replace("Do you know Mara or Tobias or the harbour of Saltmere?", "")
            shown = shown.replace("Mara or Tobias or the harbour of Saltmere", "")
            for word in SALTMERE_WORDS:
                assert word not in shown, (word, shown[:2000])

        # The state panel of the card's world shows only that world.
        entities = (await client.get("/api/entities", params={"world": world})).json()
        assert sorted(e["id"] for e in entities) == sorted(["you", bot["id"]])
        memories = (await client.get("/api/memories", params={"world": world})).json()
        assert memories and all(m["owner"] == bot["id"] and m["world_id"] == world for m in memories)
        found = (await client.get("/api/memories", params={"world": world, "q": "compass Teeth"})).json()
        assert all(m["world_id"] == world for m in found)
        facts = (await client.get("/api/world", params={"world": world})).json()
        assert "weather" not in facts["facts"] and [s["chat_id"] for s in facts["scenes"]] == [chat["id"]]
        edges = (await client.get("/api/edges", params={"world": world})).json()
        assert {(e["src"], e["dst"]) for e in edges} == {(bot["id"], "you")}
        chats = (await client.get("/api/chats", params={"world": world})).json()
        assert [c["id"] for c in chats] == [chat["id"]]
        in_world = (await client.get("/api/bots", params={"world": world})).json()
        assert [b["id"] for b in in_world] == [bot["id"]]

        # Saltmere is untouched and sees nothing of Nell.
        saltmere = (await client.get("/api/entities", params={"world": "saltmere"})).json()
        assert bot["id"] not in {e["id"] for e in saltmere} and "mara" in {e["id"] for e in saltmere}
        salt_memories = (await client.get("/api/memories", params={"world": "saltmere"})).json()
        assert salt_memories and all(m["world_id"] == "saltmere" for m in salt_memories)
        assert (await client.get("/api/world", params={"world": "saltmere"})).json()["facts"]["weather"] == "thick fog"


async def test_bad_worlds_and_cross_world_edits_are_404_and_append_nothing(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        _demo, bot = await _two_worlds(app, client)
        world = bot["world_id"]
        memory = (await client.get("/api/memories", params={"world": "saltmere"})).json()[0]
        end = log_end(data_dir)

        assert_error(await client.get("/api/entities", params={"world": "atlantis"}), 404, "world")
        # two worlds, none named: the one with the latest activity (the card's, just made)
        unnamed = (await client.get("/api/entities")).json()
        assert {e["world_id"] for e in unnamed} == {world}
        assert_error(await client.get("/api/chats", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.patch("/api/entities/mara", params={"world": world},
                                        json={"description": "x"}), 404, "id")
        assert_error(await client.patch(f"/api/memories/{memory['id']}", params={"world": world},
                                        json={"text": "x"}), 404, "id")
        assert_error(await client.delete(f"/api/memories/{memory['id']}", params={"world": world}), 404)
        assert_error(await client.patch("/api/edges/mara/you", params={"world": world},
                                        json={"affinity": 5}), 404)
        assert_error(await client.put("/api/world/weather", params={"world": "atlantis"},
                                      json={"value": "sun"}), 404, "world")
        assert_error(await client.delete("/api/world/weather", params={"world": world}), 404, "key")
        edit = {"target_type": "memory", "target_id": memory["id"], "field": "text", "value": "x",
                "world_id": world}
        assert_error(await client.post("/api/edits", json=edit), 404, "target_id")
        assert_error(await client.post("/api/chats", json={"bot_ids": [bot["id"]], "world_id": "atlantis"}),
                     404, "world_id")
        assert_error(await client.get("/api/persona", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.post("/api/worlds/atlantis/archive"), 404, "id")
        assert log_end(data_dir) == end

        # The same edit in the right world works.
        ok = await client.patch(f"/api/memories/{memory['id']}", params={"world": "saltmere"},
                                json={"importance": 9})
        assert ok.status_code == 200 and ok.json()["importance"] == 9


async def test_worlds_are_created_renamed_archived_and_restored(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        made = await client.post("/api/worlds", json={"name": "  Ember Isles ", "scenario": "Volcanoes."})
        assert made.status_code == 201, made.text
        assert made.json()["id"] == "ember-isles" and made.json()["name"] == "Ember Isles"
        assert_error(await client.post("/api/worlds", json={"name": "x", "id": "ember-isles"}), 409, "id")
        renamed = await client.patch("/api/worlds/ember-isles", json={"name": "Ash Isles"})
        assert renamed.json()["name"] == "Ash Isles"
        bot = await client.post("/api/bots", json={"name": "Kiri", "world_id": "ember-isles"})
        assert bot.status_code == 201, bot.text
        assert (await client.post("/api/worlds/ember-isles/archive")).json()["archived"] is True
        assert (await client.get("/api/worlds")).json() == []
        listed = (await client.get("/api/worlds", params={"include_archived": "true"})).json()
        assert [w["id"] for w in listed] == ["ember-isles"]
        end = log_end(_app.state.kith.data_dir)
        assert_error(await client.post("/api/chats", json={"bot_ids": ["kiri"], "world_id": "ember-isles"}),
                     409, "world_id")
        assert_error(await client.post("/api/worlds/ember-isles/archive"), 409, "id")
        assert log_end(_app.state.kith.data_dir) == end
        assert (await client.post("/api/worlds/ember-isles/restore")).json()["archived"] is False
        chat = await client.post("/api/chats", json={"bot_ids": ["kiri"]})  # the only world now
        assert chat.status_code == 201 and chat.json()["world_id"] == "ember-isles"


async def test_the_persona_names_you_in_prompts_prose_and_the_you_entity(data_dir: Path) -> None:
    script = _write_script(data_dir.parent / "script.json", [
        {"match": "agree", "reply": "Of course.\nWren: and I agree too"},
    ])
    async with running_app(make_settings(data_dir, script_path=script)) as (app, client):
        assert (await client.get("/api/persona")).json() == {"name": "You", "description": "", "scope": None}
        put = await client.put("/api/persona", json={"name": "Wren", "description": "A traveller."})
        assert put.status_code == 200 and put.json()["name"] == "Wren" and put.json()["scope"] == ""
        bot = await _import_card(client)
        world = bot["world_id"]
        you = (await client.get("/api/entities/you", params={"world": world})).json()
        assert (you["name"], you["description"]) == ("Wren", "A traveller.")
        chat = (await client.post("/api/chats", json={"bot_ids": [bot["id"]]})).json()
        first = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[0]
        assert first["text"] == 'Nell slides a cup toward Wren. "Mint or sage, Wren?"'
        turn = await say(app, client, chat["id"], "Do you agree?")
        prompt = json.dumps((await client.get(f"/api/turns/{turn['id']}/prompt")).json())
        assert "Never write what Wren" in prompt
        reply = (await client.get(f"/api/chats/{chat['id']}/messages")).json()[-1]
        assert reply["text"] == "Of course."  # the line written as Wren was cut (§4.8)

        # One world may give you another name; the others keep the global one.
        await client.post("/api/worlds", json={"name": "Elsewhere"})
        own = await client.put("/api/persona", json={"name": "Captain Ash", "world_id": "elsewhere"})
        assert own.json() == {"name": "Captain Ash", "description": "", "scope": "elsewhere"}
        assert (await client.get("/api/persona", params={"world": world})).json()["name"] == "Wren"
        cleared = await client.delete("/api/worlds/elsewhere/persona")
        assert cleared.json()["name"] == "Wren"


async def test_one_world_exports_and_imports_into_another_data_directory(data_dir: Path, tmp_path: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        _demo, bot = await _two_worlds(app, client)
        chat = (await client.post("/api/chats", json={"bot_ids": [bot["id"]], "world_id": bot["world_id"]})).json()
        turns = [await say(app, client, chat["id"], text) for text in ("A cup of sage, please.", "And a scone.")]
        why = [(await client.get(f"/api/turns/{turn['id']}/prompt")).json() for turn in turns]
        why = [[record["messages"] for record in records] for records in why]  # one record per reply
        assert all(records and all(records) for records in why)
        exported = await client.get(f"/api/worlds/{bot['world_id']}/export")
        assert exported.status_code == 200
        before = {path: (await client.get(path, params={"world": bot["world_id"]})).json()
                  for path in ("/api/entities", "/api/memories", "/api/edges")}
        text = exported.text
        assert "Saltmere" not in text and "mara" not in text
    other = tmp_path / "other"
    async with running_app(make_settings(other)) as (_app2, client2):
        await client2.post("/api/worlds", json={"name": "Mine"})
        imported = await client2.post("/api/worlds/import", files={"file": ("w.jsonl", text.encode(), "text/plain")},
                                      headers=UPLOAD)
        assert imported.status_code == 201, imported.text
        after = {path: (await client2.get(path, params={"world": bot["world_id"]})).json()
                 for path in ("/api/entities", "/api/memories", "/api/edges")}
        strip = ("first_event_id", "last_event_id", "updated_event_id", "event_id")
        for path, rows in before.items():
            assert [{k: v for k, v in r.items() if k not in strip} for r in after[path]] == [
                {k: v for k, v in r.items() if k not in strip} for r in rows
            ], path
        # "Why did it say that?" shows the same prompts: event ids are new in this directory.
        shown = [(await client2.get(f"/api/turns/{turn['id']}/prompt")).json() for turn in turns]
        assert [[record["messages"] for record in records] for records in shown] == why
        end = log_end(other)
        again = await client2.post("/api/worlds/import", files={"file": ("w.jsonl", text.encode(), "text/plain")},
                                   headers=UPLOAD)
        assert_error(again, 409, "world")
        broken = text.replace("sage", "mint", 1)
        assert_error(await client2.post("/api/worlds/import", headers=UPLOAD,
                                        files={"file": ("w.jsonl", broken.encode(), "text/plain")}), 422, "file")
        assert log_end(other) == end
