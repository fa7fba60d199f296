"""Chapters (§5.7) through the HTTP API: listed per chat, edited by a person (a pinning
manual edit, §6, that the model never writes over), written again when a message of
their stretch changes, and reverted with the turn that wrote them (§4.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.db.connection import open_db
from chat.eventlog.projector import canonical_dump, is_projected, rebuild
from chat.state.chapters import chapter_memory_id
from chat.state.memory import get_memory
from chat.tests.api_support import log_end, make_chat, make_settings, running_app, say
from chat.tests.test_chapters import LINES
from chat.tests.test_projection_properties import _copy_events, _fresh_db
from chat.tests.turn_support import events

pytestmark = pytest.mark.anyio



async def chat_with_a_chapter(
    app: Any, client: httpx.AsyncClient, turns: int = 14
) -> tuple[dict, list]:
    bot = (await client.post("/api/bots", json={"name": "Mara", "persona": "A pilot."})).json()
    chat = await make_chat(client, [bot["id"]])
    for n in range(turns):
        assert (await say(app, client, chat["id"], f"{LINES[n % 6]} ({n})"))[
            "status"
        ] == "completed"
    chapters = (await client.get(f"/api/chats/{chat['id']}/chapters")).json()
    assert chapters, "the chat overflowed the prompt and got a chapter"
    return chat, chapters


def settings(data_dir: Path) -> Any:
    return make_settings(data_dir, context_length=700)


async def test_editing_a_chapter_pins_it_and_sets_every_copy(data_dir: Path) -> None:
    async with running_app(settings(data_dir)) as (app, client):
        chat, chapters = await chat_with_a_chapter(app, client)
        first = chapters[0]
        assert first["pinned"] is False and first["owners"] == ["mara"]
        response = await client.patch(
            f"/api/chapters/{first['id']}", json={"text": "Mara and you sailed north."}
        )
        assert response.status_code == 200, response.text
        edited = response.json()
        assert edited["text"] == "Mara and you sailed north."
        assert edited["pinned"] is True
        memory = (
            await client.get(f"/api/memories/{chapter_memory_id(first['id'], 'mara')}")
        ).json()
        assert memory["kind"] == "chapter" and memory["text"] == edited["text"]
        listed = (await client.get("/api/memories", params={"owner": "mara"})).json()
        assert any(m["kind"] == "chapter" for m in listed)  # the state panel lists it
        history = (await client.get(f"/api/items/chapter/{first['id']}/history")).json()
        assert [h["actor"] for h in history][-1] == "user"
    edit = [e for e in events(data_dir, kind="manual_edit")][-1]
    assert edit.payload["target_type"] == "chapter" and edit.payload["previous"] == first["text"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"text": 5}, "text"),
        ({}, "text"),
        ({"text": "fine", "pinned": False}, "pinned"),
    ],
)
async def test_a_bad_chapter_edit_names_the_field_and_appends_nothing(
    data_dir: Path, body: dict, field: str
) -> None:
    async with running_app(settings(data_dir)) as (app, client):
        _, chapters = await chat_with_a_chapter(app, client)
        before = log_end(data_dir)
        response = await client.patch(f"/api/chapters/{chapters[0]['id']}", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
        assert log_end(data_dir) == before


async def test_unknown_chapters_and_chats_are_404s_naming_the_field(data_dir: Path) -> None:
    async with running_app(settings(data_dir)) as (_, client):
        before = log_end(data_dir)
        response = await client.patch("/api/chapters/chap-nope", json={"text": "hello there"})
        assert response.status_code == 404 and response.json()["error"]["field"] == "chapter_id"
        response = await client.get("/api/chapters/chap-nope")
        assert response.status_code == 404 and response.json()["error"]["field"] == "chapter_id"
        response = await client.get("/api/chats/nochat/chapters")
        assert response.status_code == 404 and response.json()["error"]["field"] == "chat_id"
        assert log_end(data_dir) == before


async def test_a_message_edit_makes_the_model_write_the_chapter_again_unless_pinned(
    data_dir: Path,
) -> None:
    async with running_app(settings(data_dir)) as (app, client):
        chat, chapters = await chat_with_a_chapter(app, client, turns=20)
        assert len(chapters) >= 2
        first, second = chapters[0], chapters[1]
        await client.patch(f"/api/chapters/{second['id']}", json={"text": "A person wrote this."})
        for chapter, words in ((first, "kraken"), (second, "mermaid")):
            response = await client.patch(
                f"/api/messages/{chapter['first_message_id']}", json={"text": f"A {words} rose."}
            )
            assert response.status_code == 200, response.text
        await say(app, client, chat["id"], "What a night.")
        await say(app, client, chat["id"], "And then morning.")
        now = {c["id"]: c for c in (await client.get(f"/api/chats/{chat['id']}/chapters")).json()}
    assert "kraken" in now[first["id"]]["text"]  # stale: written again over the same range
    assert now[first["id"]]["first_event_id"] == first["first_event_id"]
    assert now[second["id"]]["text"] == "A person wrote this."  # pinned: the model keeps off
    with open_db(data_dir / "kith.db") as conn:
        copy = get_memory(conn, chapter_memory_id(first["id"], "mara"))
        assert copy is not None and "kraken" in copy["text"]


async def test_rewinding_the_turn_that_wrote_a_chapter_removes_it(
    data_dir: Path, tmp_path: Path
) -> None:
    async with running_app(settings(data_dir)) as (app, client):
        chat, chapters = await chat_with_a_chapter(app, client, turns=20)
        assert len(chapters) >= 2
        last = chapters[-1]
        turn = (await client.get(f"/api/turns/{last['turn_id']}")).json()
        await client.patch(f"/api/chapters/{chapters[0]['id']}", json={"text": "Kept by hand."})
        response = await client.post(
            f"/api/chats/{chat['id']}/rewind", json={"before_message_id": turn["message_ids"][0]}
        )
        assert response.status_code == 200, response.text
        assert last["turn_id"] in response.json()["reverted_turn_ids"]
        after = (await client.get(f"/api/chats/{chat['id']}/chapters")).json()
        mine = await client.get(f"/api/memories/{chapter_memory_id(last['id'], 'mara')}")
    assert [c["id"] for c in after] == [c["id"] for c in chapters[:-1]]
    assert after[0]["text"] == "Kept by hand."  # an edit of an earlier chapter stays
    assert mine.status_code == 404
    written = [e for e in events(data_dir, kind="chapter_written") if e.turn_id == last["turn_id"]]
    assert written, "the reverted chapter stays in the log, marked by its reverted turn"
    with (
        open_db(data_dir / "kith.db") as source,
        open_db(_fresh_db(tmp_path, "replay.db")) as target,
    ):
        reverted = set(response.json()["reverted_turn_ids"])
        _copy_events(
            source, target, lambda row: is_projected(row[1], row[6], reverted)
        )
        rebuild(target)
        assert canonical_dump(source) == canonical_dump(target)
