"""What turns do to the world: extraction (§5.5), pins (§6.2), reflection (§5.6),
rewind (§4.6) and the periodic snapshot after turns (§10.4)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chat.db.connection import open_db
from chat.errors import NotFound, SnapshotFailed
from chat.eventlog.projector import canonical_dump, rebuild
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import JsonRequest
from chat.snapshots.api import load_snapshot
from chat.state.edges import get_edge
from chat.state.entities import get_entity
from chat.state.memory import importance_since_reflection, list_memories
from chat.state.world import get_scene, list_facts
from chat.tests.turn_support import MARA, events, kinds, one_to_one, running, turn

pytestmark = pytest.mark.anyio

HOSTILE_EXTRACTION: dict[str, Any] = {
    "entities": [
        {"id": "Old Harbor", "kind": "place", "name": "Old Harbor", "description": "Fog and rope."},
        {"id": "", "name": ""},
        {"id": "mara", "kind": "thing", "description": "Now a harbour pilot."},
    ],
    "edges": [
        {"src": "mara", "dst": "you", "affinity_delta": 8, "trust_delta": -30, "label": "ally"},
        {"src": "mara", "dst": "you", "affinity_delta": 8},
        {"src": "mara", "dst": "ghost", "affinity_delta": 5},
        {"src": "mara", "dst": "mara", "affinity_delta": 5},
        {"src": "mara", "dst": "old-harbor", "affinity_delta": -4, "label": "home"},
    ],
    "memories": [
        {"owner": "mara", "text": "You asked about the tide.", "importance": 99, "about": ["you", "nobody"]},
        {"owner": "Mara", "text": "Insight?", "kind": "reflection", "importance": -5},
        {"owner": "stranger", "text": "Not mine to keep."},
        {"owner": "mara", "text": "   "},
    ],
    "world": [{"key": "weather", "value": "fog"}, {"key": "  ", "value": "x"}, {"key": "You", "value": ""}],
    "scene": {"location": "Old Harbor", "present": ["you", "mara", "ghost"]},
}


def db(data_dir: Path):  # noqa: ANN201 - a context manager
    return open_db(data_dir / "kith.db")


async def test_extraction_is_validated_clamped_and_logged(data_dir: Path) -> None:
    rules = [{"match": "tide", "extraction": HOSTILE_EXTRACTION}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "How is the tide?")
    assert result["status"] == "completed"
    with db(data_dir) as conn:
        edge = get_edge(conn, "mara", "you")
        harbor = get_entity(conn, "old-harbor")
        mara = get_entity(conn, "mara")
        memories = sorted((m["text"], m["kind"], m["importance"], m["about"]) for m in list_memories(conn))
        facts = list_facts(conn)
        scene = get_scene(conn, chat["id"])
        home = get_edge(conn, "mara", "old-harbor")
    assert (edge["affinity"], edge["trust"], edge["label"]) == (10, -10, "ally")  # 8+8 -> 10; -30 -> -10
    assert harbor["kind"] == "place" and harbor["name"] == "Old Harbor"
    assert mara["kind"] == "bot" and mara["description"] == "Now a harbour pilot."
    assert (home["affinity"], home["label"]) == (-4, "home")
    assert memories == [
        ("Insight?", "observation", 1, []),
        ("You asked about the tide.", "observation", 10, ["you"]),
    ]
    assert facts == {"weather": "fog"}
    assert scene["location"] == "Old Harbor" and scene["present"] == ["you", "mara"]
    turn_events = events(data_dir, turn_id=result["id"])
    changes = [e for e in turn_events if e.kind not in ("turn_queued", "turn_started", "turn_completed")]
    assert all(e.actor == "model" for e in changes if e.kind != "prompt_recorded" and e.payload.get("author") != "you")
    dropped = [e.payload["reason"] for e in turn_events if e.kind == "proposal_dropped"]
    assert len(dropped) == 8, dropped
    joined = " | ".join(dropped)
    for reason in ("needs an id or a name", "unknown entity id(s): ghost", "two different entities",
                   "not a bot of this chat", "needs text", "needs a key", "'You' needs a value", "unknown entity id 'ghost'"):
        assert reason in joined  # fmt: skip


async def test_extraction_failure_still_completes_the_turn(data_dir: Path) -> None:
    rules = [{"match": "boom", "extraction_error": "prose instead of JSON"}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        result = await turn(rt, chat["id"], "boom")
    assert result["status"] == "completed"
    dropped = events(data_dir, kind="proposal_dropped")
    assert [e.payload["reason"] for e in dropped] == ["extraction failed: prose instead of JSON"]
    assert "memory_added" not in kinds(data_dir)


async def test_extraction_can_be_off_or_every_n_turns(data_dir: Path, tmp_path: Path) -> None:
    async with running(data_dir, extraction_enabled=False) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "one")
    assert "memory_added" not in kinds(data_dir)
    other = tmp_path / "other"
    other.mkdir()
    async with running(other, extraction_every_n_turns=2) as rt:
        _, chat = await one_to_one(rt)
        for text in ("one", "two", "three", "four"):
            await turn(rt, chat["id"], text)
    extracted = [e.payload["text"] for e in events(other, kind="memory_added")]
    assert extracted == ['You said: "two"', 'You said: "four"']


async def test_pinned_fields_are_left_alone_by_extraction(data_dir: Path) -> None:
    extraction = {
        "edges": [{"src": "mara", "dst": "you", "affinity_delta": 7, "trust_delta": 3, "label": "rival"}],
        "world": [{"key": "weather", "value": "storm"}],
    }
    async with running(data_dir, [{"match": "again", "extraction": extraction}]) as rt:
        _, chat = await one_to_one(rt)
        await rt.edit("edge", "mara/you", "affinity", 42)
        await rt.edit("world", "weather", "value", "sunny")
        result = await turn(rt, chat["id"], "again")
    with db(data_dir) as conn:
        edge = get_edge(conn, "mara", "you")
        facts = list_facts(conn)
    assert (edge["affinity"], edge["trust"], edge["label"]) == (42, 3, "rival")
    assert facts == {"weather": "sunny"}
    dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped", turn_id=result["id"])]
    assert sorted(dropped) == sorted(
        ["edge mara/you.affinity is pinned by a manual edit",
         "world fact 'weather' is pinned by a manual edit"]
    )  # fmt: skip


class SlowReflection(ScriptedBackend):
    """Extraction proposes changes at once; reflection waits for ``gate`` (a slow model)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.reflecting = asyncio.Event()

    async def complete_json(self, req: JsonRequest) -> Any:
        if req.purpose == "extraction":
            return req.schema.model_validate({
                "edges": [{"src": "mara", "dst": "you", "affinity_delta": 10, "label": "friend"}],
                "world": [{"key": "weather", "value": "rain"}],
                "memories": [{"owner": "mara", "text": "You said hello.", "importance": 9}],
            })  # fmt: skip
        if req.purpose == "reflection":
            self.reflecting.set()
            await self.gate.wait()
        return await super().complete_json(req)


async def test_a_field_pinned_while_the_model_thinks_still_wins(data_dir: Path) -> None:
    """Extraction read the pins before a person edited; the commit checks them again (§6.2)."""
    backend = SlowReflection()
    async with running(data_dir, backend=backend, reflection_threshold=1) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "hello")
        await backend.reflecting.wait()
        await rt.edit("world", "weather", "value", "sunny")
        await rt.edit("edge", "mara/you", "affinity", 50)
        backend.gate.set()
        await rt.wait_idle(chat["id"])
        assert rt.get_turn(turn_id)["status"] == "completed"
    with db(data_dir) as conn:
        edge = get_edge(conn, "mara", "you")
        facts = list_facts(conn)
    assert facts == {"weather": "sunny"}
    assert (edge["affinity"], edge["label"]) == (50, "friend")  # the unpinned label still lands
    dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped", turn_id=turn_id)]
    assert sorted(dropped) == [
        "edge mara/you.affinity was pinned by a manual edit",
        "world fact 'weather' was pinned by a manual edit",
    ]


class SlowExtraction(ScriptedBackend):
    """Extraction waits for ``gate`` (a slow model writing JSON on a CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.extracting = asyncio.Event()

    async def complete_json(self, req: JsonRequest) -> Any:
        if req.purpose == "extraction":
            self.extracting.set()
            await self.gate.wait()
        return await super().complete_json(req)


async def test_stop_during_extraction_ends_the_wait_and_keeps_the_reply(data_dir: Path) -> None:
    backend = SlowExtraction()
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        _, turn_id = await rt.post_message(chat["id"], "hello")
        await backend.extracting.wait()
        await rt.cancel_turn(turn_id)
        await asyncio.wait_for(rt.wait_idle(chat["id"]), timeout=5)  # not held by the model
        assert rt.get_turn(turn_id)["status"] == "completed"
        assert [m["author"] for m in rt.transcript(chat["id"])] == ["you", "mara"]
        backend.gate.set()
    assert "memory_added" not in kinds(data_dir, turn_id=turn_id)  # no world changes after stop


async def test_rewind_during_extraction_does_not_wait_for_the_model(data_dir: Path) -> None:
    backend = SlowExtraction()
    async with running(data_dir, backend=backend) as rt:
        _, chat = await one_to_one(rt)
        message, turn_id = await rt.post_message(chat["id"], "hello")
        await backend.extracting.wait()
        reverted = await asyncio.wait_for(rt.rewind(chat["id"], message["id"]), timeout=5)
        assert reverted == [turn_id] and rt.transcript(chat["id"]) == []
        backend.gate.set()


async def test_a_scene_set_by_hand_is_left_alone_by_extraction(data_dir: Path) -> None:
    extraction = {"scene": {"location": "The Teeth", "present": ["you"]}}
    async with running(data_dir, [{"match": "sail", "extraction": extraction}]) as rt:
        _, chat = await one_to_one(rt)
        await rt.set_scene(chat["id"], location="The Lantern")
        result = await turn(rt, chat["id"], "shall we sail?")
    with db(data_dir) as conn:
        scene = get_scene(conn, chat["id"])
    assert (scene["location"], scene["present"]) == ("The Lantern", ["you"])
    dropped = [e.payload["reason"] for e in events(data_dir, kind="proposal_dropped", turn_id=result["id"])]
    assert dropped == ["scene location is pinned by a manual edit"]


async def test_reflection_runs_when_importance_passes_the_threshold(data_dir: Path) -> None:
    async with running(data_dir, reflection_threshold=5) as rt:
        _, chat = await one_to_one(rt)
        first = await turn(rt, chat["id"], "The nets are torn.")  # importance 3: not yet
        assert "reflection_recorded" not in kinds(data_dir)
        second = await turn(rt, chat["id"], "The boat leaks.")  # 3 + 3 = 6 > 5
    assert first["status"] == second["status"] == "completed"
    assert kinds(data_dir, turn_id=second["id"])[-3:] == ["memory_added", "reflection_recorded", "turn_completed"]
    with db(data_dir) as conn:
        reflections = [m for m in list_memories(conn) if m["kind"] == "reflection"]
        pending = importance_since_reflection(conn, "mara")
    assert len(reflections) == 1 and reflections[0]["text"].startswith("Looking back on 2 memories")
    assert reflections[0]["importance"] == 7 and reflections[0]["turn_id"] == second["id"]
    assert pending == 0
    recorded = events(data_dir, kind="reflection_recorded")[0]
    assert recorded.payload == {"bot_id": "mara", "memory_ids": [reflections[0]["id"]]}


def world_dump(data_dir: Path) -> dict[str, list[tuple]]:
    with db(data_dir) as conn:
        dump = canonical_dump(conn)
    dump.pop("turns")  # reverted turns stay visible, as reverted (§4.6)
    return dump


async def test_rewind_restores_the_whole_world_exactly(data_dir: Path) -> None:
    extraction = {
        "entities": [{"id": "lighthouse", "kind": "place", "name": "Lighthouse"}],
        "edges": [{"src": "mara", "dst": "you", "affinity_delta": 6, "trust_delta": 2}],
        "memories": [{"owner": "mara", "text": "You fixed the lamp.", "importance": 9}],
        "world": [{"key": "time", "value": "night"}],
        "scene": {"location": "Lighthouse"},
    }
    async with running(data_dir, [{"match": "lamp", "extraction": extraction}], reflection_threshold=10) as rt:
        _, chat = await one_to_one(rt, {**MARA, "kickoff_prose": "Evening."})
        await turn(rt, chat["id"], "Good evening")
        before = world_dump(data_dir)
        kept = rt.transcript(chat["id"])
        first = await turn(rt, chat["id"], "I fixed the lamp")
        second = await turn(rt, chat["id"], "And the lamp again")
        await rt.edit_message(second["message_ids"][0], "edited by hand")
        assert world_dump(data_dir) != before
        assert "reflection_recorded" in kinds(data_dir)
        reverted = await rt.rewind(chat["id"], first["user_message_id"])
        after = world_dump(data_dir)
        transcript = rt.transcript(chat["id"])
        statuses = [rt.get_turn(t)["status"] for t in (first["id"], second["id"])]
        with pytest.raises(NotFound):  # that message went with its turn
            await rt.rewind(chat["id"], first["user_message_id"])
        greeting = kept[1]["turn_id"]
        assert await rt.rewind(chat["id"], kept[0]["id"]) == [greeting]  # a second rewind
        assert [m["text"] for m in rt.transcript(chat["id"])] == ["Evening."]
    assert reverted == [first["id"], second["id"]]
    assert statuses == ["reverted", "reverted"]
    assert transcript == kept
    item_history = after.pop("item_history"), before.pop("item_history")
    # the hand edit of a reverted message stays in the log; its history row is all that differs
    assert [r for r in item_history[0] if r not in item_history[1]] == []
    assert after == before
    with db(data_dir) as conn:
        incremental = canonical_dump(conn)
        rebuild(conn)
        assert canonical_dump(conn) == incremental
    assert len(events(data_dir, turn_id=first["id"])) > 3  # reverted events stay in the log


async def test_rewind_cancels_a_running_turn_first(data_dir: Path) -> None:
    rules = [{"match": "long", "reply": "a b c d e f g h", "delay_ms": 100}]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        before = world_dump(data_dir)
        message, turn_id = await rt.post_message(chat["id"], "long tale")
        sub = rt.bus.subscribe(chat["id"])
        while (await sub.get(timeout=5)).type != "token":
            pass
        reverted = await rt.rewind(chat["id"], message["id"])
        turn_after = rt.get_turn(turn_id)
    assert reverted == [turn_id] and turn_after["status"] == "reverted"
    assert world_dump(data_dir) == before


async def test_periodic_snapshot_is_taken_after_100_events(data_dir: Path) -> None:
    folder = data_dir / "snapshots" / "periodic"
    async with running(data_dir, snapshot_every_events=100) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "turn 0")
        await rt.wait_idle()
        first = sorted(folder.iterdir())
        assert len(first) == 1  # none existed yet: the first turn takes one
        first_id = load_snapshot(first[0]).last_event_id
        for count in range(1, 40):
            await turn(rt, chat["id"], f"turn {count}")
            await rt.wait_idle()
            taken = sorted(folder.iterdir())
            with db(data_dir) as conn:
                cursor = conn.execute("SELECT last_event_id FROM projection_state").fetchone()[0]
            if cursor - first_id < 100:
                assert len(taken) == 1, (cursor, first_id)
            else:
                break
    assert len(taken) == 2
    assert load_snapshot(taken[-1]).last_event_id == cursor >= first_id + 100


@pytest.mark.parametrize(("every", "turns", "pause_s"), [(100, 45, 0.0), (30, 20, 0.15)])
async def test_periodic_snapshots_land_when_due_not_later(
    data_dir: Path, every: int, turns: int, pause_s: float
) -> None:
    """§10.4: due once the log is `every` events past the newest snapshot, and taken not
    later than the end of the turn that crossed the line, with turns back to back or spaced."""
    folder = data_dir / "snapshots" / "periodic"
    async with running(data_dir, snapshot_every_events=every, snapshot_keep=100) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "turn 0")  # the first snapshot also starts the writer child
        for n in range(1, turns):
            await turn_only(rt, chat["id"], f"turn {n}")
            await asyncio.sleep(pause_s)
        await rt.wait_idle()
    taken = [load_snapshot(p).last_event_id for p in sorted(folder.iterdir())]
    log = events(data_dir)
    ends = [e.id for e in log if e.kind in ("turn_completed", "turn_failed")]
    assert len(taken) >= 3, taken
    assert taken[0] == ends[0]  # none existed yet: the first turn takes one
    for before, after in zip(taken, taken[1:], strict=False):
        crossing = before + every
        end_of_turn = min(end for end in ends if end >= crossing)
        assert crossing <= after <= end_of_turn, (taken, before, after, end_of_turn)
    assert log[-1].id - taken[-1] < every, taken  # no crossing went without one


async def turn_only(rt: Any, chat_id: str, text: str) -> None:
    """A turn, waiting for it but not for a due snapshot (as a person would)."""
    await rt.post_message(chat_id, text)
    await rt.wait_turns(chat_id)


async def test_a_snapshot_written_by_the_child_process_equals_one_written_in_process(
    data_dir: Path,
) -> None:
    async with running(data_dir) as rt:
        _, chat = await one_to_one(rt)
        await turn(rt, chat["id"], "remember the lamp")
        child = await rt.take_snapshot("manual", isolated=True)
        here = await rt.take_snapshot("manual")
        with pytest.raises(SnapshotFailed) as failed:
            await rt.take_snapshot("bogus", isolated=True)
    a, b = load_snapshot(child), load_snapshot(here)
    assert child != here and a.last_event_id == b.last_event_id
    assert a.tables == b.tables
    assert "snapshot kind must be one of" in failed.value.message
