"""OpenAI-compatible HTTP backend (§7.4, §7.6): Ollama, llama.cpp server, vLLM, LM Studio, OpenAI.

Streaming over SSE; structured output through `response_format` json_schema,
falling back to json_object and then to plain prompting when the server rejects
it; one repair attempt; retries with exponential backoff on connection errors,
429 and 5xx. The API key never appears in logs, reprs or error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chat.errors import BackendAuthError, BackendError, BackendTimeout, BackendUnavailable
from chat.llm.base import Backend, check_cancel, iterate_with_cancel
from chat.llm.jsonutil import (
    bounded_schema,
    invalid_output,
    repair_messages,
    validate_output,
    with_schema_instruction,
)
from chat.llm.openai_stream import message_content as _message_content
from chat.llm.openai_stream import server_message, stream_pieces
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest, messages_as_dicts

if TYPE_CHECKING:
    from chat.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
JsonMode = Literal["json_schema", "json_object", "prompt"]
JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "prompt")
_KEYLIKE = re.compile(r"\b(?:sk|pk|key|api)[-_][A-Za-z0-9_*\-]{6,}")
CHECK_TIMEOUT_S = 5.0
"""How long `OpenAIBackend.check` waits for the server's list of models."""


class RequestRejected(BackendError):
    """The server refused the request itself (HTTP 400/422), e.g. an unsupported response_format."""


class OpenAIBackend(Backend):
    """Any server that speaks the OpenAI chat-completions API."""

    name: ClassVar[str] = "openai"
    supports_json_schema: ClassVar[bool] = True
    has_tokenizer: ClassVar[bool] = False

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        base_url: str = "http://127.0.0.1:8080/v1"
        api_key: SecretStr | None = None
        model: str = "default"
        timeout: float = Field(60.0, gt=0)
        """Seconds to wait for the server to send anything (headers or the next token)."""
        connect_timeout: float = Field(10.0, gt=0)
        max_retries: int = Field(2, ge=0, le=10)
        backoff_s: float = Field(0.5, ge=0)
        max_backoff_s: float = Field(8.0, ge=0)
        context_length: int = Field(4096, ge=256)
        json_mode: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"

    options: Options

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        self._base_url = self.options.base_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        mode = self.options.json_mode
        self._json_mode_index = 0 if mode == "auto" else JSON_MODES.index(mode)
        self._tokenize_endpoint: str | None | bool = None  # None: not probed; False: absent
        self._token_cache: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIBackend:
        return cls(
            cls.Options(
                base_url=settings.base_url,
                api_key=settings.api_key,
                model=settings.model or "default",
                timeout=settings.request_timeout_s,
                max_retries=settings.max_retries,
                context_length=settings.context_length or 4096,
            )
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self._base_url!r}, model={self.options.model!r})"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.options.model, "base_url": self._base_url}

    async def check(self) -> str | None:
        """Ask the server for its models (``GET /models``, a few seconds at most), so a
        settings page can say at once that the base URL or key does not work."""
        where = f"the server at {self._base_url}"
        try:
            response = await self._http().get("/models", timeout=CHECK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return self.scrub(f"{where} did not answer: {type(exc).__name__} {exc}".strip())
        if response.status_code in (404, 405):
            return None  # it answers; some servers and proxies serve chat but no model list
        if response.status_code >= 400:
            message = self._server_message(response.content)
            return self.scrub(f"{where} answered {response.status_code}" + (f": {message}" if message else ""))
        return None

    # -- HTTP plumbing -------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        key = self.options.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.options.timeout, connect=min(self.options.connect_timeout, self.options.timeout)
        )

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self._base_url, headers=self._headers(), timeout=self._timeout()
            )
            self._client_loop = loop
        return self._client

    def scrub(self, text: str) -> str:
        """`text` with the API key (and anything that looks like one) masked."""
        key = self.options.api_key.get_secret_value() if self.options.api_key else ""
        if key:
            text = text.replace(key, "***")
        return _KEYLIKE.sub("***", text)

    def _server_message(self, body: bytes) -> str:
        return server_message(body, self.scrub)

    async def _post(
        self, payload: dict[str, Any], *, stream: bool, rejected_if: str | None = None
    ) -> httpx.Response:
        """POST /chat/completions with retries; returns a 2xx response (open when streaming).

        `rejected_if`: an error answer (any status) whose message mentions this word is a
        rejection of the request, not a transient failure (llama-cpp-python's server
        answers an unsupported response_format with HTTP 500).
        """
        client = self._http()
        attempts = self.options.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                request = client.build_request("POST", "/chat/completions", json=payload)
                response = await client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and attempt < attempts:
                    await self._backoff(attempt, None, "connect timeout")
                    continue
                raise BackendTimeout(
                    f"the model server at {self._base_url} did not answer within "
                    f"{self.options.timeout:g}s; check that it is running or raise "
                    "KITH_REQUEST_TIMEOUT_S"
                ) from None
            except httpx.TransportError as exc:
                if attempt < attempts:
                    await self._backoff(attempt, None, type(exc).__name__)
                    continue
                raise BackendUnavailable(
                    f"cannot reach the model server at {self._base_url} after {attempts} "
                    f"attempts ({self.scrub(str(exc)) or type(exc).__name__}); is it running? "
                    "Check KITH_BASE_URL"
                ) from None
            status = response.status_code
            if status < 400:
                return response
            body = await response.aread()
            await response.aclose()
            message = self._server_message(body)
            if rejected_if and rejected_if in message and status >= 500:
                raise RequestRejected(
                    f"the model server at {self._base_url} rejected the request "
                    f"(HTTP {status}): {message}"
                )
            if (status == 429 or status >= 500) and attempt < attempts:
                await self._backoff(attempt, response.headers.get("retry-after"), f"HTTP {status}")
                continue
            raise self._status_error(status, message, attempt)
        raise AssertionError("unreachable")

    def _status_error(self, status: int, message: str, attempts: int) -> BackendError:
        where = f"the model server at {self._base_url}"
        if status in (401, 403):
            if self.options.api_key is None:
                return BackendAuthError(
                    f"{where} needs an API key (HTTP {status}): set KITH_API_KEY or --api-key"
                )
            return BackendAuthError(
                f"{where} refused the API key (HTTP {status}: {message}); check KITH_API_KEY"
            )
        if status == 404:
            return BackendError(
                f"{where} answered 404 ({message}); check KITH_BASE_URL (it usually ends in /v1) "
                f"and the model name {self.options.model!r}"
            )
        if status in (400, 422):
            return RequestRejected(f"{where} rejected the request (HTTP {status}): {message}")
        if status == 429:
            return BackendUnavailable(
                f"{where} is rate limiting (HTTP 429) after {attempts} attempts: {message}; "
                "wait and retry the turn"
            )
        if status >= 500:
            return BackendError(
                f"{where} failed with HTTP {status} after {attempts} attempts: {message}"
            )
        return BackendError(f"{where} answered HTTP {status}: {message}")

    async def _backoff(self, attempt: int, retry_after: str | None, reason: str) -> None:
        delay = min(self.options.backoff_s * 2 ** (attempt - 1), self.options.max_backoff_s)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max(float(retry_after), 0.0), self.options.max_backoff_s)
        log.warning(
            "model server %s: %s; retrying in %.2fs (attempt %d of %d)",
            self._base_url,
            reason,
            delay,
            attempt + 1,
            self.options.max_retries + 1,
        )
        await asyncio.sleep(delay)

    # -- replies ---------------------------------------------------------------------------

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        check_cancel(cancel)
        payload: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages_as_dicts(req.messages),
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": True,
        }
        if req.stop:
            payload["stop"] = req.stop[:4]  # OpenAI accepts at most 4
        response = await _await_or_cancel(self._post(payload, stream=True), cancel)
        try:
            async with (
                contextlib.aclosing(self._stream_pieces(response)) as pieces,
                contextlib.aclosing(iterate_with_cancel(pieces, cancel)) as stream,
            ):
                async for piece in stream:
                    yield piece
        finally:
            await response.aclose()

    def _stream_pieces(self, response: httpx.Response) -> AsyncIterator[str]:
        return stream_pieces(response, self._base_url, self.options.timeout, self.scrub)

    # -- JSON ------------------------------------------------------------------------------

    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        while True:
            mode = JSON_MODES[self._json_mode_index]
            messages = req.messages if mode == "json_schema" else with_schema_instruction(req)
            try:
                text = await self._complete_text(req, messages, mode)
                break
            except RequestRejected as exc:
                if mode == "prompt" or self.options.json_mode != "auto":
                    raise
                log.info("server rejected response_format %s (%s); falling back", mode, exc)
                self._json_mode_index += 1
        try:
            return validate_output(text, req.schema)
        except ValueError as exc:
            error = str(exc)
        log.info("model output for %s invalid (%s); asking for a repair", req.purpose, error)
        text = await self._complete_text(req, repair_messages(messages, text, error), mode)
        try:
            return validate_output(text, req.schema)
        except ValueError as exc:
            raise invalid_output(req, str(exc)) from None

    async def _complete_text(
        self, req: JsonRequest, messages: list[ChatMessage], mode: JsonMode
    ) -> str:
        payload: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages_as_dicts(messages),
            "max_tokens": req.max_tokens,
            "temperature": 0.2,
        }
        schema = bounded_schema(req.schema)
        if mode == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", req.schema.__name__)[:64] or "output"
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        elif mode == "json_object":
            payload["response_format"] = {"type": "json_object", "schema": schema}
        hint = "response_format" if "response_format" in payload else None
        response = await self._post(payload, stream=False, rejected_if=hint)
        try:
            data = response.json()
        except ValueError:
            raise BackendError(
                f"the model server at {self._base_url} sent a response that is not JSON: "
                f"{self.scrub(response.text[:120])!r}"
            ) from None
        return _message_content(data)

    # -- tokens ----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Exact count from the server's tokenize endpoint when it has one, else ~4 chars/token.

        The endpoint is probed once; counts are cached. This is a blocking call to a
        (normally local) server.
        """
        if not text:
            return 0
        cached = self._token_cache.get(text)
        if cached is not None:
            return cached
        count = self._server_count(text) if self._tokenize_endpoint is not False else None
        if count is None:
            count = len(text) // 4 + 1
        if len(self._token_cache) > 4096:
            self._token_cache.clear()
        self._token_cache[text] = count
        return count

    def _server_count(self, text: str) -> int | None:
        root = re.sub(r"/v1$", "", self._base_url)
        candidates = (
            [self._tokenize_endpoint]
            if isinstance(self._tokenize_endpoint, str)
            else [f"{root}/extras/tokenize", f"{root}/tokenize"]
        )
        for url in candidates:
            body = {"input": text} if url.endswith("/extras/tokenize") else {"content": text}
            try:
                response = httpx.post(url, json=body, headers=self._headers(), timeout=2.0)
                tokens = response.json().get("tokens") if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError, AttributeError):
                tokens = None
            if isinstance(tokens, list):
                self._tokenize_endpoint = url
                return len(tokens)
        if self._tokenize_endpoint is None:
            self._tokenize_endpoint = False
        return None

    def context_length(self) -> int:
        return self.options.context_length

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(RuntimeError):  # its event loop may be gone
                await client.aclose()


async def _await_or_cancel(aw: Awaitable[T], cancel: asyncio.Event | None) -> T:
    """Await `aw`, abandoning it with GenerationCancelled as soon as `cancel` is set."""
    if cancel is None:
        return await aw
    task = asyncio.ensure_future(aw)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        check_cancel(cancel)
    return task.result()
