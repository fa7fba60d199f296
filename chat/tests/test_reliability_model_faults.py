"""Model faults through the whole turn engine (§14.4, §4.3, §5.5, §7.6).

A real OpenAI-compatible HTTP server on 127.0.0.1 (`reliability_model_server`)
misbehaves on purpose while the runtime runs real turns with the openai backend:
timeouts, HTTP 500, streams that break off, and extraction answers that are
malformed, empty, prose, the wrong shape or full of out-of-range values. A
broken reply must end the turn failed with a readable reason, keep the user's
message and store no partial reply; broken extraction must be dropped (and
logged) with the turn still completed. After every case the state must be
sound: every event passes its schema, the projections equal a full replay of
the log, and no edge moved more than ±10 in the turn.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chat.config import Settings
from chat.db.connection import open_db
from chat.eventlog.log import iter_events
from chat.eventlog.projector import canonical_dump, rebuild
from chat.eventlog.schemas import validate_payload
from chat.llm.openai_compat import OpenAIBackend
from chat.runtime.runtime import Runtime
from chat.state.edges import list_edges
from chat.state.memory import list_memories
from chat.tests.reliability_model_server import REPLY_TEXT, ModelServer, start_model_server
from chat.tests.turn_support import MARA, events, kinds

pytestmark = pytest.mark.anyio

API_KEY = "sk-reliability-SECRET-4f9a2c"
TIMEOUT_S = 0.5
FINN = {"name": "Finn", "persona": "A ferryman who hums.", "traits": ["cheerful"]}
MODEL_KINDS = ("memory_added", "edge_changed", "entity_added", "entity_updated",
               "world_fact_set", "scene_changed", "reflection_recorded")  # fmt: skip
GOOD_EXTRACTION = json.dumps(
    {
        "memories": [
            {
                "owner": "mara",
                "text": "You asked about the tide.",
                "importance": 4,
                "about": ["you"],
            }
        ]
    }
)


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    server = start_model_server()
    yield server
    server.stop()


def http_backend(base_url: str) -> OpenAIBackend:
    options = {
        "base_url": base_url, "api_key": API_KEY, "model": "fault-model",
        "timeout": TIMEOUT_S, "max_retries": 2, "backoff_s": 0.01,
    }  # fmt: skip
    return OpenAIBackend(OpenAIBackend.Options.model_validate(options))


@asynccontextmanager
async def http_runtime(
    data_dir: Path, base_url: str, *, from_settings: bool = False
) -> AsyncIterator[Runtime]:
    """A started runtime whose model is the fault server (built by the registry if asked)."""
    settings = Settings(
        data_dir=data_dir, backend="openai", base_url=base_url, model="fault-model",
        api_key=API_KEY, request_timeout_s=TIMEOUT_S, max_retries=2,
    )  # fmt: skip
    rt = Runtime(settings, backend=None if from_settings else http_backend(base_url))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


async def setup_world(rt: Runtime, *, group: bool = False) -> dict[str, Any]:
    """Mara (and Finn, who is not in a 1:1 chat) plus a chat; returns the chat."""
    mara = await rt.author_bot(MARA)
    finn = await rt.author_bot(FINN)
    return await rt.create_chat([mara["id"], finn["id"]] if group else [mara["id"]])


async def run_turn(rt: Runtime, chat_id: str, text: str) -> dict[str, Any]:
    _, turn_id = await rt.post_message(chat_id, text)
    await rt.wait_idle(chat_id)
    return rt.get_turn(turn_id)


def edge_values(rt: Runtime) -> dict[tuple[str, str], tuple[int, int]]:
    return {(e["src"], e["dst"]): (e["affinity"], e["trust"]) for e in rt._read_now(list_edges)}


def assert_state_sound(
    rt: Runtime, tmp_path: Path, before: dict[tuple[str, str], tuple[int, int]]
) -> None:
    """Every payload passes its schema; projections = full replay; edges moved ≤ ±10."""
    copy = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*')))}.db"
    with rt.reader() as live, sqlite3.connect(copy) as target:
        live.backup(target)  # one consistent copy, taken while the runtime is up
    with open_db(copy) as conn:
        for event in iter_events(conn):
            validate_payload(event.kind, event.payload)  # raises naming the field
        incremental = canonical_dump(conn)
        rebuild(conn)
        assert canonical_dump(conn) == incremental
        after = {(e["src"], e["dst"]): (e["affinity"], e["trust"]) for e in list_edges(conn)}
        memories = list_memories(conn)
    for key, (affinity, trust) in after.items():
        old_affinity, old_trust = before.get(key, (0, 0))
        assert abs(affinity - old_affinity) <= 10 and abs(trust - old_trust) <= 10, key
        assert -100 <= affinity <= 100 and -100 <= trust <= 100
    assert all(1 <= m["importance"] <= 10 for m in memories)


# --- reply failures: the turn fails with a reason, nothing partial is stored ----------------

REPLY_FAULTS = [
    ("slow", f"did not answer within {TIMEOUT_S:g}s"),
    ("stall", "stopped sending tokens"),
    ("error500", "HTTP 500 after 3 attempts"),
    ("cut", "dropped before the reply finished"),
    ("cut_clean", "ended the stream before the reply finished"),
    ("bad_event", "malformed stream event"),
    ("error_event", "failed mid-reply: CUDA out of memory"),
]


@pytest.mark.parametrize(("mode", "reason"), REPLY_FAULTS, ids=[m for m, _ in REPLY_FAULTS])
async def test_reply_fault_fails_the_turn_with_a_reason_and_keeps_the_message(
    model_server: ModelServer, data_dir: Path, tmp_path: Path, mode: str, reason: str
) -> None:
    url = model_server.route(reply=mode, json_answers=[GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        before = edge_values(rt)
        sub = rt.bus.subscribe(chat["id"])
        result = await run_turn(rt, chat["id"], "How is the tide tonight?")
        transcript = rt.transcript(chat["id"], include_hidden=True)
        streamed = [item.data["text"] for item in _drain(sub) if item.type == "token"]
        assert_state_sound(rt, tmp_path, before)

    assert result["status"] == "failed", result
    assert reason in result["error"], result["error"]
    assert "internal error" not in result["error"] and API_KEY not in result["error"]
    assert [(m["author"], m["text"]) for m in transcript] == [("you", "How is the tide tonight?")]
    turn_kinds = kinds(data_dir, turn_id=result["id"])
    assert turn_kinds == ["message_posted", "turn_queued", "turn_started", "turn_failed"]
    assert not model_server.requests(url, "json"), "extraction must not run for a failed reply"
    if mode in ("stall", "cut", "cut_clean", "bad_event", "error_event"):
        assert streamed, "the fault was meant to land mid-reply"
    if mode == "error500":
        assert len(model_server.requests(url, "reply")) == 3  # retried with backoff, then failed


async def test_timeout_through_the_settings_built_backend(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    """The registry builds the backend from settings: request_timeout_s reaches the HTTP client."""
    url = model_server.route(reply="slow")
    async with http_runtime(data_dir, url, from_settings=True) as rt:
        assert isinstance(rt.backend, OpenAIBackend)
        chat = await setup_world(rt)
        result = await run_turn(rt, chat["id"], "Anyone there?")
        assert_state_sound(rt, tmp_path, {})
    assert result["status"] == "failed"
    assert f"did not answer within {TIMEOUT_S:g}s" in result["error"]


async def test_one_500_is_retried_and_the_turn_completes(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    url = model_server.route(reply="error500_once", json_answers=[GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        result = await run_turn(rt, chat["id"], "Still there?")
        transcript = rt.transcript(chat["id"])
        assert_state_sound(rt, tmp_path, {})
    assert result["status"] == "completed", result
    assert [m["text"] for m in transcript] == ["Still there?", REPLY_TEXT]
    assert len(model_server.requests(url, "reply")) == 2


async def test_cut_stream_stores_nothing_and_retry_works_once_the_server_behaves(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    url = model_server.route(reply="cut", json_answers=[GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        before = edge_values(rt)
        sub = rt.bus.subscribe(chat["id"])
        failed = await run_turn(rt, chat["id"], "Will the ferry run?")
        streamed = "".join(item.data["text"] for item in _drain(sub) if item.type == "token")
        after_failure = rt.transcript(chat["id"], include_hidden=True)
        assert_state_sound(rt, tmp_path, before)

        model_server.behaviour(url).reply = "ok"
        assert await rt.retry_turn(failed["id"]) == failed["id"]
        await rt.wait_idle(chat["id"])
        retried = rt.get_turn(failed["id"])
        transcript = rt.transcript(chat["id"], include_hidden=True)
        assert_state_sound(rt, tmp_path, before)

    assert failed["status"] == "failed" and "dropped before the reply finished" in failed["error"]
    assert streamed and REPLY_TEXT.startswith(streamed) and streamed != REPLY_TEXT  # cut mid-reply
    assert [m["author"] for m in after_failure] == ["you"]
    assert retried["status"] == "completed" and retried["error"] is None
    assert [(m["author"], m["text"]) for m in transcript] == [
        ("you", "Will the ferry run?"),
        ("mara", REPLY_TEXT),
    ]
    assert retried["message_ids"] == [transcript[1]["id"]]
    posted = [e for e in events(data_dir, kind="message_posted") if e.payload["author"] != "you"]
    assert [e.payload["text"] for e in posted] == [REPLY_TEXT]  # no partial reply in the log either
    assert [m.payload["text"] for m in events(data_dir, kind="memory_added")] == [
        "You asked about the tide."
    ]


async def test_group_turn_second_speaker_fails_first_reply_kept_retry_finishes(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    url = model_server.route(reply="error500_after1", json_answers=[GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt, group=True)
        failed = await run_turn(rt, chat["id"], "Mara and Finn, who takes the night crossing?")
        after_failure = rt.transcript(chat["id"])
        assert_state_sound(rt, tmp_path, {})
        model_server.behaviour(url).reply = "ok"
        await rt.retry_turn(failed["id"])
        await rt.wait_idle(chat["id"])
        retried = rt.get_turn(failed["id"])
        transcript = rt.transcript(chat["id"], include_hidden=True)
        assert_state_sound(rt, tmp_path, {})

    assert failed["status"] == "failed" and "HTTP 500 after 3 attempts" in failed["error"]
    assert [m["author"] for m in after_failure] == ["you", "mara"]  # a finished reply stays
    assert retried["status"] == "completed"
    assert [(m["author"], m["text"]) for m in transcript[1:]] == [
        ("mara", REPLY_TEXT),
        ("finn", REPLY_TEXT),
    ]
    assert retried["message_ids"] == [m["id"] for m in transcript[1:]]


# --- extraction failures: dropped and logged, the turn still completes ----------------------

DEEP = '{"memories": ' + "[" * 5000 + "]" * 5000 + "}"
EXTRACTION_FAULTS = [
    ("malformed", ['{"memories": [{"owner": "mara", "text": "You said']),
    ("empty", [""]),
    ("prose", ["Mara now trusts you a great deal and remembers the tide."]),
    ("wrong_shape", ['{"memories": "many", "edges": 7}']),
    ("array", ["[1, 2, 3]"]),
    ("nan", ['{"edges": [{"src": "mara", "dst": "you", "affinity_delta": NaN}]}']),
    ("fraction", ['{"memories": [{"owner": "mara", "text": "x", "importance": 99.5}]}']),
    ("http500", ["!500"]),
    ("timeout", ["!slow"]),
    ("not_json_body", ["!html"]),
    ("deeply_nested", [DEEP]),
]


@pytest.mark.parametrize(("case", "answers"), EXTRACTION_FAULTS)
async def test_broken_extraction_is_dropped_and_the_turn_completes(
    model_server: ModelServer, data_dir: Path, tmp_path: Path, case: str, answers: list[str]
) -> None:
    url = model_server.route(reply="ok", json_answers=answers)
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        before = edge_values(rt)
        result = await run_turn(rt, chat["id"], "Tell me about the tide.")
        transcript = rt.transcript(chat["id"])
        assert_state_sound(rt, tmp_path, before)

    assert result["status"] == "completed", result
    assert [(m["author"], m["text"]) for m in transcript] == [
        ("you", "Tell me about the tide."),
        ("mara", REPLY_TEXT),
    ]
    turn_events = events(data_dir, turn_id=result["id"])
    assert not [e.kind for e in turn_events if e.kind in MODEL_KINDS]
    dropped = [e.payload for e in turn_events if e.kind == "proposal_dropped"]
    assert len(dropped) == 1 and dropped[0].get("proposal") is None  # a null proposal is left out
    reason = dropped[0]["reason"]
    assert (
        reason.startswith("extraction failed: ") and len(reason) > len("extraction failed: ") + 10
    )
    assert API_KEY not in reason
    if case in ("malformed", "empty", "prose", "wrong_shape", "array", "nan", "fraction"):
        assert "after one repair attempt" in reason
        assert len(model_server.requests(url, "json")) == 2  # the answer, then one repair


async def test_repaired_extraction_is_accepted(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    url = model_server.route(json_answers=["Sure! Mara remembers the tide.", GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        result = await run_turn(rt, chat["id"], "Tell me about the tide.")
        assert_state_sound(rt, tmp_path, {})
    assert result["status"] == "completed"
    assert [e.payload["text"] for e in events(data_dir, kind="memory_added")] == [
        "You asked about the tide."
    ]
    assert "proposal_dropped" not in kinds(data_dir)


HOSTILE = {
    "entities": [
        {"id": "Lighthouse", "kind": "place", "name": "Lighthouse", "description": "d" * 50_000},
        {"id": "mara", "kind": "you", "name": "Impostor"},
        {"id": "kraken", "kind": "bot", "name": "Kraken"},
        {"id": "!!!", "name": ""},
    ],
    "edges": [
        {"src": "mara", "dst": "you", "affinity_delta": 500, "trust_delta": -999},
        {"src": "Mara", "dst": "you", "affinity_delta": 7, "trust_delta": -7},
        {"src": "mara", "dst": "lighthouse", "affinity_delta": 10**30, "label": "L" * 5000},
        {"src": "you", "dst": "mara", "affinity_delta": -(10**30), "trust_delta": 3},
        {"src": "mara", "dst": "ghost", "affinity_delta": 3},
        {"src": "ghost", "dst": "you", "trust_delta": -3},
        {"src": "finn", "dst": "finn", "affinity_delta": 4},
    ],
    "memories": [
        {
            "owner": "mara",
            "text": "The tide turns at six.",
            "importance": 99,
            "about": ["you", "ghost", "Lighthouse"],
        },
        {"owner": "mara", "text": "A small thing.", "importance": -40},
        {"owner": "mara", "text": "An enormous thing.", "importance": 10**30},
        {"owner": "mara", "text": "A reflection it made up.", "kind": "reflection"},
        {"owner": "finn", "text": "Finn is not in this chat."},
        {"owner": "nobody", "text": "Nobody owns this."},
        {"owner": "mara", "text": "   "},
    ],
    "world": [
        {"key": "tide", "value": "high"},
        {"key": "", "value": "x"},
        {"key": "moon", "value": "  "},
    ],
    "scene": {"location": "The Quay", "present": ["you", "mara", "ghost"]},
}


async def test_out_of_range_extraction_is_clamped_and_unknown_ids_dropped(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    url = model_server.route(json_answers=[json.dumps(HOSTILE)])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        before = edge_values(rt)
        result = await run_turn(rt, chat["id"], "Tell me about the tide.")
        after = edge_values(rt)
        memories = {  # what extraction proposed; witnessed observations (§5.3.1) left out
            m["text"]: m for m in rt._read_now(list_memories) if m["message_id"] is None
        }
        assert_state_sound(rt, tmp_path, before)

    assert result["status"] == "completed", result
    assert after[("mara", "you")] == (
        before[("mara", "you")][0] + 10,
        before[("mara", "you")][1] - 10,
    )
    assert after[("mara", "lighthouse")] == (10, 0)
    assert after[("you", "mara")][0] == before.get(("you", "mara"), (0, 0))[0] - 10
    assert not [key for key in after if "ghost" in key or key == ("finn", "finn")]
    assert sorted(memories) == [
        "A reflection it made up.", "A small thing.", "An enormous thing.", "The tide turns at six.",
    ]  # fmt: skip
    assert memories["The tide turns at six."]["importance"] == 10
    assert memories["The tide turns at six."]["about"] == ["you", "lighthouse"]
    assert memories["A small thing."]["importance"] == 1
    assert memories["An enormous thing."]["importance"] == 10
    assert memories["A reflection it made up."]["kind"] == "observation"
    assert {m["owner"] for m in memories.values()} == {"mara"}
    turn_events = events(data_dir, turn_id=result["id"])
    added = {e.payload["id"]: e.payload["kind"] for e in turn_events if e.kind == "entity_added"}
    assert (added["lighthouse"], added["kraken"]) == ("place", "other")  # a model cannot add a bot
    for event in turn_events:
        if event.kind == "entity_added":
            assert event.payload["kind"] not in ("bot", "you")
            assert len(event.payload["description"]) <= 20_000
        if event.kind == "edge_changed":
            assert len(event.payload.get("label") or "") <= 200
    reasons = " | ".join(e.payload["reason"] for e in turn_events if e.kind == "proposal_dropped")
    for expected in ("unknown entity id(s): ghost", "two different entities", "'finn' is not a bot of this chat",
                     "'nobody' is not a bot of this chat", "a memory needs text", "needs a key",
                     "'moon' needs a value", "unknown entity id 'ghost' in the scene"):  # fmt: skip
        assert expected in reasons, reasons


async def test_failed_turn_costs_nothing_and_the_next_turn_works(
    model_server: ModelServer, data_dir: Path, tmp_path: Path
) -> None:
    """After a failed reply and a failed extraction the chat goes on normally."""
    url = model_server.route(reply="error500", json_answers=["!500"] * 3 + [GOOD_EXTRACTION])
    async with http_runtime(data_dir, url) as rt:
        chat = await setup_world(rt)
        first = await run_turn(rt, chat["id"], "First?")
        model_server.behaviour(url).reply = "ok"
        second = await run_turn(rt, chat["id"], "Second?")  # extraction gets a 500 (3 tries)
        third = await run_turn(rt, chat["id"], "Third?")
        transcript = rt.transcript(chat["id"])
        assert_state_sound(rt, tmp_path, {})
    assert [first["status"], second["status"], third["status"]] == [
        "failed",
        "completed",
        "completed",
    ]
    assert [(m["author"], m["text"]) for m in transcript] == [
        ("you", "First?"), ("you", "Second?"), ("mara", REPLY_TEXT), ("you", "Third?"), ("mara", REPLY_TEXT),
    ]  # fmt: skip
    assert [e.turn_id for e in events(data_dir, kind="memory_added")] == [third["id"]]


def _drain(sub: Any) -> list[Any]:
    items = []
    while not sub.queue.empty():
        items.append(sub.queue.get_nowait())
    sub.close()
    return items
