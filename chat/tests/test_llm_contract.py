"""One contract suite run over every backend (§7.1): embedded, OpenAI-compatible, scripted.

The OpenAI-compatible backend talks to a real `python -m llama_cpp.server` running the
bundled model on 127.0.0.1 (§7.4).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import pytest
from pydantic import BaseModel

from chat.errors import GenerationCancelled
from chat.llm.base import Backend
from chat.llm.embedded import EmbeddedBackend, bundled_model_path
from chat.llm.openai_compat import OpenAIBackend
from chat.llm.schemas import CHAPTER_SUMMARY_CHARS, ChapterProposal
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest
from chat.memory.chapter_writer import INSTRUCTIONS
from chat.tests.llm_server import llama_cpp_server

pytestmark = pytest.mark.anyio

USER_TEXT = "Tell me a long story about the sea and the old ships that sail across it at night."


@pytest.fixture(scope="session")
def llama_server_url() -> Iterator[str]:
    with llama_cpp_server(bundled_model_path()) as url:
        yield url


@pytest.fixture(
    params=[
        "scripted",
        pytest.param("embedded", marks=pytest.mark.slow),
        pytest.param("openai", marks=pytest.mark.slow),
    ]
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    name = request.param
    if name == "scripted":
        made: Backend = ScriptedBackend()
    elif name == "embedded":
        made = EmbeddedBackend(EmbeddedBackend.Options(seed=7))
    else:
        url = request.getfixturevalue("llama_server_url")
        made = OpenAIBackend(OpenAIBackend.Options(base_url=url, timeout=60))
    yield made
    await made.aclose()


class Mood(BaseModel):
    mood: Literal["happy", "sad", "angry"]
    intensity: int


def reply_request(max_tokens: int = 24) -> ReplyRequest:
    return ReplyRequest(
        messages=[
            ChatMessage("system", "You are Ana, a cheerful baker in a harbour town."),
            ChatMessage("user", USER_TEXT),
        ],
        bot_id="ana",
        bot_name="Ana",
        user_name="You",
        user_text=USER_TEXT,
        max_tokens=max_tokens,
        temperature=0.0,
    )


async def test_reply_streams_in_several_pieces(backend: Backend) -> None:
    pieces = [piece async for piece in backend.stream_reply(reply_request())]
    assert len(pieces) > 1
    assert all(isinstance(piece, str) for piece in pieces)
    assert "".join(pieces).strip()


async def test_reply_text_joins_the_stream(backend: Backend) -> None:
    text = await backend.reply_text(reply_request(max_tokens=8))
    assert text.strip()


async def test_complete_json_returns_a_valid_instance(backend: Backend) -> None:
    result = await backend.complete_json(
        JsonRequest(
            messages=[
                ChatMessage("system", "You classify the mood of a message."),
                ChatMessage("user", "I won the lottery today, I am so glad!"),
            ],
            schema=Mood,
            max_tokens=48,
        )
    )
    assert isinstance(result, Mood)
    assert result.mood in ("happy", "sad", "angry")


async def test_count_tokens_grows_with_text(backend: Backend) -> None:
    short = backend.count_tokens("Hello there.")
    long = backend.count_tokens("Hello there. " * 20)
    assert short > 0
    assert long > short
    assert backend.count_tokens("") == 0


async def test_context_length_is_positive(backend: Backend) -> None:
    assert backend.context_length() > 0


async def test_cancel_stops_the_stream_and_backend_stays_usable(backend: Backend) -> None:
    cancel = asyncio.Event()
    pieces: list[str] = []
    with pytest.raises(GenerationCancelled):
        async for piece in backend.stream_reply(reply_request(max_tokens=64), cancel):
            pieces.append(piece)
            cancel.set()
    assert len(pieces) == 1
    again = [piece async for piece in backend.stream_reply(reply_request(max_tokens=8))]
    assert "".join(again).strip()


async def test_cancel_before_start(backend: Backend) -> None:
    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        async for _ in backend.stream_reply(reply_request(), cancel):
            pass


async def test_abandoned_stream_does_not_block_the_next(backend: Backend) -> None:
    stream = backend.stream_reply(reply_request(max_tokens=64))
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    text = await asyncio.wait_for(backend.reply_text(reply_request(max_tokens=8)), 60)
    assert text.strip()


async def test_two_replies_at_once_both_finish(backend: Backend) -> None:
    first, second = await asyncio.gather(
        backend.reply_text(reply_request(max_tokens=8)),
        backend.reply_text(reply_request(max_tokens=8)),
    )
    assert first.strip() and second.strip()


async def test_capability_flags_and_info(backend: Backend) -> None:
    assert isinstance(backend.supports_json_schema, bool)
    assert isinstance(backend.has_tokenizer, bool)
    assert backend.info()["name"] == backend.name


@pytest.mark.slow
async def test_openai_backend_uses_the_servers_tokenizer(llama_server_url: str) -> None:
    remote = OpenAIBackend(OpenAIBackend.Options(base_url=llama_server_url))
    local = EmbeddedBackend()
    text = "The quick brown fox jumps over the lazy dog, twice."
    assert remote.count_tokens(text) == local.count_tokens(text)


async def test_a_chapter_summary_comes_back_as_the_schema(backend: Backend) -> None:
    """Chapters (§5.7) use the same structured call on every backend: the bundled model
    under a JSON grammar, a server with response_format, the scripted backend's rules."""
    lines = [
        "You: Ana, the lighthouse keeper left a lantern burning on the north stair.",
        "Ana: Then someone is expected tonight. Old Tobin never wastes oil.",
        "You: We rowed out past the breakwater before the fog came in.",
        "Ana: We were lucky. The fog swallows boats whole out there.",
    ]
    result = await backend.complete_json(
        JsonRequest(
            messages=[ChatMessage("system", INSTRUCTIONS.format(user="You")), ChatMessage("user", "\n".join(lines))],
            schema=ChapterProposal,
            purpose="chapter",
            context={"chat_id": "c1", "lines": lines},
            max_tokens=300,
        )
    )
    assert isinstance(result, ChapterProposal)
    assert result.summary.strip()
    if backend.name != "openai":  # a grammar (or the script) bounds it; a server may not
        assert len(result.summary) <= CHAPTER_SUMMARY_CHARS
