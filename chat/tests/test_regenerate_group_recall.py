"""What a regenerate leaves out of recall in a group turn (§4.4, §5.3.1): the replaced
reply's observation and everything extraction added to the bot in that turn (it does not
say which message a memory came from); the observations of the user's message and of the
other bot's reply stay recallable. A real runtime, a real SQLite file, the scripted
backend (§7.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.state.observations import observation_id
from chat.tests.turn_support import running, turn
from chat.turns.replaced import replaced_sources

pytestmark = pytest.mark.anyio

MEMORIES = {
    "bo": [
        ("Ana's lighthouse lamp is brass and older than the town", 7),
        ("I promised to mend the torn nets before the storm", 7),
        ("You asked about the storm tonight", 4),
        ("I feel uneasy", 3),
    ]
}
RULES = [
    {
        "bot": "ana",
        "match": "",
        "reply": "My lighthouse lamp is brass, older than the town itself.",
    },
    {"bot": "bo", "match": "", "reply": "I promised I would mend the torn nets before the storm."},
    {
        "match": "",
        "extraction": {
            "memories": [
                {"owner": owner, "text": text, "importance": importance, "kind": "fact"}
                for owner, items in MEMORIES.items()
                for text, importance in items
            ]
        },
    },  # fmt: skip
]


async def test_regenerate_of_one_bot_keeps_the_other_bots_reply_and_the_users_message(
    data_dir: Path,
) -> None:
    async with running(data_dir, RULES) as rt:
        await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
        await rt.author_bot({"name": "Bo", "talkativeness": 0.5})
        chat = await rt.create_chat(["ana", "bo"])
        done = await turn(rt, chat["id"], "Evening, both. What about the storm tonight?")
        assert done["status"] == "completed", done
        you, ana, bo = rt.transcript(chat["id"])
    assert (you["author"], ana["author"], bo["author"]) == ("you", "ana", "bo")
    with open_db(data_dir / "kith.db") as conn:
        owned = dict(
            conn.execute(
                "SELECT text, id FROM memories WHERE owner = 'bo' AND kind = 'fact'"
            ).fetchall()
        )
        assert set(owned) == {text for text, _ in MEMORIES["bo"]}, owned
        redone = replaced_sources(conn, bo["alt_group"], "bo", "default")
    assert redone.message_ids == {bo["id"]}  # its own observation goes with the message
    assert redone.memory_ids == set(owned.values())  # extraction's, whichever message
    # the observations of the user's message and of Ana's reply are Bo's to recall
    assert not redone.memory_ids & {
        observation_id(you["id"], "bo"),
        observation_id(ana["id"], "bo"),
    }

