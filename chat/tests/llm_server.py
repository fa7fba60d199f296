"""Start a real OpenAI-compatible server (`python -m llama_cpp.server`) for backend tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server, and kill it when it has not gone after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def llama_cpp_server(
    model: Path, n_ctx: int = 2048, startup_s: float = 90, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """Run llama_cpp.server on a free 127.0.0.1 port; yields its base URL (…/v1).
    ``extra``: more server flags (``("--embedding", "true")`` serves /v1/embeddings)."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--interrupt_requests", "False",  # queue concurrent requests instead of cutting one off
        *extra,
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(process, base_url, log_path, startup_s)
            yield base_url
        finally:
            stop_process(process)


def _wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, log_path: Path, startup_s: float
) -> None:
    deadline = time.monotonic() + startup_s
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama_cpp.server did not start within {startup_s}s")
        time.sleep(0.2)
