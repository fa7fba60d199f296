"""What a newcomer's walk (session 25) found the API saying or taking wrongly: a chat whose
only bot is retired blamed the scene; the kind of ``you`` and of a bot's entity could be
edited into nonsense; a proposal the person rewrote was credited to the model. Real app,
real SQLite, the scripted backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat.tests.api_support import (
    api_log_end,
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    say,
)

pytestmark = pytest.mark.anyio


async def test_posting_where_every_bot_is_retired_names_the_retirement(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="isolde", name="Isolde Varga")
        chat = await make_chat(client, ["isolde"])
        assert (await client.delete("/api/bots/isolde")).status_code == 204
        before = await api_log_end(client)
        for path, body in (("messages", {"text": "Isolde, are you there?"}), ("respond", None)):
            error = assert_error(await client.post(f"/api/chats/{chat['id']}/{path}", json=body), 409, "bot_ids")
            assert "retired (Isolde Varga)" in error["message"], error
            assert "new chat with another bot" in error["message"], error
            assert "present" not in error["message"], error  # she is present; that was never why
        assert await api_log_end(client) == before


async def test_no_turn_is_queued_where_every_bot_is_retired(data_dir: Path) -> None:
    """Regenerate, continue and retry could only fail there, and their Retry fail again."""
    async with running_app(make_settings(data_dir, sentiment_nudges=False)) as (app, client):
        await make_bot(client, id="isolde", name="Isolde Varga")
        chat = await make_chat(client, ["isolde"])
        await say(app, client, chat["id"], "hello")
        assert (await client.delete("/api/bots/isolde")).status_code == 204
        before = await api_log_end(client)
        for path in ("regenerate", "continue"):
            error = assert_error(await client.post(f"/api/chats/{chat['id']}/{path}"), 409, "bot_ids")
            assert "retired (Isolde Varga)" in error["message"], error
        assert await api_log_end(client) == before


async def test_the_kind_of_you_and_of_a_bots_entity_cannot_be_edited(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="mara", name="Mara Quinn")
        lamp = await client.post("/api/entities", json={"name": "Lamp", "kind": "thing"})
        assert lamp.status_code == 201, lamp.text
        before = await api_log_end(client)
        error = assert_error(await client.patch("/api/entities/you", json={"kind": "place"}), 422, "kind")
        assert "'you'" in error["message"] and "persona" in error["message"], error
        error = assert_error(await client.patch("/api/entities/mara", json={"kind": "thing"}), 422, "kind")
        assert "'mara'" in error["message"] and "bot" in error["message"], error
        for made_up in ("bot", "you"):
            error = assert_error(await client.patch("/api/entities/lamp", json={"kind": made_up}), 422, "kind")
            assert "person, place, thing, group, other" in error["message"], error
        assert_error(await client.patch("/api/entities/lamp", json={"kind": "spaceship"}), 422, "kind")
        assert await api_log_end(client) == before, "nothing is written"
        moved = await client.patch("/api/entities/lamp", json={"kind": "place"})
        assert moved.status_code == 200 and moved.json()["kind"] == "place", moved.text
        same = await client.patch("/api/entities/you", json={"kind": "you", "name": "Ada"})
        assert same.status_code == 200, same.text  # its own kind again is no change


async def test_history_credits_a_rewritten_proposal_to_the_person(data_dir: Path, tmp_path: Path) -> None:
    """§6.4: "Edit, then accept" wrote the person's words; the history said "model"."""
    rules = {"rules": [{"match": "heron", "extraction": {"memories": [
        {"owner": "ada", "text": "A deckhand joined.", "importance": 5},
        {"owner": "ada", "text": "The Heron sails at dawn.", "importance": 5}]}}]}
    script = tmp_path / "script.json"
    script.write_text(json.dumps(rules), encoding="utf-8")
    settings = make_settings(data_dir, extraction_review=True, sentiment_nudges=False, script_path=script)
    async with running_app(settings) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "news from the heron")
        edited, plain = (await client.get(f"/api/chats/{chat['id']}/proposals")).json()
        words = "Ada is the new deckhand on the Heron."
        accepted = await client.post(f"/api/proposals/{edited['id']}/accept", json={"text": words})
        assert accepted.status_code == 200, accepted.text
        assert (await client.post(f"/api/proposals/{plain['id']}/accept")).status_code == 200
        history = {}
        for proposal in (edited, plain):
            memory_id = proposal["payload"]["id"]
            rows = (await client.get(f"/api/items/memory/{memory_id}/history")).json()
            history[memory_id] = {(row["field"], row["actor"]) for row in rows}
    assert history[edited["payload"]["id"]] == {("created", "user")}, history  # "you · created"
    assert history[plain["payload"]["id"]] == {("created", "model")}, history  # unedited: the model's


def test_the_delete_dialog_counts_no_record_only_kind_as_a_world_change() -> None:
    """replies.js keeps its own list of the events that change no world; the kinds the
    projector keeps for the record only (a proposal waiting in the tray among them) must
    be on it, or the Delete dialog offers a rewind for a change never made."""
    import re

    from chat.eventlog.projector import LOG_ONLY_KINDS

    source = (Path(__file__).parents[1] / "app/static/js/replies.js").read_text(encoding="utf-8")
    listed = re.search(r"const NOT_WORLD = new Set\(\[(.*?)\]\)", source, re.S)
    assert listed is not None
    not_world = set(re.findall(r'"([a-z_]+)"', listed.group(1)))
    assert LOG_ONLY_KINDS - not_world == set()
