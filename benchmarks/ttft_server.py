"""A real `python -m llama_cpp.server` with its prompt cache on, for `bench_ttft`.

Started on a free 127.0.0.1 port with ``--cache true`` (llama-cpp-python's
`LlamaRAMCache`) and ``--verbose true``, so that each completion logs how much of its
prompt it reused: ``Llama.generate: N prefix-match hit, remaining M prompt tokens to
eval``. `ServerLog.requests_since_last()` reads those lines, one per completion, in the
order the requests came.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from chat.tests.llm_server import _wait_until_ready, free_port, stop_process

PREFIX_LINE = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens to eval")
CACHE_HIT = "Llama._create_completion: cache hit"


@dataclass
class ServerLog:
    """The server's stderr/stdout file and how far it has been read."""

    path: Path
    pid: int
    offset: int = 0

    def requests_since_last(self) -> list[dict[str, int | bool]]:
        """One entry per completion since the last call: reused and evaluated prompt tokens,
        and whether the RAM cache loaded a saved state for it."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode("utf-8", errors="replace")
            self.offset = handle.tell()
        requests: list[dict[str, int | bool]] = []
        hit = False
        for line in text.splitlines():
            if CACHE_HIT in line:
                hit = True
            match = PREFIX_LINE.search(line)
            if match:
                reused, rest = int(match.group(1)), int(match.group(2))
                requests.append({"reused": reused, "evaluated": rest, "prompt": reused + rest, "cache_hit": hit})
                hit = False
        return requests

    def rss_mb(self) -> dict[str, float]:
        """The server's resident memory now and at its peak."""
        out: dict[str, float] = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
        except OSError:
            pass
        return {"rss_mb": out.get("VmRSS", float("nan")), "peak_rss_mb": out.get("VmHWM", float("nan"))}


@contextmanager
def llama_server(model: Path, log_dir: Path, n_ctx: int, cache_bytes: int) -> Iterator[tuple[str, ServerLog]]:
    """Run the server until the block ends; yields (base URL ending in /v1, its log)."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--cache", "true", "--cache_type", "ram",
        "--cache_size", str(cache_bytes), "--verbose", "true", "--interrupt_requests", "False",
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = log_dir / "llama_server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, base_url, log_path, 180)  # the tests' own readiness wait
        server_log = ServerLog(log_path, process.pid)
        # One tiny request first, so that every measured request logs its prefix match
        # (the very first completion of a server has no context to match and logs none).
        httpx.post(
            f"{base_url}/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            timeout=600,
        ).raise_for_status()
        server_log.requests_since_last()
        yield base_url, server_log
    finally:
        stop_process(process)
