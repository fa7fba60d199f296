"""A realistic, deterministic event log for the core benchmarks and the crash test.

The mix follows what a long-running Kith world looks like: a few bots and
chats, turns that each post a user message and one or two bot replies, the
memories and relationship changes extraction adds, world facts, manual edits,
regenerations, message edits, and now and then a rewind. Every payload is
valid and every id unique, as the services would write them, so the log
projects without error. The same seed always gives the same events.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from chat.eventlog.log import NewEvent

BOTS = ("ada", "bram", "cleo", "dov", "esme")
PLACES = ("harbour", "library", "market", "lighthouse", "orchard", "tavern", "bridge", "mill")
PEOPLE = ("mara", "tobias", "ines", "oren", "petra", "quill", "rafe", "sable")
PROSE = (
    "the tide came in early and the lamps along the quay were lit before dusk while "
    "she told me about the letter her brother never sent and why the mill stopped "
    "turning the winter the river froze so we walked out to the lighthouse together "
    "and counted ships until the rain found us laughing under the old stone arch"
)
WORDS = PROSE.split(" ")
WORLD_KEYS = ("time_of_day", "weather", "date", "season", "mood", "news", "harbour_status")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    start = rng.randrange(len(WORDS))
    count = rng.randint(low, high)
    words = [WORDS[(start + i) % len(WORDS)] for i in range(count)]
    return " ".join(words).capitalize() + "."


def _bot(bot_id: str, rng: random.Random) -> dict:
    return {
        "id": bot_id,
        "name": bot_id.capitalize(),
        "persona": _sentence(rng, 30, 60),
        "voice_samples": [_sentence(rng, 6, 14) for _ in range(3)],
        "traits": ["curious", "warm", "stubborn"][: rng.randint(1, 3)],
        "backstory": _sentence(rng, 40, 80),
        "initial_relationship_to_you": rng.choice(("friend", "coworker", "stranger")),
        "kickoff_prose": _sentence(rng, 10, 30),
    }


class _World:
    """The ids written so far, so later events can refer to things that exist."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.turn_no = 0
        self.msg_no = 0
        self.mem_no = 0
        self.memories: list[str] = []
        self.chats: dict[str, list[str]] = {}
        self.recent_turns: dict[str, list[str]] = {}
        self.last_reply: dict[str, str] = {}


def realistic_events(count: int, *, seed: int = 7, rewinds: bool = True) -> Iterator[NewEvent]:
    """Yield exactly ``count`` valid events of a realistic mix (see the module docstring)."""
    yield from itertools.islice(_stream(_World(seed), rewinds), count)


def _stream(world: _World, rewinds: bool) -> Iterator[NewEvent]:
    rng = world.rng
    for bot_id in BOTS:
        yield NewEvent("bot_authored", _bot(bot_id, rng), actor="user")
    for i, name in enumerate(PLACES + PEOPLE):
        kind = "place" if i < len(PLACES) else "person"
        yield NewEvent(
            "entity_added",
            {"id": name, "kind": kind, "name": name.capitalize(), "description": _sentence(rng, 5, 15)},
            actor="model",
        )
    chat_no = 0
    while True:
        if chat_no < 4 or rng.random() < 0.002:
            chat_id = f"chat-{chat_no}"
            chat_no += 1
            bots = rng.sample(BOTS, rng.choice((1, 2, 2, 3)))
            world.chats[chat_id] = bots
            yield NewEvent("chat_created", {"id": chat_id, "title": f"Chat {chat_no}", "bot_ids": bots},
                           chat_id=chat_id, actor="user")
            continue
        chat_id = rng.choice(list(world.chats))
        roll = rng.random()
        if rewinds and roll < 0.0015 and len(world.recent_turns.get(chat_id, [])) >= 2:
            yield from _rewind(world, chat_id)
        elif roll < 0.03:
            yield from _manual_edit(world)
        elif roll < 0.045 and world.last_reply.get(chat_id):
            yield from _message_change(world, chat_id)
        else:
            yield from _turn(world, chat_id, regenerate=roll < 0.09 and chat_id in world.last_reply)


def _turn(world: _World, chat_id: str, *, regenerate: bool) -> Iterator[NewEvent]:
    rng = world.rng
    world.turn_no += 1
    turn_id = f"t{world.turn_no}"
    bots = world.chats[chat_id]
    queued: dict = {"id": turn_id, "chat_id": chat_id, "kind": "regenerate" if regenerate else "message"}
    user_message = None
    if regenerate:
        queued["regenerate_group"] = world.last_reply[chat_id]
    else:
        world.msg_no += 1
        user_message = f"m{world.msg_no}"
        queued["user_message_id"] = user_message
    yield NewEvent("turn_queued", queued, chat_id=chat_id, turn_id=turn_id, actor="user")
    if user_message is not None:
        yield NewEvent(
            "message_posted",
            {"id": user_message, "chat_id": chat_id, "author": "you", "text": _sentence(rng, 5, 30)},
            chat_id=chat_id, turn_id=turn_id, actor="user",
        )
    yield NewEvent("turn_started", {"id": turn_id}, chat_id=chat_id, turn_id=turn_id)
    replies = 1 if regenerate or rng.random() < 0.25 else 2  # max_replies_per_turn defaults to 2
    speakers = [bots[0]] if regenerate else rng.sample(bots, min(len(bots), replies))
    replies = []
    for bot_id in speakers:
        world.msg_no += 1
        reply = f"m{world.msg_no}"
        payload: dict = {
            "id": reply, "chat_id": chat_id, "author": bot_id, "text": _sentence(rng, 15, 60),
            "retrieved_memory_ids": rng.sample(world.memories, min(len(world.memories), 3)),
        }
        if regenerate:
            payload["alt_group"] = world.last_reply[chat_id]
        else:
            world.last_reply[chat_id] = reply
        replies.append(reply)
        yield NewEvent("message_posted", payload, chat_id=chat_id, turn_id=turn_id, actor="model")
        if rng.random() < 0.05:
            yield NewEvent("prompt_recorded", {
                "message_id": reply, "bot_id": bot_id,
                "messages": [{"role": "system", "content": _sentence(rng, 40, 80)},
                             {"role": "user", "content": _sentence(rng, 5, 30)}],
            }, chat_id=chat_id, turn_id=turn_id, actor="system")
    yield from _extraction(world, chat_id, turn_id, speakers)
    yield NewEvent("turn_completed", {"id": turn_id, "message_ids": replies},
                   chat_id=chat_id, turn_id=turn_id)
    world.recent_turns.setdefault(chat_id, []).append(turn_id)
    del world.recent_turns[chat_id][:-6]


def _extraction(world: _World, chat_id: str, turn_id: str, speakers: list[str]) -> Iterator[NewEvent]:
    rng = world.rng
    for bot_id in speakers:
        for _ in range(rng.choice((1, 1, 1, 2))):
            world.mem_no += 1
            memory_id = f"mem{world.mem_no}"
            world.memories.append(memory_id)
            yield NewEvent("memory_added", {
                "id": memory_id, "owner": bot_id, "text": _sentence(rng, 8, 25),
                "kind": "observation", "importance": rng.randint(1, 10),
                "about": rng.sample(PEOPLE + PLACES, rng.randint(0, 2)),
            }, chat_id=chat_id, turn_id=turn_id, actor="model")
        if rng.random() < 0.35:
            dst = rng.choice(("you", *PEOPLE, *(b for b in BOTS if b != bot_id)))
            yield NewEvent("edge_changed", {
                "src": bot_id, "dst": dst, "affinity_delta": rng.randint(-10, 10),
                "trust_delta": rng.randint(-10, 10),
                **({"label": rng.choice(("friend", "rival", "ally"))} if rng.random() < 0.1 else {}),
            }, chat_id=chat_id, turn_id=turn_id, actor="model")
    if rng.random() < 0.12:
        yield NewEvent("world_fact_set", {"key": rng.choice(WORLD_KEYS), "value": _sentence(rng, 2, 8)},
                       chat_id=chat_id, turn_id=turn_id, actor="model")
    if rng.random() < 0.04:
        yield NewEvent("scene_changed", {"chat_id": chat_id, "location": rng.choice(PLACES)},
                       chat_id=chat_id, turn_id=turn_id, actor="model")
    if rng.random() < 0.02:
        bot_id = rng.choice(speakers)
        world.mem_no += 1
        memory_id = f"mem{world.mem_no}"
        world.memories.append(memory_id)
        yield NewEvent("memory_added", {
            "id": memory_id, "owner": bot_id, "text": _sentence(rng, 10, 30), "kind": "reflection",
            "importance": rng.randint(5, 10),
        }, chat_id=chat_id, turn_id=turn_id, actor="model")
        yield NewEvent("reflection_recorded", {"bot_id": bot_id, "memory_ids": [memory_id]},
                       chat_id=chat_id, turn_id=turn_id, actor="model")


def _manual_edit(world: _World) -> Iterator[NewEvent]:
    rng = world.rng
    choice = rng.random()
    if choice < 0.4 and world.memories:
        target = ("memory", rng.choice(world.memories), "importance", rng.randint(1, 10))
    elif choice < 0.7:
        bot_id = rng.choice(BOTS)
        target = ("edge", f"{bot_id}/you", "affinity", rng.randint(-100, 100))
    elif choice < 0.85:
        target = ("world", rng.choice(WORLD_KEYS), "value", _sentence(rng, 2, 6))
    elif choice < 0.95:
        target = ("entity", rng.choice(PEOPLE), "description", _sentence(rng, 5, 15))
    else:
        yield NewEvent("bot_revised", {"id": rng.choice(BOTS), "changes": {"persona": _sentence(rng, 20, 40)}},
                       actor="user")
        return
    kind, target_id, field, value = target
    yield NewEvent("manual_edit", {"target_type": kind, "target_id": target_id, "field": field,
                                   "action": "set", "value": value, "previous": None}, actor="user")


def _message_change(world: _World, chat_id: str) -> Iterator[NewEvent]:
    rng = world.rng
    message_id = world.last_reply[chat_id]
    if rng.random() < 0.8:
        yield NewEvent("message_edited", {"id": message_id, "text": _sentence(rng, 10, 40)},
                       chat_id=chat_id, actor="user")
    else:
        yield NewEvent("alternative_chosen", {"alt_group": message_id, "message_id": message_id},
                       chat_id=chat_id, actor="user")


def _rewind(world: _World, chat_id: str) -> Iterator[NewEvent]:
    recent = world.recent_turns[chat_id]
    reverted = recent[-world.rng.randint(1, 2):]
    del recent[-len(reverted):]
    world.last_reply.pop(chat_id, None)
    yield NewEvent("turns_reverted", {"chat_id": chat_id, "turn_ids": reverted},
                   chat_id=chat_id, actor="user")
