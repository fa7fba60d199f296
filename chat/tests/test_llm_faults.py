"""OpenAI-compatible backend against a real misbehaving HTTP server (§7.4, §7.6, §14.4)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import traceback
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel

from chat.errors import (
    BackendAuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    GenerationCancelled,
    ModelOutputInvalid,
)
from chat.llm.openai_compat import OpenAIBackend
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest
from chat.tests.llm_fault_server import PIECES, FaultServer, start_fault_server

API_KEY = "sk-test-SECRET-0123456789abcdef"

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    server = start_fault_server()
    yield server
    server.stop()


class Mood(BaseModel):
    mood: Literal["happy", "sad", "angry"]
    intensity: int


def make_backend(base_url: str, **options: object) -> OpenAIBackend:
    values: dict[str, object] = {
        "base_url": base_url,
        "api_key": API_KEY,
        "model": "fault-model",
        "timeout": 5.0,
        "max_retries": 2,
        "backoff_s": 0.01,
    }
    values.update(options)
    return OpenAIBackend(OpenAIBackend.Options.model_validate(values))


def reply_request() -> ReplyRequest:
    return ReplyRequest(
        messages=[ChatMessage("user", "hi")],
        bot_id="ana",
        bot_name="Ana",
        user_name="You",
        user_text="hi",
        max_tokens=16,
    )


def json_request() -> JsonRequest:
    return JsonRequest(messages=[ChatMessage("user", "How do I feel?")], schema=Mood, max_tokens=32)


async def collect(backend: OpenAIBackend, cancel: asyncio.Event | None = None) -> list[str]:
    return [piece async for piece in backend.stream_reply(reply_request(), cancel)]


def assert_no_key(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered, getattr(exc, "message", "")):
        assert API_KEY not in text


async def test_ok_streams_every_piece(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("ok"))
    assert await collect(backend) == PIECES
    request = fault_server.log(backend.options.base_url)[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body["stream"] is True
    await backend.aclose()


async def test_500_always_retries_then_readable_error(fault_server: FaultServer) -> None:
    url = fault_server.url("error500")
    backend = make_backend(url)
    with pytest.raises(BackendError) as info:
        await collect(backend)
    assert "HTTP 500" in info.value.message
    assert "after 3 attempts" in info.value.message
    assert "internal failure" in info.value.message
    assert len(fault_server.log(url)) == 3
    with pytest.raises(BackendError):
        await backend.complete_json(json_request())
    assert len(fault_server.log(url)) == 6


async def test_500_once_then_retry_succeeds(fault_server: FaultServer) -> None:
    url = fault_server.url("fail_once")
    backend = make_backend(url)
    assert "".join(await collect(backend)) == "".join(PIECES)
    assert len(fault_server.log(url)) == 2


async def test_429_once_then_retry_succeeds(fault_server: FaultServer) -> None:
    url = fault_server.url("ratelimit_once")
    result = await make_backend(url).complete_json(json_request())
    assert result == Mood(mood="happy", intensity=3)
    assert len(fault_server.log(url)) == 2


async def test_4xx_is_not_retried(fault_server: FaultServer) -> None:
    url = fault_server.url("bad400")
    with pytest.raises(BackendError) as info:
        await collect(make_backend(url))
    assert "HTTP 400" in info.value.message and "max_tokens" in info.value.message
    assert len(fault_server.log(url)) == 1


async def test_slow_server_times_out(fault_server: FaultServer) -> None:
    url = fault_server.url("slow")
    backend = make_backend(url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as info:
        await collect(backend)
    assert time.monotonic() - started < 2
    assert "did not answer within 0.3s" in info.value.message
    with pytest.raises(BackendTimeout):
        await backend.complete_json(json_request())
    assert len(fault_server.log(url)) == 2  # read timeouts are not retried


async def test_stream_that_stalls_times_out(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("slow_stream"), timeout=0.3)
    pieces: list[str] = []
    with pytest.raises(BackendTimeout) as info:
        async for piece in backend.stream_reply(reply_request()):
            pieces.append(piece)
    assert pieces == ["Hello"]
    assert "incomplete" in info.value.message


@pytest.mark.parametrize("mode", ["cut", "cut_clean", "interrupted"])
async def test_cut_stream_is_an_error_not_a_partial_reply(
    fault_server: FaultServer, mode: str
) -> None:
    backend = make_backend(fault_server.url(mode))
    pieces: list[str] = []
    with pytest.raises(BackendError) as info:
        async for piece in backend.stream_reply(reply_request()):
            pieces.append(piece)
    assert pieces == PIECES[:2]
    assert "before the reply finished" in info.value.message
    assert "retry" in info.value.message


@pytest.mark.parametrize("mode", ["malformed", "prose", "empty"])
async def test_bad_json_gets_one_repair_then_model_output_invalid(
    fault_server: FaultServer, mode: str
) -> None:
    url = fault_server.url(mode)
    with pytest.raises(ModelOutputInvalid) as info:
        await make_backend(url).complete_json(json_request())
    assert "after one repair attempt" in info.value.message
    log = fault_server.log(url)
    assert len(log) == 2
    repair = log[1].body["messages"]
    assert repair[-2]["role"] == "assistant"
    assert "corrected JSON" in repair[-1]["content"]


async def test_repair_attempt_can_succeed(fault_server: FaultServer) -> None:
    url = fault_server.url("repair")
    result = await make_backend(url).complete_json(json_request())
    assert result == Mood(mood="happy", intensity=3)
    assert len(fault_server.log(url)) == 2


async def test_json_schema_rejected_falls_back_to_json_object(fault_server: FaultServer) -> None:
    url = fault_server.url("schema400")
    backend = make_backend(url)
    assert await backend.complete_json(json_request()) == Mood(mood="happy", intensity=3)
    assert await backend.complete_json(json_request()) == Mood(mood="happy", intensity=3)
    kinds = [r.body.get("response_format", {}).get("type") for r in fault_server.log(url)]
    assert kinds == ["json_schema", "json_object", "json_object"]  # the fallback is remembered
    first = fault_server.log(url)[0].body["response_format"]["json_schema"]
    assert first["name"] == "Mood" and first["strict"] is False
    assert "schema" in first
    assert "JSON schema" in fault_server.log(url)[1].body["messages"][0]["content"]


async def test_llama_cpp_style_500_rejection_falls_back_without_retries(
    fault_server: FaultServer,
) -> None:
    url = fault_server.url("schema500")
    assert await make_backend(url).complete_json(json_request()) == Mood(mood="happy", intensity=3)
    kinds = [r.body.get("response_format", {}).get("type") for r in fault_server.log(url)]
    assert kinds == ["json_schema", "json_object"]


async def test_server_rejecting_everything_reaches_plain_prompting(
    fault_server: FaultServer,
) -> None:
    url = fault_server.url("bad400")
    with pytest.raises(BackendError) as info:
        await make_backend(url).complete_json(json_request())
    assert "HTTP 400" in info.value.message
    kinds = [r.body.get("response_format", {}).get("type") for r in fault_server.log(url)]
    assert kinds == ["json_schema", "json_object", None]


async def test_401_is_readable_and_never_shows_the_key(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = make_backend(fault_server.url("auth401"))
    with pytest.raises(BackendAuthError) as info:
        await collect(backend)
    assert "API key" in info.value.message
    assert "HTTP 401" in info.value.message
    assert_no_key(info.value)
    with pytest.raises(BackendAuthError) as info:
        await backend.complete_json(json_request())
    assert_no_key(info.value)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(backend) and API_KEY not in repr(backend.options)
    assert API_KEY not in str(backend.info())


async def test_401_without_a_key_says_how_to_set_one(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("auth401"), api_key=None)
    with pytest.raises(BackendAuthError) as info:
        await collect(backend)
    assert "KITH_API_KEY" in info.value.message


@pytest.mark.parametrize(
    "mode", ["error500", "slow", "cut", "malformed", "empty", "schema400", "auth401", "bad400"]
)
async def test_key_never_in_errors_or_logs(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = make_backend(fault_server.url(mode), timeout=0.3)
    for call in (lambda: collect(backend), lambda: backend.complete_json(json_request())):
        try:
            await call()
        except BackendError as exc:
            assert_no_key(exc)
    assert API_KEY not in caplog.text


async def test_unreachable_server_is_unavailable_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make_backend(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend)
    assert f"127.0.0.1:{port}" in info.value.message and "is it running" in info.value.message
    assert_no_key(info.value)


async def test_cancel_while_waiting_for_the_server(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("slow"))
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        await collect(backend, cancel)
    assert time.monotonic() - started < 1


async def test_cancel_while_the_stream_stalls(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("slow_stream"))
    cancel = asyncio.Event()
    pieces: list[str] = []
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        async for piece in backend.stream_reply(reply_request(), cancel):
            pieces.append(piece)
            cancel.set()
    assert pieces == ["Hello"]
    assert time.monotonic() - started < 1


def test_count_tokens_without_a_tokenize_endpoint_approximates(fault_server: FaultServer) -> None:
    backend = make_backend(fault_server.url("ok"))
    assert backend.count_tokens("") == 0
    assert backend.count_tokens("abcdefgh") == 3
    assert backend.count_tokens("abcdefgh" * 10) == 21
