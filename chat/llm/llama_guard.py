"""Two mends to llama-cpp-python 0.3.16 that every path loading a GGUF needs.

Both the chat model (`chat.llm.embedded`, `chat.llm.kv_keep`) and a GGUF embedder
(`chat.llm.embeddings.GGUFEmbedder`) load files through it, so the mends live here and
each of them imports this module before it loads anything:

* ``LlamaModel.sampler`` is set only once a file has loaded, and ``__del__`` reads it: a
  file that fails to load (a broken GGUF) left a half-built model whose ``__del__`` raised
  AttributeError, printed as "Exception ignored in LlamaModel.__del__". None is the value
  a loaded model has; ``close`` then frees whatever was made.
* The two /dev/null files llama-cpp-python opens at import (to silence llama.cpp while it
  loads) are never closed: left to interpreter teardown, each is reported as an unclosed
  file (a ResourceWarning; an error under ``-W error``). They are closed at exit, by this
  module's own exit hook and again by the chat model's after it has freed its models
  (exit hooks run last-registered first, and this module may be imported after
  `chat.llm.embedded` registered its hook); closing twice is harmless.
"""

from __future__ import annotations

import atexit
import contextlib
import sys

from llama_cpp import _internals

if not hasattr(_internals.LlamaModel, "sampler"):
    _internals.LlamaModel.sampler = None


@atexit.register
def close_null_files() -> None:
    """Close llama-cpp-python's two /dev/null files (nothing loads a model after exit)."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()
