"""Who is present (§5.3.1, §5.4, §5.5): presence is edited in any world, an absent bot never
speaks, learns nothing of what was said while it was away, and its prompt's transcript
leaves those messages out; the prompt record still rebuilds byte for byte (§8.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.demo import create_demo_world
from chat.llm.schemas import ExtractionProposal
from chat.memory.extraction import check_proposal
from chat.state.entities import get_bot
from chat.tests.api_support import assert_error, make_settings, running_app, runtime_of, say
from chat.tests.llm_fault_server import FaultServer
from chat.tests.turn_support import events

pytestmark = pytest.mark.anyio

SECRET = "BLUE-HERON-42"
TELL = f"Mara, the vault password is {SECRET}. Keep it from Isolde."
ASK = "Isolde, what is the vault password?"


async def _saltmere_with_isolde(app, client) -> str:  # noqa: ANN001 - the app and its client
    """The demo world (id ``saltmere``, not ``default``) and a chat with Mara and Isolde."""
    await create_demo_world(runtime_of(app))
    made = await client.post("/api/chats", json={"bot_ids": ["mara", "isolde"], "title": "Vault"})
    assert made.status_code == 201, made.text
    assert made.json()["world_id"] == "saltmere"
    return made.json()["id"]


async def _present(client, chat_id: str, present: list[str]) -> None:  # noqa: ANN001
    response = await client.put(f"/api/chats/{chat_id}/scene", json={"present": present})
    assert response.status_code == 200, response.text
    assert response.json()["present"] == present


async def test_present_is_edited_in_a_world_whose_id_is_not_default(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        demo = await create_demo_world(runtime_of(app))
        chat_id = demo["chat"]["id"]
        await _present(client, chat_id, ["you", "mara"])  # was 422: "no entity with id 'you'"
        edit = await client.post(
            "/api/edits",
            json={"target_type": "scene", "target_id": chat_id, "field": "present", "value": ["you", "tobias"]},
        )
        assert edit.status_code == 200, edit.text
        assert (await client.get(f"/api/chats/{chat_id}")).json()["scene"]["present"] == ["you", "tobias"]
        # an unknown id is still refused, and the error names the world it looked in
        error = assert_error(
            await client.put(f"/api/chats/{chat_id}/scene", json={"present": ["you", "nobody"]}), 422, "present"
        )
        assert "'nobody'" in error["message"] and "'saltmere'" in error["message"]
        # an edge of the (default) world Saltmere, without ?world; an unknown end names the world
        edge = await client.patch("/api/edges/mara/you", json={"affinity": 12})
        assert edge.status_code == 200, edge.text
        assert edge.json()["affinity"] == 12
        missing = assert_error(await client.patch("/api/edges/nobody/you", json={"affinity": 1}), 404, "src")
        assert missing["message"] == "no entity with id 'nobody' in world 'saltmere'"


async def test_an_absent_bot_neither_speaks_nor_learns_nor_sees_what_it_missed(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        chat_id = await _saltmere_with_isolde(app, client)
        await _present(client, chat_id, ["you", "mara"])
        opening = len((await client.get(f"/api/chats/{chat_id}/messages")).json())  # Mara's kickoff
        told = await say(app, client, chat_id, TELL)  # names Isolde too: still only Mara answers
        assert told["status"] == "completed", told
        messages = (await client.get(f"/api/chats/{chat_id}/messages")).json()
        assert [m["author"] for m in messages[opening:]] == ["you", "mara"]

        # extraction's memory for Isolde (the scripted model proposes one per bot) is dropped
        added = events(data_dir, kind="memory_added", turn_id=told["id"])
        assert [e.payload["owner"] for e in added] == ["mara"]
        dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped", turn_id=told["id"])]
        assert "memory owner 'isolde' was not present in the scene" in dropped
        isolde = (await client.get("/api/memories", params={"owner": "isolde"})).json()
        assert not any(SECRET in m["text"] for m in isolde)

        # nobody present who can answer: refused before anything is stored (posting again
        # once someone is there must not store the message twice)
        await _present(client, chat_id, ["you"])
        posted = await client.post(f"/api/chats/{chat_id}/messages", json={"text": "Anyone here?"})
        assert "present" in assert_error(posted, 409, "present")["message"]
        assert_error(await client.post(f"/api/chats/{chat_id}/respond"), 409, "present")
        assert len((await client.get(f"/api/chats/{chat_id}/messages")).json()) == opening + 2

        await _present(client, chat_id, ["you", "mara", "isolde"])
        asked = await say(app, client, chat_id, ASK)
        assert asked["status"] == "completed", asked
        prompts = {p["bot_id"]: p for p in (await client.get(f"/api/turns/{asked['id']}/prompt")).json()}
        assert "isolde" in prompts
        isolde_text = json.dumps(prompts["isolde"]["messages"])
        assert SECRET not in isolde_text and "Anyone here?" not in isolde_text
        assert ASK in isolde_text  # what she witnessed is there
        if "mara" in prompts:
            assert SECRET in json.dumps(prompts["mara"]["messages"])
        mara = await say(app, client, chat_id, "Mara, do you remember what I told you?")
        mara_prompts = (await client.get(f"/api/turns/{mara['id']}/prompt")).json()
        assert SECRET in json.dumps(mara_prompts[0]["messages"])  # she was there
    with open_db(data_dir / "kith.db") as conn:
        witnessed = [
            owner for (owner,) in conn.execute("SELECT owner FROM memories WHERE text LIKE ?", (f"%{SECRET}%",))
        ]
    assert "isolde" not in witnessed and "mara" in witnessed


async def test_extraction_judges_presence_by_who_witnessed_the_turn_not_by_the_scene_now(data_dir: Path) -> None:
    """Isolde was away when the secret was told; she is back by the time the proposal is
    checked: her memory of it, and her change of feeling, are still dropped, saying why."""
    async with running_app(make_settings(data_dir)) as (app, client):
        chat_id = await _saltmere_with_isolde(app, client)
        await _present(client, chat_id, ["you", "mara"])
        told = await say(app, client, chat_id, TELL)
        await _present(client, chat_id, ["you", "mara", "isolde"])
    proposal = ExtractionProposal.model_validate({
        "memories": [
            {"owner": "isolde", "text": f"The vault password is {SECRET}.", "importance": 9},
            {"owner": "mara", "text": f"The vault password is {SECRET}.", "importance": 9},
        ],
        "edges": [
            {"src": "isolde", "dst": "you", "affinity_delta": -5, "trust_delta": -5},
            {"src": "mara", "dst": "you", "affinity_delta": 3, "trust_delta": 4},
        ],
    })  # fmt: skip
    with open_db(data_dir / "kith.db") as conn:
        bots = [get_bot(conn, "mara"), get_bot(conn, "isolde")]
        result = check_proposal(conn, proposal, chat_id=chat_id, turn_id=told["id"], bots=bots)
    kept = [(e.kind, e.payload.get("owner") or e.payload.get("src")) for e in result.events if e.kind != "proposal_dropped"]
    assert kept == [("edge_changed", "mara"), ("memory_added", "mara")]
    reasons = [e.payload["reason"] for e in result.events if e.kind == "proposal_dropped"]
    assert reasons == [
        "relationship of 'isolde': it was not present in the scene",
        "memory owner 'isolde' was not present in the scene",
    ]
    assert result.dropped == 2


async def test_the_filtered_transcript_is_recorded_compact_and_rebuilt_byte_for_byte(
    data_dir: Path, fault_server: FaultServer
) -> None:
    url = fault_server.url("ok")
    settings = make_settings(data_dir, backend="openai", base_url=url, model="fault-model")
    async with running_app(settings) as (app, client):
        chat_id = await _saltmere_with_isolde(app, client)
        await say(app, client, chat_id, "Good evening, both of you.")
        await _present(client, chat_id, ["you", "mara"])
        await say(app, client, chat_id, TELL)
        await say(app, client, chat_id, "Mara, and the second lock?")
        await _present(client, chat_id, ["you", "mara", "isolde"])
        turns = [await say(app, client, chat_id, ASK), await say(app, client, chat_id, "Isolde, anything else?")]
        sent = [r.body["messages"] for r in fault_server.log(url) if r.body.get("stream")]
        shown = []
        for turn in turns:
            shown += [p for p in (await client.get(f"/api/turns/{turn['id']}/prompt")).json() if p["purpose"] == "reply"]
    assert len(shown) >= 2 and any(p["bot_id"] == "isolde" for p in shown)
    for record in shown:
        assert "compact" not in record
        # byte for byte what the server was sent for that reply
        assert json.dumps(record["messages"]) in {json.dumps(m) for m in sent}
        text = json.dumps(record["messages"])
        if record["bot_id"] == "isolde":
            assert SECRET not in text and "second lock" not in text and "Good evening" in text
        else:
            assert SECRET in text
    with open_db(data_dir / "kith.db") as conn:
        stored = [
            json.loads(p)
            for (p,) in conn.execute(
                "SELECT payload FROM events WHERE kind = 'prompt_recorded' AND chat_id = ? ORDER BY id", (chat_id,)
            )
        ]
    isolde = [p for p in stored if p["bot_id"] == "isolde"]
    assert isolde and all(p.get("compact") and not p.get("messages") for p in isolde)  # no fall-back to whole
    assert "tx2" in isolde[-1]["compact"]  # her second record is a difference from her first


async def test_a_bot_that_comes_back_does_not_make_a_chapter_of_what_every_prompt_shows(data_dir: Path) -> None:
    """The chapter cut is where the transcript was cut, not the first message the bot
    witnessed: a bot back in the scene did not have the earlier messages cut away, it never
    saw them, and a chapter of text still in view would be an extra model call for nothing."""
    from chat.llm.scripted import ScriptedBackend
    from chat.tests.test_chapters import LINES
    from chat.tests.turn_support import kinds, running, turn, write_script

    script = write_script(data_dir.parent / "script.json", [])
    model = ScriptedBackend(ScriptedBackend.Options(script_path=script, context_length=16384))
    async with running(data_dir, backend=model, max_replies_per_turn=1) as rt:
        await rt.author_bot({"name": "Mara"})
        await rt.author_bot({"name": "Ivo"})
        chat = await rt.create_chat(["mara", "ivo"])
        await rt.set_scene(chat["id"], present=["you", "mara"])
        for n in range(5):
            assert (await turn(rt, chat["id"], f"Mara, {LINES[n % 6]} ({n})"))["status"] == "completed"
        await rt.set_scene(chat["id"], present=["you", "mara", "ivo"])
        back = await turn(rt, chat["id"], "Ivo, what now?")
        assert back["status"] == "completed"
        assert [m["author"] for m in rt.transcript(chat["id"])][-1] == "ivo"
    assert kinds(data_dir).count("chapter_written") == 0  # every message fits every prompt
