"""The review tray (§5.5): extraction proposals that wait for the user.

With ``extraction_review`` on (by default with the bundled model), the changes that
pass the sense checks are not applied at once: each becomes a ``proposal_queued``
event holding the event it would be. The user accepts or rejects each (or all);
accepting appends exactly that event, carrying the turn id, as if it had been
applied then, plus a ``proposal_reviewed`` saying so; rejecting appends only the
``proposal_reviewed`` (logged, nothing changes). Both kinds live in the log only:
what is pending is read from it, so a rewind of the turn takes its proposals away
with everything else.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from chat.errors import Conflict, NotFound, ValidationFailed
from chat.eventlog.log import NewEvent
from chat.state.manual_edit import FIELD_RULES, is_pinned
from chat.state.memory import get_memory
from chat.state.worlds import chat_world
from chat.world.chats import require_writable_chat
from chat.world.ids import new_id

REVIEWED_KINDS = ("entity_added", "entity_updated", "edge_changed", "memory_added", "world_fact_set", "scene_changed")


def review_on(setting: bool | None, backend_name: str) -> bool:
    """The ``extraction_review`` setting; unset means on with the bundled (embedded) model."""
    return setting if setting is not None else backend_name == "embedded"


def summary(kind: str, payload: dict[str, Any], name: Callable[[str], str] = str) -> str:
    """One line a person can judge the proposal by; ``name`` gives an id's name."""
    if kind == "memory_added":
        return f"{name(payload['owner'])} remembers: {payload['text']}"
    if kind == "edge_changed":
        parts = [f"affinity {payload.get('affinity_delta', 0):+d}", f"trust {payload.get('trust_delta', 0):+d}"]
        parts += [f"{k} {payload[k]!r}" for k in ("label", "notes") if payload.get(k)]
        return f"{name(payload['src'])} → {name(payload['dst'])}: " + ", ".join(parts)
    if kind == "world_fact_set":
        return f"world: {payload['key']} = {payload['value']}"
    if kind == "scene_changed":
        parts = [f"location {payload['location']!r}"] if payload.get("location") is not None else []
        present = payload.get("present")
        parts += [f"present {', '.join(name(i) for i in present) or 'nobody'}"] if present is not None else []
        return "scene: " + "; ".join(parts)
    if kind == "entity_added":
        return f"new {payload['kind']}: {payload['name']}" + (f" — {payload['description']}" if payload.get("description") else "")
    changed = ", ".join(k for k, v in payload.items() if k != "id" and v is not None)
    return f"{name(payload['id'])}: update {changed}"


def hold_for_review(events: list[NewEvent], waiting: Collection[str] = ()) -> list[NewEvent]:
    """``events`` with each world change replaced by a ``proposal_queued`` holding it,
    less the changes the tray already holds or the person rejected (``waiting``,
    `waiting_changes`): the same world fact, entity or scene proposed again the next turn
    is one card, not one a turn. Relationship changes are each their own (each turn's
    nudge adds up). A new memory that supersedes an older one carries it (``supersedes``):
    the mark is appended when the memory is accepted, never before (it left the older
    memory unrecalled, superseded by a memory that might never exist)."""
    held = []
    seen = set(waiting)
    held_memories = {e.payload.get("id") for e in events if e.kind == "memory_added"}
    replaces = {e.payload["superseded_by"]: e.payload["id"] for e in events
                if e.kind == "memory_superseded" and e.payload.get("superseded_by") in held_memories}  # fmt: skip
    for event in events:
        if event.kind == "memory_superseded" and event.payload.get("superseded_by") in replaces:
            continue  # held with its memory
        if event.kind not in REVIEWED_KINDS:
            held.append(event)
            continue
        same = _change_key(event.kind, event.payload)
        if same is not None and same in seen:
            continue
        if same is not None:
            seen.add(same)
        try:
            line = summary(event.kind, event.payload)
        except (KeyError, TypeError, ValueError):  # a summary must never fail a turn
            line = event.kind.replace("_", " ")
        payload = {"id": new_id("prop"), "kind": event.kind, "payload": event.payload, "summary": line[:500]}
        if event.kind == "memory_added" and event.payload.get("id") in replaces:
            payload["supersedes"] = replaces[event.payload["id"]]
        held.append(NewEvent("proposal_queued", payload, chat_id=event.chat_id, turn_id=event.turn_id, actor="model"))
    return held


def _change_key(kind: str, payload: dict[str, Any]) -> str | None:
    """What makes two proposed changes the same change (a memory's new id aside); None
    for relationship changes, which are never the same."""
    if kind == "edge_changed":
        return None
    return json.dumps([kind, {k: v for k, v in payload.items() if not (kind == "memory_added" and k == "id")}],
                      sort_keys=True)  # fmt: skip


def waiting_changes(conn: sqlite3.Connection, chat_id: str) -> set[str]:
    """The changes waiting in the tray for the chats of ``chat_id``'s world, or rejected
    there (`_change_key`): neither is offered again."""
    rows = conn.execute(
        "SELECT e.payload FROM events e JOIN turns t ON t.id = e.turn_id JOIN chats c ON c.id = e.chat_id"
        " WHERE e.kind = 'proposal_queued' AND t.status != 'reverted' AND c.world_id = ?"
        f" AND json_extract(e.payload, '$.id') NOT IN ({ACCEPTED})",  # noqa: S608
        (chat_world(conn, chat_id) or "default",),
    ).fetchall()
    keys = set()
    for (payload,) in rows:
        held = json.loads(payload)
        key = _change_key(str(held.get("kind", "")), held.get("payload") or {})
        if key is not None:
            keys.add(key)
    return keys


REVIEWED = (
    "SELECT json_extract(r.payload, '$.proposal_id') FROM events r WHERE r.kind = 'proposal_reviewed'"
    " AND json_extract(r.payload, '$.proposal_id') IS NOT NULL"
)
"""The ids of the reviewed proposals. Asked with ``NOT IN``, not a correlated ``NOT
EXISTS``: SQLite reads it once instead of once per queued proposal (3.3 s a turn at 3,000
proposals against 11 ms, measured by the session-26 review)."""
ACCEPTED = REVIEWED + " AND json_extract(r.payload, '$.decision') = 'accepted'"


def pending(conn: sqlite3.Connection, chat_id: str | None = None) -> list[dict[str, Any]]:
    """Proposals that wait for a decision, oldest first: ``{id, kind, payload, summary,
    chat_id, turn_id, event_id, created_at}``; those of reverted turns are gone."""
    rows = _waiting_rows(conn, chat_id)
    out = []
    namers: dict[str, Callable[[str], str]] = {}
    for event_id, payload, chat, turn, at in rows:
        held = json.loads(payload)
        world = chat_world(conn, chat) or "default"
        if world not in namers:
            namers[world] = _namer(conn, world)
        with contextlib.suppress(KeyError, TypeError, ValueError):  # else the stored line stands
            held["summary"] = summary(held["kind"], held["payload"], namers[world])[:500]
        if held.get("supersedes"):
            older = get_memory(conn, held["supersedes"])
            held["summary"] = (held["summary"] + (f" (instead of: {older['text'][:120]})" if older else ""))[:500]
        out.append({**held, "chat_id": chat, "turn_id": turn, "event_id": event_id, "created_at": at})
    return out


def proposed_memories(conn: sqlite3.Connection, world_id: str, *, limit: int) -> dict[str, list[str]]:
    """The texts of the newest ``limit`` memories proposed in ``world_id``'s chats, by
    owner, whether they wait in the tray or were reviewed: what extraction compares a new
    memory with besides the stored ones. A small model says the same thing turn after
    turn; it is queued once, and one the person rejected is not offered again."""
    rows = conn.execute(
        "SELECT json_extract(e.payload, '$.payload.owner'), json_extract(e.payload, '$.payload.text')"
        " FROM events e JOIN turns t ON t.id = e.turn_id JOIN chats c ON c.id = e.chat_id"
        " WHERE e.kind = 'proposal_queued' AND t.status != 'reverted' AND c.world_id = ?"
        " AND json_extract(e.payload, '$.kind') = 'memory_added' ORDER BY e.id DESC LIMIT ?",
        (world_id, limit),
    ).fetchall()
    proposed: dict[str, list[str]] = {}
    for owner, text in rows:
        if isinstance(owner, str) and isinstance(text, str):
            proposed.setdefault(owner, []).append(text)
    return proposed


def _waiting_rows(conn: sqlite3.Connection, chat_id: str | None) -> list[tuple]:
    """(event id, payload, chat id, turn id, created at) of the proposals that wait."""
    where = "AND e.chat_id = ?" if chat_id is not None else ""
    return conn.execute(
        "SELECT e.id, e.payload, e.chat_id, e.turn_id, e.created_at FROM events e"
        " JOIN turns t ON t.id = e.turn_id WHERE e.kind = 'proposal_queued' AND t.status != 'reverted'"
        f" {where} AND json_extract(e.payload, '$.id') NOT IN ({REVIEWED}) ORDER BY e.id",  # noqa: S608
        (chat_id,) if chat_id is not None else (),
    ).fetchall()


def _namer(conn: sqlite3.Connection, world_id: str) -> Callable[[str], str]:
    """Names for the ids a proposal holds, as they stand now: bots by their name, the
    world's entities (``you`` among them: the persona) by theirs. The tray said "mara
    remembers" (and a scene's "present mara, tobias") where the person knows Mara. A
    name that two ids share gets the id beside it, as the page's bot lists do
    (``botLabel``): a card imported twice makes two bots of one name."""
    names = dict(conn.execute("SELECT id, name FROM entities WHERE world_id = ?", (world_id,)))
    names.update(conn.execute("SELECT id, name FROM bots"))
    shared = Counter(name for name in names.values() if name)
    return lambda key: _label(key, names.get(key), shared)


def _label(key: str, name: str | None, shared: Counter[str]) -> str:
    if not name:
        return key
    return f"{name} ({key})" if shared[name] > 1 else name


def edited_text(text: Any) -> str:
    """A person's rewrite of a proposed memory, checked as a memory edit is (§6.3): a
    string, not blank, within the memory text limit; its spacing made one line as
    extraction makes the model's. ValidationFailed names ``text``."""
    try:
        return " ".join(str(FIELD_RULES["memory"]["text"](text)).split())
    except ValueError as exc:
        raise ValidationFailed(f"text {exc}", field="text") from None


def review_events(
    conn: sqlite3.Connection,
    proposal_ids: list[str],
    decision: str,
    *,
    chat_id: str | None = None,
    text: str | None = None,
) -> list[NewEvent]:
    """The events that accept or reject ``proposal_ids`` (all pending of the chat when empty).

    ``text`` accepts one proposed memory with the user's wording instead of the model's:
    the same ``memory_added`` with the same turn id, only the text differs (the tray's
    Edit). NotFound for an id that is not pending (decided already, reverted, or never
    was); ValidationFailed naming ``text`` for text anywhere else or a bad text."""
    if decision not in ("accepted", "rejected"):
        raise Conflict(f"a decision is accepted or rejected, not {decision!r}")
    if text is not None and (decision != "accepted" or len(proposal_ids) != 1):
        raise ValidationFailed("text is given only when accepting one proposed memory", field="text")
    waiting = {p["id"]: p for p in pending(conn, chat_id)}
    ids = proposal_ids or list(waiting)
    events: list[NewEvent] = []
    for proposal_id in ids:
        proposal = waiting.get(proposal_id)
        if proposal is None:
            raise NotFound(f"no pending proposal with id {proposal_id!r}", field="proposal_id")
        require_writable_chat(conn, proposal["chat_id"])  # an archived world's chat is read-only
        where = {"chat_id": proposal["chat_id"], "turn_id": proposal["turn_id"]}
        payload = proposal["payload"]
        if text is not None:
            if proposal["kind"] != "memory_added":
                raise ValidationFailed(
                    f"text edits a proposed memory; proposal {proposal_id!r} is a {proposal['kind']}", field="text"
                )
            payload = {**payload, "text": edited_text(text)}
        if decision == "accepted":  # the very event extraction would have appended; the
            # person's rewrite is theirs: history credits the words to whoever wrote them (§6.4)
            events.append(NewEvent(proposal["kind"], payload, actor="model" if text is None else "user", **where))
            older = proposal.get("supersedes")
            old = get_memory(conn, older) if older else None
            if old and not is_pinned(conn, "memory", old["id"], "superseded_by", world_id=old["world_id"]):
                mark = {"id": older, "superseded_by": payload["id"]}  # as extraction would have, after it
                events.append(NewEvent("memory_superseded", mark, actor="model", **where))
        reviewed = {"proposal_id": proposal_id, "decision": decision}
        events.append(NewEvent("proposal_reviewed", reviewed, actor="user", **where))
    return events
