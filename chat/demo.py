"""The demo world `kith init` creates: three characters of a harbour town, a little lore
(the world's own, and Mara's character book),
a few world facts and a group chat to start in.

Written as ordinary events through the runtime, like anything a person would author,
so the demo is undoable, exportable and visible in the event log.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chat.eventlog.log import NewEvent
from chat.runtime.runtime import Runtime
from chat.world import bots as bot_service
from chat.world import chats as chat_service
from chat.world import lore as lore_service
from chat.world import worlds as world_service
from chat.world.ids import new_id

MARA: dict[str, Any] = {
    "id": "mara",
    "name": "Mara Quinn",
    "persona": (
        "Mara is the harbour pilot of Saltmere, forty-one, weathered and unsentimental. She guides "
        "ships through the Teeth, a reef that has sunk more boats than storms have. She trusts "
        "the sea more than people, keeps her promises, and hides a dry sense of humour under "
        "short sentences."
    ),
    "traits": ["blunt", "loyal", "dry humour", "superstitious about the sea"],
    "backstory": (
        "Her father was the pilot before her and vanished on the reef in a fog twenty years ago. "
        "She has guided every ship since, and she keeps his brass compass in her coat."
    ),
    "voice_samples": [
        "Tide turns at six. Be on the quay at half past five, or swim.",
        "The Teeth don't forgive. Neither do I, much.",
        "Fog's coming. Smell it? Like wet rope and bad decisions.",
    ],
    "initial_relationship_to_you": "new deckhand",
    "kickoff_prose": (
        "Fog rolls over the quay of Saltmere. {{char}} coils a rope without looking at it and "
        "nods at {{user}}. \"You're the new hand. Good. The Heron sails at dawn and we'll need "
        "every arm on her.\""
    ),
    "talkativeness": 0.6,
    "tags": ["demo", "sea"],
    "lore": [  # her card's own book: it goes with her into any world she joins
        {
            "name": "The compass",
            "keys": ["compass", "father"],
            "content": "Mara's father's brass compass always points a little east of north; "
            "she swears it points at him.",
        },
    ],
}

TOBIAS: dict[str, Any] = {
    "id": "tobias",
    "name": "Tobias Wren",
    "persona": (
        "Tobias keeps the Lantern, Saltmere's only inn. Round, warm and endlessly curious, he "
        "trades gossip like other men trade fish, and he notices everything that happens on the "
        "quay."
    ),
    "traits": ["cheerful", "nosy", "generous", "talkative"],
    "backstory": "A former ship's cook who swore off the sea after a winter stuck in ice.",
    "voice_samples": [
        "Sit, sit! Chowder's hot and the news is hotter.",
        "Now, I'm not one to talk, but I heard from the harbourmaster's cousin...",
    ],
    "initial_relationship_to_you": "friendly innkeeper",
    "kickoff_prose": "",
    "talkativeness": 0.8,
    "tags": ["demo"],
}

ISOLDE: dict[str, Any] = {
    "id": "isolde",
    "name": "Isolde Varga",
    "persona": (
        "Isolde is a cartographer from the capital, sent to chart the Teeth. Precise, proud and "
        "quietly lonely, she believes every danger can be measured."
    ),
    "traits": ["precise", "proud", "curious"],
    "backstory": "She lost her post at the academy after a map of hers sank a navy sloop.",
    "voice_samples": ["Soundings don't lie. People do.", "Hold the lamp steady, please."],
    "initial_relationship_to_you": "stranger",
    "kickoff_prose": "",
    "talkativeness": 0.4,
    "tags": ["demo"],
}

WORLD_LORE: list[dict[str, Any]] = [  # Saltmere's own: no other world ever sees it (§3.5)
    {
        "name": "The Teeth",
        "keys": ["teeth", "reef"],
        "content": "The Teeth are a reef of black rock at the mouth of Saltmere bay, "
        "covered at high tide; only the pilot knows the safe channel.",
    },
]

SCENE_LOCATION = "the quay of Saltmere"
"""Where the demo chat opens (its first line: "Fog rolls over the quay of Saltmere")."""
WORLD_FACTS = {"location": "Saltmere harbour", "time_of_day": "before dawn", "weather": "thick fog"}

WORLD_ID = "saltmere"
WORLD_NAME = "Saltmere"
WORLD_SCENARIO = (
    "Saltmere is a fishing harbour on a foggy northern coast, guarded by a treacherous reef "
    "called the Teeth."
)


def _set_up(events: list[NewEvent]) -> list[NewEvent]:
    """The demo's events are the world's set-up, not the user's edits: written by the actor
    ``system``, so the history of its relationships, bots, facts, lore and chat says "set-up",
    never "you" (the person did not set Mara's label to "new deckhand")."""
    return [replace(event, actor="system") for event in events]


async def create_demo_world(rt: Runtime, *, persona: str | None = None) -> dict[str, Any]:
    """The world Saltmere (§3.5): its three bots, world facts and a chat with Mara and
    Tobias. ``persona`` names "you" first (§3.6), so the opening prose already says it:
    that one is the person's choice; the rest is the demo's set-up (`_set_up`)."""
    if persona:
        await rt.set_persona(persona)
    await rt.commit(lambda conn: _set_up(
        world_service.create_events(conn, WORLD_NAME, scenario=WORLD_SCENARIO, world_id=WORLD_ID, distinct=True)
    ))  # fmt: skip
    for fields in (MARA, TOBIAS, ISOLDE):
        await rt.commit(lambda conn, fields=fields: _set_up(bot_service.author_events(conn, fields, WORLD_ID)))
    facts = [
        NewEvent("world_fact_set", {"key": k, "value": v, "world_id": WORLD_ID})
        for k, v in WORLD_FACTS.items()
    ]
    await rt.commit(lambda conn: facts)  # plain facts, not pinned: the story may change them
    await rt.commit(lambda conn: _set_up(lore_service.lore_events(conn, WORLD_ID, None, WORLD_LORE)))
    chat_id = new_id("chat")
    await rt.commit(lambda conn: _set_up(
        chat_service.create_events(conn, chat_id, ["mara", "tobias"], "Fog over Saltmere", WORLD_ID)
    ), chat_id)  # fmt: skip
    scene = NewEvent("scene_changed", {"chat_id": chat_id, "location": SCENE_LOCATION}, chat_id=chat_id)
    await rt.commit(lambda conn: _set_up([scene]), chat_id)  # the state panel showed "(empty)"
    made = rt.get_chat(chat_id)
    chat = {k: made[k] for k in ("id", "title", "bot_ids", "world_id")}
    bots = [rt.get_bot(fields["id"]) for fields in (MARA, TOBIAS, ISOLDE)]
    return {"bots": [b["id"] for b in bots], "chat": chat, "world": rt.get_world(WORLD_ID)}
