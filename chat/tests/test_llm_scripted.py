"""Scripted backend (§7.5): default behaviour and script files."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from chat.errors import BackendTimeout, ConfigError, GenerationCancelled, ModelOutputInvalid
from chat.llm.schemas import ExtractionProposal, ReflectionProposal
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest

pytestmark = pytest.mark.anyio


def reply_request(text: str, bot_id: str = "ana", bot_name: str = "Ana", **kw: Any) -> ReplyRequest:
    return ReplyRequest(
        messages=[ChatMessage("user", text)],
        bot_id=bot_id,
        bot_name=bot_name,
        user_name="Sam",
        user_text=text,
        **kw,
    )


def extraction_request(text: str, bot_ids: list[str], user_name: str = "Sam") -> JsonRequest:
    return JsonRequest(
        messages=[ChatMessage("user", text)],
        schema=ExtractionProposal,
        purpose="extraction",
        context={"bot_ids": bot_ids, "bot_names": {}, "user_text": text, "chat_id": "c1",
                 "user_name": user_name},
    )  # fmt: skip


def write_script(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    return path


def scripted(tmp_path: Path, rules: list[dict[str, Any]], **options: Any) -> ScriptedBackend:
    path = write_script(tmp_path, rules)
    return ScriptedBackend(ScriptedBackend.Options(script_path=path, **options))


async def pieces_of(backend: ScriptedBackend, req: ReplyRequest) -> list[str]:
    return [piece async for piece in backend.stream_reply(req)]


def test_token_count_cache_belongs_to_its_backend() -> None:
    """Each backend owns its counting cache: no cache is shared, and none outlives it."""
    first, second = ScriptedBackend(), ScriptedBackend()
    text = "one two three, four"
    assert first.cached_count_tokens is first.cached_count_tokens
    assert first.cached_count_tokens(text) == first.count_tokens(text)
    first.cached_count_tokens(text)
    assert first.cached_count_tokens.cache_info().hits == 1
    assert second.cached_count_tokens.cache_info().currsize == 0
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None


async def test_default_reply_is_built_from_name_and_message() -> None:
    pieces = await pieces_of(ScriptedBackend(), reply_request("Where is the lighthouse?"))
    assert pieces == ["Ana ", "heard ", "you ", "say: ", "Where ", "is ", "the ", "lighthouse?"]


async def test_default_reply_is_deterministic_and_respects_limits() -> None:
    backend = ScriptedBackend()
    req = reply_request("one two three four five", max_tokens=3)
    assert await pieces_of(backend, req) == await pieces_of(backend, req)
    assert "".join(await pieces_of(backend, req)) == "Ana heard you "
    stopped = reply_request("hello\nSam: I say more", stop=["\nSam:"])
    assert "".join(await pieces_of(backend, stopped)) == "Ana heard you say: hello"


async def test_default_extraction_records_one_observation_per_bot() -> None:
    result = await ScriptedBackend().complete_json(
        extraction_request("I love ships", ["ana", "bo"])
    )
    assert isinstance(result, ExtractionProposal)
    assert [(m.owner, m.text, m.kind, m.importance, m.about) for m in result.memories] == [
        ("ana", 'Sam said: "I love ships"', "observation", 3, ["you"]),
        ("bo", 'Sam said: "I love ships"', "observation", 3, ["you"]),
    ]
    assert result.entities == [] and result.edges == [] and result.world == []


async def test_default_reflection_summarises_the_memories() -> None:
    req = JsonRequest(
        messages=[],
        schema=ReflectionProposal,
        purpose="reflection",
        context={"bot_id": "ana", "memories": ["Sam likes ships", "Sam fears storms"]},
    )
    result = await ScriptedBackend().complete_json(req)
    assert isinstance(result, ReflectionProposal)
    assert len(result.reflections) == 1
    assert "Sam likes ships" in result.reflections[0].text
    assert "Sam fears storms" in result.reflections[0].text
    empty = JsonRequest(messages=[], schema=ReflectionProposal, purpose="reflection",
                        context={"bot_id": "ana", "memories": []})  # fmt: skip
    assert (await ScriptedBackend().complete_json(empty)).reflections == []


async def test_script_reply_with_templates_first_match_wins(tmp_path: Path) -> None:
    backend = scripted(
        tmp_path,
        [
            {"match": "^hello", "reply": "Hello {{user}}, I am {{char}}. You said '{{message}}'."},
            {"match": "hello", "reply": "never used"},
        ],
    )
    text = await backend.reply_text(reply_request("Hello there"))
    assert text == "Hello Sam, I am Ana. You said 'Hello there'."
    fallback = await backend.reply_text(reply_request("goodbye"))
    assert fallback == "Ana heard you say: goodbye"


async def test_script_rule_for_one_bot(tmp_path: Path) -> None:
    backend = scripted(tmp_path, [{"match": "", "bot": "bo", "reply": "Bo here."}])
    assert await backend.reply_text(reply_request("hi", bot_id="bo", bot_name="Bo")) == "Bo here."
    assert await backend.reply_text(reply_request("hi")) == "Ana heard you say: hi"


async def test_script_extraction(tmp_path: Path) -> None:
    extraction = {
        "entities": [{"id": "tom", "kind": "thing", "name": "Tom", "description": "a cat"}],
        "edges": [{"src": "ana", "dst": "you", "affinity_delta": 5, "label": "friend"}],
        "memories": [{"owner": "ana", "text": "{{user}} adopted a cat", "importance": 6}],
        "world": [{"key": "weather", "value": "rain"}],
        "scene": {"location": "bakery", "present": ["ana", "you"]},
    }
    backend = scripted(tmp_path, [{"match": "cat", "extraction": extraction}])
    result = await backend.complete_json(extraction_request("I adopted a cat", ["ana"]))
    assert isinstance(result, ExtractionProposal)
    assert result.entities[0].id == "tom" and result.entities[0].kind == "thing"
    assert result.edges[0].affinity_delta == 5
    assert result.memories[0].text == "Sam adopted a cat"
    assert result.world[0].value == "rain"
    assert result.scene is not None and result.scene.location == "bakery"
    other = await backend.complete_json(extraction_request("no pets here", ["ana"]))
    assert other.memories[0].text == 'Sam said: "no pets here"'


async def test_script_errors_and_delays(tmp_path: Path) -> None:
    backend = scripted(
        tmp_path,
        [
            {"match": "crash", "error": "the model fell over", "error_after": 2},
            {"match": "hang", "error": "too slow", "error_type": "timeout"},
            {"match": "slowly", "reply": "one two three", "delay_ms": 40},
            {"match": "garbage", "extraction_error": "not JSON at all"},
            {"match": "weird", "extraction": {"memories": "not a list"}},
        ],
    )
    got: list[str] = []
    with pytest.raises(Exception) as info:
        async for piece in backend.stream_reply(reply_request("crash now")):
            got.append(piece)
    assert type(info.value).__name__ == "BackendError"
    assert info.value.args[0] == "the model fell over"
    assert got == ["Ana ", "heard "]
    with pytest.raises(BackendTimeout):
        await backend.reply_text(reply_request("hang"))
    started = time.monotonic()
    assert await backend.reply_text(reply_request("slowly")) == "one two three"
    assert time.monotonic() - started >= 0.1
    with pytest.raises(ModelOutputInvalid, match="not JSON at all"):
        await backend.complete_json(extraction_request("garbage", ["ana"]))
    with pytest.raises(ModelOutputInvalid):
        await backend.complete_json(extraction_request("weird", ["ana"]))


async def test_cancel_during_a_delay_is_prompt(tmp_path: Path) -> None:
    backend = scripted(tmp_path, [{"match": "", "reply": "a b c d e f", "delay_ms": 5000}])
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, cancel.set)
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        await backend.reply_text(reply_request("go"), cancel)
    assert time.monotonic() - started < 1


async def test_token_delay_option_streams_slowly() -> None:
    backend = ScriptedBackend(ScriptedBackend.Options(token_delay_ms=20))
    started = time.monotonic()
    await backend.reply_text(reply_request("a b c"))
    assert time.monotonic() - started >= 0.1


async def test_script_is_reloaded_when_the_file_changes(tmp_path: Path) -> None:
    backend = scripted(tmp_path, [{"match": "", "reply": "first"}])
    assert await backend.reply_text(reply_request("x")) == "first"
    path = write_script(tmp_path, [{"match": "", "reply": "second"}])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert await backend.reply_text(reply_request("x")) == "second"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "script file"),
        ('{"rules": [{"match": "("}]}', "rules.0.match"),
        ('{"rules": [{"match": "x", "replyy": "typo"}]}', "rules.0.replyy"),
        ('{"rulez": []}', "rulez"),
    ],
)
def test_bad_script_file_is_a_config_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ScriptedBackend(ScriptedBackend.Options(script_path=path))
    assert needle in info.value.message
    assert info.value.field == "script_path"


def test_missing_script_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ScriptedBackend(ScriptedBackend.Options(script_path=tmp_path / "nope.json"))


def test_options_forbid_unknown_keys() -> None:
    with pytest.raises(ValueError):
        ScriptedBackend.Options.model_validate({"script": "x"})


def test_tokens_and_context() -> None:
    backend = ScriptedBackend()
    assert backend.count_tokens("Hello, world!") == 4
    assert backend.context_length() == 4096


def test_docs_example_script_is_valid(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "script-format.md"
    text = doc.read_text(encoding="utf-8")
    block = text.split("```json", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.json"
    path.write_text(block, encoding="utf-8")
    backend = ScriptedBackend(ScriptedBackend.Options(script_path=path))
    assert backend.count_tokens("x") == 1
