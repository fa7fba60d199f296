""""Why did it say that?" lists what the reply recalled: each prompt of a turn carries its
recalled memories by their words (as they are now: edited, superseded or forgotten since),
not only their ids. Real app, real SQLite, the scripted backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.tests.api_support import make_bot, make_chat, make_settings, running_app, say

pytestmark = pytest.mark.anyio

KEY = "The lighthouse keeper hid the brass key under the third step."


async def test_each_prompt_lists_its_recalled_memories_by_their_words(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        earlier = await make_chat(client, ["ada"])  # what Ada saw there is recalled here
        await say(app, client, earlier["id"], KEY)
        chat = await make_chat(client, ["ada"], title="Later")
        turn = await say(app, client, chat["id"], "Where did the keeper hide the brass key?")
        shown = [p for p in (await client.get(f"/api/turns/{turn['id']}/prompt")).json() if p["purpose"] == "reply"]
        assert len(shown) == 1 and shown[0]["memory_ids"]
        recalled = shown[0]["recalled"]
        assert [m["id"] for m in recalled] == shown[0]["memory_ids"]
        key = next(m for m in recalled if KEY in m["text"])
        assert key["owner"] == "ada" and key["kind"] == "observation" and key["superseded_by"] is None

        # forgotten since: named by its id only, and said so
        assert (await client.delete(f"/api/memories/{key['id']}")).status_code == 204
        again = (await client.get(f"/api/turns/{turn['id']}/prompt")).json()
        gone = next(m for p in again for m in p["recalled"] if m["id"] == key["id"])
        assert gone == {"id": key["id"], "forgotten": True}
