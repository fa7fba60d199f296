"""How to keep the reply's KV cache across a JSON call: the options, measured (issue 15).

Each strategy runs in its own process (so RSS is its own): load the bundled model, then
three times: a reply prompt of ~1,100 tokens that extends the previous one (greedy,
8 tokens), then a JSON call on another prompt. Reported: RSS after loading, after
setting up, at the end and at its peak; each reply's evaluated prompt tokens
(llama.cpp's ``n_p_eval``) and time to first token; the time spent saving and loading.

* ``none``: one context; the JSON call overwrites it.
* ``stock``: `Llama.save_state()` before the JSON call, `load_state()` after.
* ``ramcache``: llama-cpp-python's `LlamaRAMCache` (what ``llama_cpp.server --cache``
  uses).
* ``seqstate``: copy only sequence 0's used cells (``llama_state_seq_get_data`` /
  ``set_data``), what `chat.llm.kv_keep` does.
* ``twin``: a second llama context on the same loaded weights for the JSON call.
* ``second``: a second `Llama` (its own load of the file) for the JSON call.

    python -m benchmarks.kv_strategies [--pairs 24]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STRATEGIES = ("none", "stock", "ramcache", "seqstate", "twin", "second")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return round(int(line.split()[1]) / 1024)
    return -1


def _twin(llama: Any) -> Any:
    """A second context on the same weights (llama-cpp-python internals, measurement only)."""
    import numpy as np
    from llama_cpp import _internals as internals

    twin = copy.copy(llama)
    twin._stack = contextlib.ExitStack()
    twin._ctx = twin._stack.enter_context(contextlib.closing(
        internals.LlamaContext(model=llama._model, params=llama.context_params, verbose=False)))
    twin._batch = twin._stack.enter_context(contextlib.closing(internals.LlamaBatch(
        n_tokens=llama.n_batch, embd=0, n_seq_max=llama.context_params.n_ctx, verbose=False)))
    twin._candidates = internals.LlamaTokenDataArray(n_vocab=llama._n_vocab)
    twin.n_tokens = 0
    twin.input_ids = np.ndarray((llama._n_ctx,), dtype=np.intc)
    twin.scores = np.ndarray(llama.scores.shape, dtype=np.single)
    return twin


def measure(strategy: str, pairs: int) -> dict[str, Any]:
    """One strategy in this process (see the module docstring)."""
    import llama_cpp
    from llama_cpp import Llama

    from chat.llm.embedded import bundled_model_path

    out: dict[str, Any] = {"strategy": strategy, "rss_start_mb": _status("VmRSS")}

    def load() -> Llama:
        return Llama(model_path=str(bundled_model_path()), n_ctx=2048,
                     n_threads_batch=os.cpu_count(), verbose=False)

    llama = load()
    out["rss_loaded_mb"] = _status("VmRSS")
    persona = "You are Mara, a lighthouse keeper in a foggy harbour town. " * 20
    history: list[dict[str, str]] = []
    for i in range(pairs + 6):
        history.append({"role": "user", "content": f"Tell me about the harbour and the fog, number {i}. What do you see?"})
        history.append({"role": "assistant", "content": f"The fog rolls over the pier and the old ships {i} rest below the lamp."})
    json_prompt = [{"role": "system", "content": "Extract facts as JSON."},
                   {"role": "user", "content": "The user said: the fog is thick. Extract."}]
    side = llama
    if strategy == "ramcache":
        llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=2 << 30))
    elif strategy == "twin":
        side = _twin(llama)
    elif strategy == "second":
        side = load()
    out["rss_ready_mb"] = _status("VmRSS")
    turns = []
    for k in range(3):
        messages = [{"role": "system", "content": persona}, *history[: 2 * pairs + 2 * k],
                    {"role": "user", "content": f"What now {k}?"}]
        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
        started, first = time.perf_counter(), None
        for chunk in llama.create_chat_completion(messages=messages, max_tokens=8, temperature=0.0, stream=True):
            if first is None and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
        row: dict[str, Any] = {"ttft_s": round(first or 0, 3),
                               "evaluated": llama_cpp.llama_perf_context(llama._ctx.ctx).n_p_eval,
                               "context_tokens": llama.n_tokens}
        t0 = time.perf_counter()
        saved: Any = None
        if strategy == "seqstate":
            size = llama_cpp.llama_state_seq_get_size(llama._ctx.ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            written = llama_cpp.llama_state_seq_get_data(llama._ctx.ctx, buf, size, 0)
            saved = (buf, written, llama.input_ids[: llama.n_tokens].copy(), llama.n_tokens)
            row["state_mb"] = round(written / 2**20, 1)
        elif strategy == "stock":
            saved = llama.save_state()
        row["save_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        side.create_chat_completion(messages=json_prompt, max_tokens=20, temperature=0.2,
                                    response_format={"type": "json_object"})
        t0 = time.perf_counter()
        if strategy == "seqstate":
            llama._ctx.kv_cache_seq_rm(-1, 0, -1)
            llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, saved[0], saved[1], 0)
            llama.input_ids[: saved[3]] = saved[2]
            llama.n_tokens = saved[3]
        elif strategy == "stock":
            llama.load_state(saved)
        row["load_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        row["rss_mb"] = _status("VmRSS")
        turns.append(row)
    out.update(turns=turns, rss_end_mb=_status("VmRSS"), peak_rss_mb=_status("VmHWM"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24, help="user/assistant pairs in the first prompt")
    parser.add_argument("--one", choices=STRATEGIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.pairs)))
        return
    for strategy in STRATEGIES:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.kv_strategies", "--one", strategy, "--pairs", str(args.pairs)],
            capture_output=True, text=True, check=True,
        )
        print(json.dumps({**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}))


if __name__ == "__main__":
    main()
