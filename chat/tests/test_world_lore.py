"""Lore belongs to a world (§3.5, §8.1): a card's book imported into world W is W's; the lore
editor's API edits one world's book; prompts read only their chat's world's lore; a bot that
joins another world brings a copy of its card's own book, never another world's edits; card
export carries the book of the world asked for. Real app, scripted backend, real SQLite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.db.connection import open_db
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

LIGHTHOUSE = {"keys": ["lighthouse"], "content": "The lighthouse has been dark for ten years.",
              "name": "Lighthouse", "enabled": True, "insertion_order": 10, "extensions": {"depth": 4}}
KRAKEN = {"keys": ["kraken"], "content": "Sailors whisper of a kraken under the pier.",
          "name": "Kraken", "enabled": True, "insertion_order": 20, "extensions": {}}
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Old Pell", "description": "Keeper of the harbour light.", "personality": "gruff",
        "scenario": "A windswept cape.", "first_mes": "Pell nods.", "mes_example": "",
        "character_book": {"name": "Pell's book", "scan_depth": 4, "extensions": {},
                           "entries": [LIGHTHOUSE, KRAKEN]},
    },
}


async def _import(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.post(
        "/api/bots/import", params=params, headers=UPLOAD,
        files={"file": ("pell.json", json.dumps(CARD).encode(), "application/json")},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


async def _prompt_text(app: FastAPI, client: httpx.AsyncClient, chat_id: str, text: str) -> str:
    turn = await say(app, client, chat_id, text)
    assert turn["status"] == "completed", turn
    response = await client.get(f"/api/turns/{turn['id']}/prompt")
    assert response.status_code == 200, response.text
    return json.dumps(response.json(), ensure_ascii=False)


async def _book(client: httpx.AsyncClient, world: str, bot: str | None = None) -> list[dict[str, Any]]:
    params = {"world": world, **({"bot": bot} if bot else {})}
    response = await client.get("/api/lore", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["world_id"] == world and response.json()["bot_id"] == bot
    return response.json()["entries"]


async def _chat(client: httpx.AsyncClient, bot_ids: list[str], world: str) -> dict[str, Any]:
    response = await client.post("/api/chats", json={"bot_ids": bot_ids, "world_id": world})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_cards_book_is_its_worlds_and_an_edit_stays_in_the_world_it_was_made_in(
    data_dir: Path,
) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        pell = await _import(client)
        home = pell["world_id"]
        assert [e["name"] for e in await _book(client, home, pell["id"])] == ["Lighthouse", "Kraken"]
        assert await _book(client, "saltmere") and not await _book(client, home)  # demo's own book

        # Edit Pell's book in his own world: one lore_set of that world, nothing else.
        end = log_end(data_dir)
        edited = [{**LIGHTHOUSE, "content": "The lighthouse burns again since spring."}, KRAKEN]
        saved = await client.put("/api/lore", params={"world": home, "bot": pell["id"]}, json={"entries": edited})
        assert saved.status_code == 200, saved.text
        assert saved.json()["entries"][0]["content"] == "The lighthouse burns again since spring."
        events = (await client.get("/api/events", params={"after": end})).json()
        assert [(e["kind"], e["payload"]["world_id"], e["payload"]["bot_id"]) for e in events] == [
            ("lore_set", home, pell["id"])
        ]
        again = await client.put("/api/lore", params={"world": home, "bot": pell["id"]}, json={"entries": edited})
        assert again.status_code == 200 and log_end(data_dir) == end + 1  # unchanged: nothing appended

        # Pell joins Saltmere (a chat there): Saltmere gets his card's book, not the edit.
        salt_chat = await _chat(client, ["mara", pell["id"]], "saltmere")
        assert [e["content"] for e in await _book(client, "saltmere", pell["id"])] == [
            LIGHTHOUSE["content"], KRAKEN["content"]
        ]
        # Editing it in Saltmere leaves his own world's book alone.
        await client.put("/api/lore", params={"world": "saltmere", "bot": pell["id"]}, json={"entries": [KRAKEN]})
        assert [e["name"] for e in await _book(client, home, pell["id"])] == ["Lighthouse", "Kraken"]
        assert (await _book(client, home, pell["id"]))[0]["content"] == "The lighthouse burns again since spring."

        # Prompts read only the chat's world's lore.
        home_chat = await _chat(client, [pell["id"]], home)
        home_prompt = await _prompt_text(app, client, home_chat["id"], "Pell, is the lighthouse lit?")
        assert "burns again since spring" in home_prompt and "dark for ten years" not in home_prompt
        assert "The Teeth are a reef" not in home_prompt  # Saltmere's own book stays in Saltmere
        salt_prompt = await _prompt_text(app, client, salt_chat["id"], "Pell, is the lighthouse lit? And the reef?")
        assert "burns again since spring" not in salt_prompt and "dark for ten years" not in salt_prompt
        assert "The Teeth are a reef" in salt_prompt  # the world's own book: any bot of Saltmere


async def test_card_export_carries_the_book_of_the_world_asked_for_and_round_trips(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        pell = await _import(client)
        home = pell["world_id"]
        await client.put("/api/lore", params={"world": home, "bot": pell["id"]},
                         json={"entries": [{**KRAKEN, "content": "The kraken was a whale."}]})
        await _chat(client, [pell["id"]], "saltmere")  # his card's book is copied there

        default = (await client.get(f"/api/bots/{pell['id']}/card", params={"format": "v2"})).json()
        assert [e["content"] for e in default["data"]["character_book"]["entries"]] == ["The kraken was a whale."]
        assert default["data"]["character_book"]["name"] == "Pell's book"  # the book's own fields kept
        salt = (await client.get(f"/api/bots/{pell['id']}/card", params={"format": "v3", "world": "saltmere"})).json()
        assert [e["name"] for e in salt["data"]["character_book"]["entries"]] == ["Lighthouse", "Kraken"]
        assert salt["data"]["character_book"]["entries"][0]["extensions"] == {"depth": 4}

        end = log_end(data_dir)
        assert_error(await client.get(f"/api/bots/{pell['id']}/card", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.get("/api/bots/mara/card", params={"world": home}), 404, "bot")

        # The exported card imports again as the same book, into a world of its own.
        back = await client.post(
            "/api/bots/import", params={"on_conflict": "copy"}, headers=UPLOAD,
            files={"file": ("pell.json", json.dumps(default).encode(), "application/json")},
        )  # fmt: skip
        assert back.status_code == 201, back.text
        copy = back.json()
        assert log_end(data_dir) > end
        assert await _book(client, copy["world_id"], copy["id"]) == await _book(client, home, pell["id"])


async def test_bad_lore_requests_name_the_field_and_append_nothing(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        pell = await _import(client)
        end = log_end(data_dir)
        ok = {"entries": [KRAKEN]}
        assert_error(await client.get("/api/lore", params={"world": "atlantis"}), 404, "world")
        assert_error(await client.put("/api/lore", params={"world": "atlantis"}, json=ok), 404, "world")
        assert_error(await client.get("/api/lore", params={"world": "saltmere", "bot": "nobody"}), 404, "bot")
        # Pell takes no part in Saltmere: he has no book there to edit.
        assert_error(await client.put("/api/lore", params={"world": "saltmere", "bot": pell["id"]}, json=ok),
                     404, "bot")
        assert_error(await client.put("/api/lore", params={"world": "saltmere"}, json={"entries": "x"}), 422)
        assert_error(await client.put("/api/lore", params={"world": "saltmere"}, json={"entries": [{"keys": "x"}]}),
                     422)
        assert_error(await client.put("/api/lore", params={"world": "saltmere"}, json={"entries": [], "x": 1}),
                     422, "x")
        assert log_end(data_dir) == end


async def test_lore_is_a_projection_rebuilt_the_same_from_the_log(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        pell = await _import(client)
        await client.put("/api/lore", params={"world": pell["world_id"], "bot": pell["id"]}, json={"entries": [KRAKEN]})
        await _chat(client, [pell["id"]], "saltmere")
        # A revision of the card's own book (PATCH /api/bots) is the character's: every world.
        revised = await client.patch(f"/api/bots/{pell['id']}", json={"lore": [LIGHTHOUSE]})
        assert revised.status_code == 200, revised.text
        for world in (pell["world_id"], "saltmere"):
            assert [e["name"] for e in await _book(client, world, pell["id"])] == ["Lighthouse"]
    from chat.eventlog.projector import canonical_dump, rebuild

    with open_db(data_dir / "kith.db") as conn:
        before = canonical_dump(conn)
        rebuild(conn)
        assert canonical_dump(conn) == before
        rows = conn.execute("SELECT world_id, bot_id FROM lore_books ORDER BY 1, 2").fetchall()
    assert rows == [("old-pell", "old-pell"), ("saltmere", ""), ("saltmere", "mara"), ("saltmere", "old-pell")]


OLD_LORE = [{"keys": ["engine"], "content": "Ada's engine runs on seawater.", "name": "Engine"}]
NEW_LORE = [{"keys": ["engine"], "content": "Ada's engine now runs on starlight.", "name": "Engine"}]


def _old_data_dir(data_dir: Path, migrations: int, version: int, events: list[tuple[str, dict, str | None]]) -> None:
    """A data directory as an older release wrote it: its migrations, its events' versions."""
    from chat.db.migrate import apply_migrations, bundled_migrations
    from chat.eventlog.schemas import validate_payload

    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "kith.db"
    apply_migrations(db, bundled_migrations()[:migrations])
    with open_db(db) as conn:
        conn.execute("BEGIN IMMEDIATE")
        for kind, payload, chat_id in events:
            conn.execute(
                "INSERT INTO events (kind, version, payload, created_at, chat_id, actor)"
                " VALUES (?, ?, ?, '2025-01-01T10:00:00.000000Z', ?, 'user')",
                (kind, version if kind != "bot_revised" else 1,
                 json.dumps(validate_payload(kind, payload)), chat_id),
            )
        conn.execute("INSERT INTO projection_state (name, last_event_id, schema_version, needs_rebuild)"
                     " VALUES ('main', 0, ?, 0)", (version,))
        conn.execute("COMMIT")


async def test_lore_written_on_bots_before_worlds_is_the_default_worlds(data_dir: Path) -> None:
    """Release before worlds: the bot's lore (authored, then revised) lands in ``default``."""
    _old_data_dir(data_dir, 3, 1, [
        ("bot_authored", {"id": "ada", "name": "Ada", "persona": "An engineer.", "lore": OLD_LORE}, None),
        ("bot_revised", {"id": "ada", "changes": {"lore": NEW_LORE}}, None),
        ("chat_created", {"id": "chat-old", "title": "Old chat", "bot_ids": ["ada"]}, "chat-old"),
    ])
    async with running_app(make_settings(data_dir)) as (app, client):
        assert await _book(client, "default", "ada") == NEW_LORE
        prompt = await _prompt_text(app, client, "chat-old", "How does the engine run?")
        assert "runs on starlight" in prompt and "seawater" not in prompt


async def test_lore_revised_on_a_bot_before_this_change_is_in_every_world_it_was_in(data_dir: Path) -> None:
    """Release with worlds but lore on the bot: a bot's lore was read in every world it was
    in, so its revisions replay into each of them (and a later world gets its card's book)."""
    _old_data_dir(data_dir, 6, 2, [
        ("world_created", {"id": "north", "name": "North"}, None),
        ("world_created", {"id": "south", "name": "South"}, None),
        ("bot_authored", {"id": "ada", "name": "Ada", "persona": "An engineer.", "lore": OLD_LORE,
                          "world_id": "north"}, None),
        ("chat_created", {"id": "chat-s", "title": "South chat", "bot_ids": ["ada"], "world_id": "south"}, "chat-s"),
        ("bot_revised", {"id": "ada", "changes": {"lore": NEW_LORE}}, None),
        ("manual_edit", {"target_type": "bot", "target_id": "ada", "field": "traits", "value": ["calm"],
                         "previous": [], "world_id": "default"}, None),
    ])
    async with running_app(make_settings(data_dir)) as (app, client):
        assert await _book(client, "north", "ada") == NEW_LORE
        assert await _book(client, "south", "ada") == NEW_LORE
        assert "runs on starlight" in await _prompt_text(app, client, "chat-s", "The engine?")
        # The old bot-field edit said world `default`; a bot's pin belongs to every world it is in.
        for world in ("north", "south"):
            pins = (await client.get("/api/pins", params={"world": world})).json()
            assert [(p["target_type"], p["target_id"], p["field"]) for p in pins] == [("bot", "ada", "traits")]
        assert [w["id"] for w in (await client.get("/api/worlds")).json()] == ["north", "south"]


async def test_a_world_file_carries_its_lore_and_no_other_worlds(data_dir: Path, tmp_path: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await create_demo_world(runtime_of(app))
        pell = await _import(client)
        home = pell["world_id"]
        await _chat(client, ["mara", pell["id"]], home)  # Mara joins with her card's book
        await client.put("/api/lore", params={"world": home, "bot": pell["id"]}, json={"entries": [KRAKEN]})
        await client.put("/api/lore", params={"world": home}, json={"entries": [LIGHTHOUSE]})
        await client.put("/api/lore", params={"world": "saltmere", "bot": "mara"}, json={"entries": [KRAKEN]})
        books = {bot: await _book(client, home, bot) for bot in (None, pell["id"], "mara")}
        exported = await client.get(f"/api/worlds/{home}/export")
        assert exported.status_code == 200, exported.text
    async with running_app(make_settings(tmp_path / "other")) as (_app, client):
        imported = await client.post(
            "/api/worlds/import", headers=UPLOAD,
            files={"file": ("world.jsonl", exported.content, "application/x-ndjson")},
        )  # fmt: skip
        assert imported.status_code == 201, imported.text
        assert {bot: await _book(client, home, bot) for bot in (None, pell["id"], "mara")} == books
        assert books["mara"] and books["mara"] != [KRAKEN]  # Saltmere's edit of Mara's book stayed there
        assert [w["id"] for w in (await client.get("/api/worlds")).json()] == [home]
