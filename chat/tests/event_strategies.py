"""Hypothesis strategies: random sequences of valid events across every projected kind (§14.3).

The sequences are what services could write: ids of new things are unique,
references may point at things that exist, never existed, or were reverted;
any event may carry the id of a turn (open, finished or already reverted), so
late events of reverted turns, re-queued turns and rewinds of rewinds all
occur. Small id pools make events collide on the same items often.

Several worlds (§3.5): world-scoped events name a world, or none (then their chat's, or
``default``); a turn's events always belong to its chat's world, as the services write them,
and a reply recalls only memories of its own world. Bots join several worlds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from chat.eventlog.log import NewEvent

BOT_POOL = ("ada", "bram", "cleo")
ENTITY_POOL = ("harbour", "mara", "ada", "you")
KEYS = ("weather", "time", "date")
WORLD_POOL = ("default", "w1", "w2")
GLOBAL_KINDS = frozenset({
    "bot_authored", "bot_revised", "bot_retired", "chat_created", "world_created", "world_renamed",
    "world_scenario_set", "world_archived", "world_restored", "world_joined", "persona_set",
    "persona_cleared", "lore_set",
})
"""Kinds the services never write inside a turn (nor a manual edit of a bot's fields:
edits come from the user, outside turns, and a bot's definition belongs to no world)."""
WORLD_SCOPED = frozenset({
    "entity_added", "entity_updated", "edge_changed", "memory_added", "world_fact_set",
    "world_fact_deleted", "manual_edit", "reflection_recorded",
})
TEXT = st.text(alphabet="abc xyz", min_size=1, max_size=12).filter(lambda s: s.strip() != "")
LORE = st.lists(
    st.fixed_dictionaries({"keys": st.lists(st.sampled_from(("reef", "fog")), max_size=2), "content": TEXT}),
    max_size=2,
)
"""A book: lore is per world (a bot's book there, or the world's own), §3.5."""


class _Log:
    def __init__(self) -> None:
        self.events: list[NewEvent] = []
        self.bots: list[str] = []
        self.chats: list[str] = []
        self.messages: list[str] = []
        self.memories: list[str] = []
        self.chapters: list[str] = []
        self.turns: list[tuple[str, str]] = []  # (turn id, chat id)
        self.chat_worlds: dict[str, str] = {}
        self.message_chats: dict[str, str | None] = {}
        self.memory_worlds: dict[str, str] = {}
        self.counter = 0

    def world_of_chat(self, chat_id: str | None) -> str:
        return self.chat_worlds.get(chat_id or "", "default")

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def chat(self, draw: Any) -> str:
        return draw(st.sampled_from(self.chats)) if self.chats else "nochat"


def _bot_payload(draw: Any, bot_id: str) -> dict:
    return {
        "id": bot_id,
        "name": draw(TEXT),
        "persona": draw(st.text(max_size=20)),
        "traits": draw(st.lists(st.sampled_from(("shy", "bold")), max_size=2)),
        "initial_relationship_to_you": draw(st.sampled_from(("friend", "rival"))),
        "talkativeness": draw(st.sampled_from((0.1, 0.5, 1.0))),
        "lore": draw(LORE),  # the card's book: its world's, and copied into each world it joins
    }


def _manual_edit(draw: Any, log: _Log) -> dict:
    target = draw(st.sampled_from(("entity", "edge", "memory", "world", "bot", "chapter")))
    action = draw(st.sampled_from(("set", "set", "set", "unpin", "delete")))
    if target == "entity":
        target_id = draw(st.sampled_from(ENTITY_POOL))
        field, value = draw(st.sampled_from((
            ("name", "Renamed"), ("description", "edited"), ("aliases", ["al"]),
            ("facts", {"eyes": "grey"}), ("kind", "place"),
        )))
    elif target == "edge":
        target_id = f"{draw(st.sampled_from(ENTITY_POOL))}/{draw(st.sampled_from(ENTITY_POOL))}"
        field = draw(st.sampled_from(("label", "affinity", "trust", "notes")))
        value = draw(st.integers(-100, 100)) if field in ("affinity", "trust") else "edited"
    elif target == "memory":
        target_id = draw(st.sampled_from(log.memories)) if log.memories else "nomem"
        field, value = draw(st.sampled_from((("text", "edited"), ("importance", 9), ("about", ["mara"]),
                                             ("superseded_by", "newer"))))
        if field == "superseded_by":  # another memory (that a rewind may take away), or one gone
            value = draw(st.sampled_from(log.memories)) if log.memories else "nomem"
    elif target == "world":
        target_id, field, value = draw(st.sampled_from(KEYS)), "value", draw(TEXT)
    elif target == "chapter":
        target_id = draw(st.sampled_from(log.chapters)) if log.chapters else "nochap"
        field, value = "text", draw(TEXT)
    else:
        target_id = draw(st.sampled_from(BOT_POOL))
        field, value = draw(st.sampled_from((("persona", "new persona"), ("name", "Newname"),
                                             ("talkativeness", 0.9), ("tags", ["x"]))))
    if action == "delete" and target not in ("memory", "world"):
        action = "set"
    if action != "set":
        value = None
    return {"target_type": target, "target_id": target_id, "field": field, "action": action,
            "value": value, "previous": None}


def _chapter(draw: Any, log: _Log) -> dict:
    """A new chapter, or the text of one written again (kept when a person pinned it)."""
    if log.chapters and draw(st.integers(0, 3)) == 0:
        chapter_id = draw(st.sampled_from(log.chapters))
    else:
        chapter_id = log.new_id("chap")
        log.chapters.append(chapter_id)
    return {"id": chapter_id, "chat_id": log.chat(draw),
            "first_message_id": draw(st.sampled_from(log.messages)) if log.messages else "m0",
            "last_message_id": draw(st.sampled_from(log.messages)) if log.messages else "m0",
            "message_count": draw(st.integers(1, 30)), "text": draw(TEXT),
            "owners": draw(st.lists(st.sampled_from(BOT_POOL), min_size=1, max_size=3, unique=True))}


def _event(draw: Any, log: _Log) -> tuple[str, dict] | None:
    """One (kind, payload), or None when the drawn operation has nothing to act on."""
    op = draw(st.sampled_from((
        "bot", "bot_revised", "bot_retired", "entity", "entity_updated", "edge", "edge",
        "memory", "memory", "reflection", "world", "world_deleted", "scene", "manual", "manual",
        "chat", "chat", "chat", "message", "message", "message_edited", "message_deleted", "alternative",
        "turn", "turn_step", "revert", "revert", "log_only", "world_op", "world_op", "persona",
        "lore", "chapter",
    )))
    if op == "lore":
        payload = {"world_id": draw(st.sampled_from(WORLD_POOL)), "entries": draw(LORE)}
        bot = draw(st.sampled_from((None, *BOT_POOL)))
        return "lore_set", payload if bot is None else {**payload, "bot_id": bot}
    if op == "chapter":
        return "chapter_written", _chapter(draw, log)
    if op == "world_op":
        world_id = draw(st.sampled_from(WORLD_POOL))
        kind = draw(st.sampled_from(("world_created", "world_renamed", "world_scenario_set",
                                     "world_archived", "world_restored", "world_joined")))
        if kind == "world_joined":
            return kind, {"world_id": world_id, "bot_id": draw(st.sampled_from(BOT_POOL))}
        if kind in ("world_created", "world_renamed"):
            return kind, {"id": world_id, "name": draw(TEXT)}
        if kind == "world_scenario_set":
            return kind, {"id": world_id, "scenario": draw(TEXT)}
        return kind, {"id": world_id}
    if op == "persona":
        payload = {"name": draw(TEXT)}
        scope = draw(st.sampled_from((None, *WORLD_POOL)))
        if scope is not None:
            payload["world_id"] = scope
            if draw(st.booleans()):
                return "persona_cleared", {"world_id": scope}
        return "persona_set", payload
    if op == "bot":
        free = [b for b in BOT_POOL if b not in log.bots]
        if not free:
            return None
        bot_id = draw(st.sampled_from(free))
        log.bots.append(bot_id)
        return "bot_authored", _bot_payload(draw, bot_id)
    if op == "bot_revised":
        changes = draw(st.sampled_from(({"persona": "p2"}, {"name": "Nm"}, {"tags": ["t"]},
                                        {"lore": [{"keys": ["fog"], "content": "c"}]})))
        return "bot_revised", {"id": draw(st.sampled_from(BOT_POOL)), "changes": changes}
    if op == "bot_retired":
        return "bot_retired", {"id": draw(st.sampled_from(BOT_POOL))}
    if op == "entity":
        return "entity_added", {"id": draw(st.sampled_from(ENTITY_POOL[:3])), "name": draw(TEXT),
                                "kind": draw(st.sampled_from(("person", "place"))),
                                "facts": draw(st.sampled_from(({}, {"hair": "red"})))}
    if op == "entity_updated":
        return "entity_updated", {"id": draw(st.sampled_from(ENTITY_POOL)),
                                  "description": draw(TEXT), "facts": {"age": "30"}}
    if op == "edge":
        payload: dict = {"src": draw(st.sampled_from(ENTITY_POOL)), "dst": draw(st.sampled_from(ENTITY_POOL)),
                         "affinity_delta": draw(st.integers(-10, 10)), "trust_delta": draw(st.integers(-10, 10))}
        if draw(st.booleans()):
            payload["label"] = draw(st.sampled_from(("friend", "ally")))
        return "edge_changed", payload
    if op == "memory":
        memory_id = log.new_id("mem")
        log.memories.append(memory_id)
        return "memory_added", {"id": memory_id, "owner": draw(st.sampled_from(BOT_POOL)),
                                "text": draw(TEXT), "importance": draw(st.integers(1, 10)),
                                "kind": draw(st.sampled_from(("observation", "fact", "reflection"))),
                                "about": draw(st.lists(st.sampled_from(ENTITY_POOL), max_size=2))}
    if op == "reflection":
        return "reflection_recorded", {"bot_id": draw(st.sampled_from(BOT_POOL)), "memory_ids": []}
    if op == "world":
        return "world_fact_set", {"key": draw(st.sampled_from(KEYS)), "value": draw(TEXT)}
    if op == "world_deleted":
        return "world_fact_deleted", {"key": draw(st.sampled_from(KEYS))}
    if op == "scene":
        return "scene_changed", {"chat_id": log.chat(draw), "location": draw(st.sampled_from(("inn", "sea"))),
                                 "present": draw(st.lists(st.sampled_from(ENTITY_POOL), max_size=2))}
    if op == "manual":
        return "manual_edit", _manual_edit(draw, log)
    if op == "chat":
        chat_id = log.new_id("chat")
        log.chats.append(chat_id)
        payload = {"id": chat_id, "title": "T", "bot_ids": [draw(st.sampled_from(BOT_POOL))]}
        world_id = draw(st.sampled_from((None, *WORLD_POOL)))
        if world_id is not None:
            payload["world_id"] = world_id
        log.chat_worlds[chat_id] = world_id or "default"
        return "chat_created", payload
    if op == "message":
        message_id = log.new_id("msg-")  # as real ids are: the recalled short form needs "obs:msg-"
        chat_id = log.chat(draw)
        recallable = [m for m in log.memories if log.memory_worlds.get(m) == log.world_of_chat(chat_id)]
        recallable += [f"obs:{m}:ada" for m in log.messages if log.message_chats.get(m) == chat_id]  # short form
        payload = {"id": message_id, "chat_id": chat_id, "author": draw(st.sampled_from(("you", "ada"))),
                   "text": draw(TEXT),
                   "retrieved_memory_ids": draw(st.lists(st.sampled_from(recallable), max_size=2))
                   if recallable else []}
        if log.messages and draw(st.booleans()):
            payload["alt_group"] = draw(st.sampled_from(log.messages))
        log.messages.append(message_id)
        return "message_posted", payload
    if op in ("message_edited", "message_deleted", "alternative"):
        if not log.messages:
            return None
        message_id = draw(st.sampled_from(log.messages))
        if op == "message_edited":
            return "message_edited", {"id": message_id, "text": draw(TEXT)}
        if op == "message_deleted":
            return "message_deleted", {"id": message_id}
        return "alternative_chosen", {"alt_group": draw(st.sampled_from(log.messages)), "message_id": message_id}
    if op == "turn":
        if log.turns and draw(st.booleans()):  # a retry re-queues a known turn
            turn_id, chat_id = draw(st.sampled_from(log.turns))
            return "turn_queued", {"id": turn_id, "chat_id": chat_id, "kind": "retry"}
        turn_id, chat_id = log.new_id("turn"), log.chat(draw)
        log.turns.append((turn_id, chat_id))
        return "turn_queued", {"id": turn_id, "chat_id": chat_id}
    if op == "turn_step":
        if not log.turns:
            return None
        turn_id, _chat = draw(st.sampled_from(log.turns))
        step = draw(st.sampled_from(("turn_started", "turn_completed", "turn_failed")))
        payload = {"id": turn_id}
        if step == "turn_completed":
            payload["message_ids"] = log.messages[-1:]
        if step == "turn_failed":
            payload["reason"] = "model timed out"
        return step, payload
    if op == "revert":
        if not log.turns:
            return None
        turns = draw(st.lists(st.sampled_from(log.turns), min_size=1, max_size=3, unique=True))
        return "turns_reverted", {"chat_id": turns[0][1], "turn_ids": [t for t, _ in turns]}
    return draw(st.sampled_from((
        ("prompt_recorded", {"bot_id": "ada", "messages": [{"role": "user", "content": "hi"}]}),
        ("proposal_dropped", {"reason": "unknown entity", "proposal": {"id": "zz"}}),
    )))


def _in_chat(log: _Log, kind: str, payload: dict, chat_id: str) -> bool:
    """False when the event names a message of another chat: a turn never touches those
    (it would reach into another chat's world, §3.5)."""
    named = {
        "message_posted": [payload.get("alt_group")],
        "message_edited": [payload.get("id")],
        "message_deleted": [payload.get("id")],
        "alternative_chosen": [payload.get("alt_group"), payload.get("message_id")],
    }.get(kind, [])
    return all(log.message_chats.get(m) == chat_id for m in named if m)


@st.composite
def event_sequences(draw: Any, max_size: int = 45) -> list[NewEvent]:
    """A list of valid events; many carry the id of some turn (see the module docstring)."""
    log = _Log()
    size = draw(st.integers(1, max_size))
    while len(log.events) < size:
        drawn = _event(draw, log)
        if drawn is None:
            continue
        kind, payload = drawn
        turn_id = chat_id = None
        if kind in WORLD_SCOPED and draw(st.integers(0, 2)) == 0:
            payload = {**payload, "world_id": draw(st.sampled_from(WORLD_POOL))}
        if kind in ("turn_queued", "turn_started", "turn_completed", "turn_failed"):
            turn_id = payload["id"]
            chat_id = next((c for t, c in log.turns if t == turn_id), None)
        elif (
            log.turns and kind not in GLOBAL_KINDS and kind != "turns_reverted"
            and not (kind == "manual_edit" and payload.get("target_type") == "bot")  # bots are global
            and draw(st.integers(0, 2)) > 0
            and _in_chat(log, kind, payload, (turn := draw(st.sampled_from(log.turns)))[1])
        ):  # fmt: skip
            turn_id, chat_id = turn
            payload = {k: v for k, v in payload.items() if k != "world_id"}  # the turn's chat's world
            if kind in ("message_posted", "scene_changed", "chapter_written"):  # its own chat
                payload["chat_id"] = chat_id
            if kind == "message_posted":
                world = log.world_of_chat(chat_id)
                payload["retrieved_memory_ids"] = [
                    m for m in payload["retrieved_memory_ids"]
                    if (log.memory_worlds.get(m) == world if not m.startswith("obs:")
                        else log.message_chats.get(m.split(":")[1]) == chat_id)
                ]
        elif kind in WORLD_SCOPED and "world_id" not in payload and log.chats and draw(st.booleans()):
            chat_id = log.chat(draw)
        if kind in ("message_posted", "scene_changed", "turns_reverted", "turn_queued", "chapter_written"):
            chat_id = payload["chat_id"]
        if kind == "message_posted":
            log.message_chats[payload["id"]] = chat_id
        if kind == "memory_added":
            log.memory_worlds[payload["id"]] = payload.get("world_id") or log.world_of_chat(chat_id)
        actor = draw(st.sampled_from(("user", "model", "system")))
        log.events.append(NewEvent(kind, payload, chat_id=chat_id, turn_id=turn_id, actor=actor))
    return log.events
