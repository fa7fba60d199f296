"""State extraction after a turn (§5.5): ask once, then trust nothing.

One `complete_json` call proposes entities, edge changes, memories, world
facts and a scene change. Model output is untrusted, so every item is checked
against the current state: ids are slugged and must exist (an edge needs both
ends, a memory a bot of the chat as owner), numbers are clamped (affinity and
trust move at most ±10 per edge per turn in total, importance 1..10), pinned
fields (§6.2) are left alone. What survives becomes ordinary events carrying
the turn id with actor "model"; everything refused is logged as a
``proposal_dropped`` event saying why.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from chat.errors import KithError
from chat.eventlog.log import NewEvent
from chat.eventlog.schemas import ENTITY_KINDS, WORLD_SCOPED_KINDS, validate_payload
from chat.llm.jsonutil import end_cut_string
from chat.llm.schemas import ExtractionProposal
from chat.memory.extraction_request import (  # noqa: F401 - callers import it from here
    MAX_KNOWN_ENTITIES,
    extraction_request,
)
from chat.memory.review import proposed_memories
from chat.memory.sense import SenseChecks, line_of_this_turn
from chat.state.chats import turn_replies
from chat.state.edges import edge_key, get_edge
from chat.state.entities import entity_names, get_entity
from chat.state.manual_edit import is_pinned
from chat.state.memory import get_memory, recent_texts
from chat.state.world import get_fact, get_scene
from chat.state.worlds import chat_world
from chat.world.chats import user_name as persona_name
from chat.world.ids import new_id
from chat.world.slugs import slugify

MAX_DELTA = 10
MEMORIES_COMPARED = 300
"""How many of a bot's latest memories a new one is compared with for repeats."""


@dataclass
class Extraction:
    """The events to append and how much importance each bot's new memories add up to."""

    events: list[NewEvent] = field(default_factory=list)
    importance: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    dropped: int = 0


def _world(conn: sqlite3.Connection, chat_id: str) -> str:
    """The chat's world: extraction only ever sees and changes that one (§3.5)."""
    return chat_world(conn, chat_id) or "default"


def _witnesses_of_turn(conn: sqlite3.Connection, turn_id: str) -> set[str]:
    """Who was there for the turn's messages (§5.3.1): their authors, and each bot with a
    witnessed observation of one, i.e. present in the scene when it was posted, whatever
    the scene says now. One indexed read (messages by turn, memories by message)."""
    rows = conn.execute(
        "SELECT m.author, o.owner FROM messages m LEFT JOIN memories o"
        " ON o.message_id = m.id AND o.kind = 'observation' WHERE m.turn_id = ?",
        (turn_id,),
    )
    return {who for row in rows for who in row if who is not None}


class _Checker:
    """Turns one proposal into events, dropping (and logging) what does not hold."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        chat_id: str,
        turn_id: str,
        bots: list[dict[str, Any]],
    ) -> None:
        self.conn = conn
        self.chat_id = chat_id
        self.world_id = _world(conn, chat_id)
        self.turn_id = turn_id
        self.bot_ids = [b["id"] for b in bots]
        user = persona_name(conn, self.world_id)
        you = get_entity(conn, "you", world_id=self.world_id)
        if user == "You" and you is not None and you["name"].strip() not in ("", "You"):
            user = you["name"]  # no persona set, but the user renamed their entity
        self.aliases = {b["name"].lower(): b["id"] for b in bots}
        self.aliases.update({b["id"]: b["id"] for b in bots})
        self.aliases.setdefault(user.strip().lower(), "you")
        proposed = proposed_memories(conn, self.world_id, limit=MEMORIES_COMPARED)  # the tray's
        self.sense = SenseChecks(
            entity_names=entity_names(conn, world_id=self.world_id),
            user_name=user,
            memories={  # a witnessed observation is the message itself, not a memory to repeat
                b: recent_texts(conn, b, limit=MEMORIES_COMPARED, world_id=self.world_id)
                for b in self.bot_ids
            },
            proposed=proposed,
        )
        self.new_entities: set[str] = set()
        names = {b["id"]: b["name"] for b in bots}
        self.said = [(m["author"], names.get(m["author"], m["author"]), m["text"]) for m in turn_replies(conn, turn_id)]
        self.present = _witnesses_of_turn(conn, turn_id)
        if not self.present:  # a turn with no message (none stored): the scene as it is
            scene = get_scene(conn, chat_id)
            self.present = set(scene["present"]) if scene else set(self.bot_ids)
        self.deltas: dict[tuple[str, str], list[int]] = {}
        self.result = Extraction()

    # -- helpers -----------------------------------------------------------------------

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in WORLD_SCOPED_KINDS:  # the others follow their chat's world
            payload = {**payload, "world_id": self.world_id}
        try:
            payload = validate_payload(kind, payload)
        except KithError as exc:
            self.drop(exc.message, payload)
            return
        self.result.events.append(
            NewEvent(kind, payload, chat_id=self.chat_id, turn_id=self.turn_id, actor="model")
        )
        self.result.accepted += 1

    def drop(self, reason: str, proposal: Any) -> None:
        if isinstance(proposal, dict):  # a parsed item's null is a field the model left out
            proposal = {key: value for key, value in proposal.items() if value is not None}
        self.result.events.append(
            NewEvent(
                "proposal_dropped",
                {"reason": reason[:1000], "proposal": proposal},
                chat_id=self.chat_id,
                turn_id=self.turn_id,
                actor="model",
            )
        )
        self.result.dropped += 1

    def entity_id(self, raw: str) -> str:
        text = raw.strip()
        return self.aliases.get(text.lower()) or ("you" if text.lower() in ("you", "user") else slugify(text))

    def exists(self, entity_id: str) -> bool:
        return entity_id in self.new_entities or get_entity(self.conn, entity_id, world_id=self.world_id) is not None

    def facts(self, entity_id: str, value: Any, current: dict[str, str] | None = None) -> dict[str, str]:
        """The entity facts that make sense and differ from ``current``; junk is dropped."""
        if not isinstance(value, dict):
            return {}
        kept: dict[str, str] = {}
        for key, text in list(value.items())[:50]:
            key, text = " ".join(str(key).split())[:100], " ".join(str(text).split())[:2000]
            if not key or not text:
                continue
            reason = self.sense.entity_fact(entity_id, key, text)
            if reason:
                self.drop(reason, {"entity": entity_id, "key": key, "value": text})
            elif (current or {}).get(key) != text:
                kept[key] = text
        return kept

    # -- items -------------------------------------------------------------------------

    def entity(self, item: dict[str, Any]) -> None:
        raw_id = str(item.get("id") or item.get("name") or "").strip()
        if not raw_id:
            self.drop("an entity needs an id or a name", item)
            return
        entity_id = self.entity_id(raw_id)
        kind = item.get("kind") if item.get("kind") in ENTITY_KINDS else "other"
        current = get_entity(self.conn, entity_id, world_id=self.world_id)
        if current is None and entity_id not in self.new_entities:
            if kind in ("bot", "you"):
                kind = "other"
            name = (item.get("name") or "").strip()[:120] or entity_id.replace("-", " ").title()
            payload = {
                "id": entity_id,
                "kind": kind,
                "name": name,
                "aliases": [a[:120] for a in item.get("aliases", []) if a.strip()][:30],
                "description": item.get("description", "")[:20_000],
                "facts": self.facts(entity_id, item.get("facts", {})),
            }
            before = self.result.accepted
            self.event("entity_added", payload)
            if self.result.accepted > before:
                self.new_entities.add(entity_id)
            return
        if current is None:
            return  # proposed twice in one turn: the first one stands
        changes: dict[str, Any] = {}
        wanted = {
            "name": (item.get("name") or "").strip()[:120] or None,
            "description": item.get("description") or None,
            "aliases": [a[:120] for a in item.get("aliases", []) if a.strip()][:30] or None,
            "facts": self.facts(entity_id, item.get("facts", {}), current["facts"]) or None,
            "kind": kind if item.get("kind") in ENTITY_KINDS and current["kind"] not in ("bot", "you")
            and kind not in ("bot", "you") else None,
        }
        for name, value in wanted.items():
            if value is None or value == current[name]:
                continue
            if is_pinned(self.conn, "entity", entity_id, name, world_id=self.world_id):
                self.drop(f"entity {entity_id}.{name} is pinned by a manual edit", {name: value})
                continue
            changes[name] = value
        if changes:
            self.event("entity_updated", {"id": entity_id, **changes})

    def edge(self, item: dict[str, Any]) -> None:
        src, dst = self.entity_id(item["src"]), self.entity_id(item["dst"])
        if src == dst:
            self.drop("an edge needs two different entities", item)
            return
        missing = [e for e in (src, dst) if not self.exists(e)]
        if missing:
            self.drop(f"unknown entity id(s): {', '.join(missing)}", item)
            return
        if src in self.bot_ids and src not in self.present:  # §5.3.1: it learnt nothing
            self.drop(f"relationship of {src!r}: it was not present in the scene", item)
            return
        used = self.deltas.setdefault((src, dst), [0, 0])
        payload: dict[str, Any] = {"src": src, "dst": dst}
        key = edge_key(src, dst)
        for index, name in enumerate(("affinity", "trust")):
            delta = int(item.get(f"{name}_delta") or 0)
            if delta and is_pinned(self.conn, "edge", key, name, world_id=self.world_id):
                self.drop(f"edge {key}.{name} is pinned by a manual edit", {f"{name}_delta": delta})
                delta = 0
            allowed = max(-MAX_DELTA - used[index], min(MAX_DELTA - used[index], delta))
            used[index] += allowed
            payload[f"{name}_delta"] = allowed
        for name in ("label", "notes"):
            value = item.get(name)
            if value is None or not str(value).strip():
                continue
            if is_pinned(self.conn, "edge", key, name, world_id=self.world_id):
                self.drop(f"edge {key}.{name} is pinned by a manual edit", {name: value})
                continue
            payload[name] = str(value).strip()[:200 if name == "label" else 20_000]
        current = get_edge(self.conn, src, dst, world_id=self.world_id)
        if current is not None:
            for name in ("label", "notes"):
                if payload.get(name) == current[name]:
                    payload.pop(name)
        unchanged = not payload["affinity_delta"] and not payload["trust_delta"] and len(payload) == 4
        if unchanged and current is not None:
            return  # nothing left to change
        self.event("edge_changed", payload)

    def memory(self, item: dict[str, Any]) -> None:
        owner = self.entity_id(item.get("owner", ""))
        if owner not in self.bot_ids:
            self.drop(f"memory owner {item.get('owner')!r} is not a bot of this chat", item)
            return
        if owner not in self.present:  # §5.3.1: a bot not present learns nothing
            self.drop(f"memory owner {owner!r} was not present in the scene", item)
            return
        text = " ".join(end_cut_string(str(item.get("text", ""))).split())[:4000]  # cut: as sent
        if not text:
            self.drop("a memory needs text", item)
            return
        about = []
        for raw in item.get("about", []):
            entity_id = self.entity_id(str(raw))
            if entity_id not in about and self.exists(entity_id):
                about.append(entity_id)
        reason = self.sense.memory(owner, text) or line_of_this_turn(owner, text, self.said)
        if reason:
            self.drop(reason, item)
            return
        self.sense.remember(owner, text)
        kind = item.get("kind") if item.get("kind") in ("observation", "fact") else "observation"
        importance = max(1, min(10, int(item.get("importance") or 5)))
        before = self.result.accepted
        memory_id = new_id("mem")
        self.event(
            "memory_added",
            {"id": memory_id, "owner": owner, "text": text, "kind": kind,
             "importance": importance, "about": about[:30]},
        )
        if self.result.accepted > before:
            self.result.importance[owner] = self.result.importance.get(owner, 0) + importance
            if item.get("supersedes"):
                self.supersede(owner, str(item["supersedes"]), memory_id, item)

    def supersede(self, owner: str, old_id: str, memory_id: str, item: dict[str, Any]) -> None:
        """The new memory replaces an older one of the same bot (§5.3), unless pinned."""
        old = get_memory(self.conn, old_id)
        if old is None or old["owner"] != owner:
            self.drop(f"supersedes {old_id!r}: no such memory of {owner!r}", item)
        elif is_pinned(self.conn, "memory", old_id, "superseded_by", world_id=self.world_id):
            self.drop("superseded_by is pinned by a manual edit", item)
        else:
            self.event("memory_superseded", {"id": old_id, "superseded_by": memory_id})

    def world(self, item: dict[str, Any]) -> None:
        key = " ".join(str(item.get("key", "")).split())[:100]
        value = " ".join(str(item.get("value", "")).split())[:4000]
        if not key:
            self.drop("a world fact needs a key", item)
        elif not value.strip():
            self.drop(f"world fact {key!r} needs a value", item)
        elif reason := (
            None if get_fact(self.conn, key, world_id=self.world_id) is not None else self.sense.fact_key(key)
        ) or self.sense.fact_value(key, value):
            self.drop(reason, item)  # a key the world already has stands, whatever its spelling
        elif is_pinned(self.conn, "world", key, "value", world_id=self.world_id):
            self.drop(f"world fact {key!r} is pinned by a manual edit", item)
        elif get_fact(self.conn, key, world_id=self.world_id) != value:
            self.event("world_fact_set", {"key": key, "value": value})

    def scene(self, item: dict[str, Any]) -> None:
        current = get_scene(self.conn, self.chat_id) or {"location": "", "present": []}
        payload: dict[str, Any] = {"chat_id": self.chat_id}
        location = item.get("location")
        pinned = {f for f in ("location", "present") if is_pinned(self.conn, "scene", self.chat_id, f, world_id=self.world_id)}
        for name in sorted(pinned):
            if item.get(name) is not None:
                self.drop(f"scene {name} is pinned by a manual edit", item[name])
        if "location" in pinned:
            location = None
        if location is not None and (reason := self.sense.location(str(location))):
            self.drop(reason, {"location": location})
            location = None
        if location is not None and str(location).strip()[:200] != current["location"]:
            payload["location"] = str(location).strip()[:200]
        if item.get("present") is not None and "present" not in pinned:
            present = []
            for raw in item["present"]:
                entity_id = self.entity_id(str(raw))
                if self.exists(entity_id) and entity_id not in present:
                    present.append(entity_id)
                elif not self.exists(entity_id):
                    self.drop(f"unknown entity id {entity_id!r} in the scene", raw)
            reason = self.sense.present(present, ["you"]) if present else None
            if reason:
                self.drop(reason, {"present": item["present"]})
            elif present and present != current["present"]:
                payload["present"] = present
        if len(payload) > 1:
            self.event("scene_changed", payload)


def check_proposal(
    conn: sqlite3.Connection,
    proposal: ExtractionProposal,
    *,
    chat_id: str,
    turn_id: str,
    bots: list[dict[str, Any]],
) -> Extraction:
    """The events for what holds in ``proposal``; refused items become ``proposal_dropped``."""
    checker = _Checker(conn, chat_id, turn_id, bots)
    for entity in proposal.entities:
        checker.entity(entity.model_dump())
    for edge in proposal.edges:
        checker.edge(edge.model_dump())
    for memory in proposal.memories:
        checker.memory(memory.model_dump())
    for fact in proposal.world:
        checker.world(fact.model_dump())
    if proposal.scene is not None:
        checker.scene(proposal.scene.model_dump())
    return checker.result


def failed_extraction(chat_id: str, turn_id: str, reason: str, *, call: str = "extraction") -> NewEvent:
    """The log entry for a model call after the reply (extraction, a chapter) that failed as
    a whole: the turn still succeeds, and the log says why nothing came of it."""
    return NewEvent(
        "proposal_dropped",
        {"reason": f"{call} failed: {reason}"[:1000], "proposal": None},
        chat_id=chat_id,
        turn_id=turn_id,
        actor="model",
    )
