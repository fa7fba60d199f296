"""Keep llama.cpp's KV cache of earlier prompts across other model calls (§8.1.1, §13).

llama-cpp-python reuses the part of its one context that the new prompt shares from
the start (``Llama.generate``'s prefix match). Between two reply turns the extraction
and reflection JSON calls overwrite that context, so without help every reply would
evaluate its whole prompt again. `KvKeeper` copies the state of sequence 0 (only the
used KV cells, ~23 KB a token for SmolLM2-135M) into memory just before a call would
overwrite more than `SAVE_MIN_TOKENS` of it, and loads the kept state that shares the
longest prefix with a new prompt when it beats what the context holds. One keeper
serves replies, JSON calls, group chats and several chats alike, within a byte budget.

Chosen by measurement (`python -m benchmarks.kv_strategies`, docs/benchmarks.md "Time
to first token"): a second llama context or model for JSON calls cost 156–267 MB more
RSS for good; llama-cpp-python's `save_state` / `LlamaRAMCache` copy 100 MB of unused
logits per save (RSS 512–806 MB); this costs a copy of the used cells, ~35 ms a turn.

`KeptLlama` is a `Llama` whose `generate` (which every completion goes through, with
the prompt's tokens) asks the keeper first. It touches llama-cpp-python's `_ctx`,
`input_ids` and `n_tokens`, pinned to 0.3.16 in pyproject.toml; the embedded backend
tests check the reuse with the real model, so an upgrade that breaks it fails them.
"""

from __future__ import annotations

import ctypes
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama

from chat.llm import llama_guard  # noqa: F401  (its mends, before any model loads)

SAVE_MIN_TOKENS = 32
"""Save the context before a call only when the call would overwrite at least this many
tokens of it (fewer are cheaper to evaluate again than to copy)."""
RESTORE_MIN_TOKENS = 16
"""Load a kept state only when it shares this many more prompt tokens than the context."""
SEQ = 0  # llama-cpp-python uses sequence 0 only


@dataclass
class CallStats:
    """What one model call cost in prompt evaluation, as llama.cpp counted it."""

    purpose: str
    prompt_tokens: int = 0
    reused_tokens: int = 0
    """Prompt tokens already in the context (after any restore) and not evaluated again."""
    evaluated_tokens: int = 0
    """Prompt tokens llama.cpp evaluated in batches (``llama_perf_context().n_p_eval``)."""
    prompt_eval_ms: float = 0.0
    saved_tokens: int = 0
    """Tokens of the context saved before this call overwrote it (0: nothing saved)."""
    restored_tokens: int = 0
    """Tokens of the kept state loaded before this call (0: none loaded)."""
    keep_ms: float = 0.0
    """Time spent saving and loading states for this call."""


@dataclass
class _Kept:
    tokens: np.ndarray
    data: np.ndarray


def common_prefix(a: np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """How many tokens `a` and `b` share from the start."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != np.asarray(b[:n], dtype=a.dtype))
    return int(diff[0]) if len(diff) else n


class KvKeeper:
    """Saved context states of one model, least recently used first, within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._next = 0
        self.current: CallStats | None = None
        """The call in progress (set by `call`); `before` fills in its numbers."""

    @property
    def kept_bytes(self) -> int:
        return sum(k.data.nbytes for k in self._kept.values())

    @property
    def kept_states(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        """Forget every kept state (a benchmark that wants each prompt evaluated afresh)."""
        self._kept.clear()

    @contextmanager
    def call(self, llama: Llama, purpose: str) -> Iterator[CallStats]:
        """Count one call's prompt evaluation with llama.cpp's own counters (the caller
        holds the model's lock, so the counters are this call's alone)."""
        stats = CallStats(purpose)
        self.current = stats
        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
        try:
            yield stats
        finally:
            self.current = None
            perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
            # llama.cpp reports at least 1; a prompt rest of one token counts as generated.
            stats.evaluated_tokens = perf.n_p_eval if stats.prompt_tokens > stats.reused_tokens + 1 else (
                stats.prompt_tokens - stats.reused_tokens
            )
            stats.prompt_eval_ms = perf.t_p_eval_ms

    def before(self, llama: Llama, tokens: Sequence[int]) -> None:
        """Called with a prompt's tokens just before llama-cpp-python evaluates them."""
        started = time.perf_counter()
        stats = self.current if self.current is not None else CallStats("other")
        stats.prompt_tokens = len(tokens)
        self._trim(keep=None)  # the budget may have shrunk since the last call
        held = np.asarray(llama.input_ids[: llama.n_tokens])
        matched = common_prefix(held, tokens[:-1])
        best, best_len = self._best(tokens[:-1])
        use = best if best is not None and best_len >= matched + RESTORE_MIN_TOKENS else None
        if self.max_bytes > 0 and len(held) - matched >= SAVE_MIN_TOKENS:
            stats.saved_tokens = self._save(llama, held, keep=use)
        if use is not None and use in self._kept and self._load(llama, use):
            stats.restored_tokens = len(self._kept[use].tokens)
            self._kept.move_to_end(use)
            matched = best_len
        stats.reused_tokens = matched
        stats.keep_ms = (time.perf_counter() - started) * 1000

    def _best(self, prompt: Sequence[int]) -> tuple[int | None, int]:
        best, best_len = None, 0
        for key, kept in self._kept.items():
            shared = common_prefix(kept.tokens, prompt)
            if shared > best_len:
                best, best_len = key, shared
        return best, best_len

    def _save(self, llama: Llama, held: np.ndarray, keep: int | None) -> int:
        """Copy sequence 0's cells; drop kept states this one makes redundant, then the
        least recently used ones while over budget (never `keep`, about to be loaded)."""
        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, SEQ)
        if size <= 0 or size > self.max_bytes:
            return 0
        data = np.empty(size, dtype=np.uint8)
        written = llama_cpp.llama_state_seq_get_data(ctx, _pointer(data), size, SEQ)
        if written <= 0:
            return 0
        tokens = held.copy()
        for key in [k for k, kept in self._kept.items() if _is_prefix(kept.tokens, tokens)]:
            del self._kept[key]  # anything it would restore, this one restores too
        self._kept[self._next] = _Kept(tokens=tokens, data=data[:written])
        self._next += 1
        self._trim(keep)
        return len(tokens) if self._next - 1 in self._kept else 0

    def _trim(self, keep: int | None) -> None:
        """Drop the least recently used states (never `keep`) while over budget."""
        for key in [k for k in self._kept if k != keep]:
            if self.kept_bytes <= self.max_bytes:
                break
            del self._kept[key]

    def _load(self, llama: Llama, key: int) -> bool:
        """Replace the context with a kept state; on failure leave it empty (evaluated afresh)."""
        kept = self._kept[key]
        ctx = llama._ctx
        ctx.kv_cache_seq_rm(-1, 0, -1)
        read = llama_cpp.llama_state_seq_set_data(ctx.ctx, _pointer(kept.data), kept.data.nbytes, SEQ)
        if read == 0:
            ctx.kv_cache_seq_rm(-1, 0, -1)
            llama.n_tokens = 0
            del self._kept[key]
            return False
        n = len(kept.tokens)
        llama.input_ids[:n] = kept.tokens
        llama.n_tokens = n
        return True


def _is_prefix(short: np.ndarray, long: np.ndarray) -> bool:
    return len(short) <= len(long) and common_prefix(short, long) == len(short)


def _pointer(data: np.ndarray) -> Any:
    return data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))


class KeptLlama(Llama):
    """A `Llama` that lets its `KvKeeper` save and restore the context before each prompt."""

    def __init__(self, *args: Any, keep_bytes: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keeper = KvKeeper(keep_bytes)

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        self.keeper.before(self, tokens)
        return super().generate(tokens, *args, **kwargs)
