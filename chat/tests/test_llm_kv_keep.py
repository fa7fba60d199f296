"""The embedded model's KV cache survives JSON calls between replies (§8.1.1, §13).

With the real bundled model: a reply prompt that extends the previous one, asked after
an extraction call overwrote the context, is evaluated only from where it differs
(llama.cpp's own count of evaluated prompt tokens says so), and the answer is the one
a fresh evaluation gives.
"""

from __future__ import annotations

import contextlib

import pytest

from chat.errors import ModelOutputInvalid
from chat.llm.embedded import EmbeddedBackend
from chat.llm.kv_keep import CallStats, common_prefix
from chat.llm.schemas import ExtractionProposal
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PERSONA = (
    "You are Mara, the keeper of the lighthouse above a small foggy harbour. You are dry, "
    "patient and fond of the fishermen. You never leave the lamp unattended at night. "
)


def history(tag: str, pairs: int) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for i in range(pairs):
        out.append(ChatMessage("user", f"{tag}: what did you see from the lamp room on night {i}?"))
        out.append(ChatMessage("assistant", f"On night {i} the fog lay on the pier and a {tag} boat came in late."))
    return out


def reply(messages: list[ChatMessage], text: str) -> ReplyRequest:
    return ReplyRequest(
        messages=[*messages, ChatMessage("user", text)], bot_id="mara", bot_name="Mara",
        user_name="You", user_text=text, max_tokens=8, temperature=0.0,
    )


def extraction(text: str) -> JsonRequest:
    return JsonRequest(
        messages=[
            ChatMessage("system", "Answer with one JSON object with the keys entities, edges, memories, world and scene."),
            ChatMessage("user", f"You: {text}\nMara: The fog is thick tonight."),
        ],
        schema=ExtractionProposal, purpose="extraction", max_tokens=48,
    )


async def exchange(backend: EmbeddedBackend, tag: str) -> tuple[CallStats, CallStats, str]:
    """Reply, extraction, then the next reply (the first plus two messages); the stats of
    the two replies and the second reply's text."""
    calls = backend.load().calls
    base = [ChatMessage("system", PERSONA * 3), *history(tag, 12)]
    first = await backend.reply_text(reply(base, "Is the lamp lit?"))
    before = calls[-1]
    with contextlib.suppress(ModelOutputInvalid):  # the tiny model's JSON; the call still ran
        await backend.complete_json(extraction("Is the lamp lit?"))
    grown = [*base, ChatMessage("user", "Is the lamp lit?"), ChatMessage("assistant", first)]
    second = await backend.reply_text(reply(grown, "Then tell me who came in late."))
    return before, calls[-1], second


async def test_reply_after_a_json_call_evaluates_only_the_new_tokens() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0))
    first, second, _ = await exchange(backend, "herring")
    assert first.purpose == second.purpose == "reply"
    assert second.prompt_tokens > 400
    assert second.restored_tokens > 0, "the reply state was not loaded back after extraction"
    assert second.reused_tokens >= first.prompt_tokens - 2
    # llama.cpp's own count of prompt tokens it evaluated for the second reply
    assert 0 < second.evaluated_tokens < second.prompt_tokens / 5


async def test_without_a_budget_the_whole_prompt_is_evaluated_again() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0, kv_keep_bytes=0))
    _, second, _ = await exchange(backend, "mackerel")
    assert second.restored_tokens == 0
    assert second.evaluated_tokens > second.prompt_tokens * 0.95  # all but "<|im_start|>system"


async def test_restored_state_answers_like_a_fresh_evaluation() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0))
    _, stats, kept = await exchange(backend, "cod")
    assert stats.restored_tokens > 0
    loaded = backend.load()
    loaded.llama.keeper.clear()
    loaded.llama.reset()  # nothing to reuse: the whole prompt is evaluated
    base = [ChatMessage("system", PERSONA * 3), *history("cod", 12)]
    first = await backend.reply_text(reply(base, "Is the lamp lit?"))
    loaded.llama.keeper.clear()
    loaded.llama.reset()
    grown = [*base, ChatMessage("user", "Is the lamp lit?"), ChatMessage("assistant", first)]
    fresh = await backend.reply_text(reply(grown, "Then tell me who came in late."))
    assert loaded.calls[-1].reused_tokens == 0
    assert fresh == kept


async def test_two_prompts_taking_turns_both_reuse_their_states() -> None:
    """A group chat: two bots' prompts differ from the start and alternate."""
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0))
    calls = backend.load().calls
    a = [ChatMessage("system", "You are Tobias, the harbour master. " * 12), *history("trawler", 8)]
    b = [ChatMessage("system", "You are Ines, the baker. " * 12), *history("dinghy", 8)]
    await backend.reply_text(reply(a, "Any ships today?"))
    await backend.reply_text(reply(b, "Any bread today?"))
    await backend.reply_text(reply(a, "Any ships tomorrow?"))
    back_to_a = calls[-1]
    await backend.reply_text(reply(b, "Any bread tomorrow?"))
    back_to_b = calls[-1]
    for stats in (back_to_a, back_to_b):
        assert stats.restored_tokens > 0
        assert stats.evaluated_tokens < stats.prompt_tokens / 4


async def test_a_budget_smaller_than_a_state_keeps_nothing() -> None:
    backend = EmbeddedBackend(EmbeddedBackend.Options(seed=0, kv_keep_bytes=4096))
    keeper = backend.load().llama.keeper
    keeper.clear()
    _, second, _ = await exchange(backend, "sprat")
    assert keeper.kept_states == 0 and second.restored_tokens == 0


def test_common_prefix() -> None:
    import numpy as np

    held = np.array([1, 2, 3, 4], dtype=np.intc)
    assert common_prefix(held, [1, 2, 3, 4, 5]) == 4
    assert common_prefix(held, [1, 2, 9]) == 2
    assert common_prefix(held, []) == 0
    assert common_prefix(held[:0], [1]) == 0


def test_prompt_budget_overhead_covers_the_bundled_chat_template() -> None:
    """The prompt budget's per-message overhead is at least what the model's template adds,
    so a prompt assembled to fit the context is never refused by llama.cpp."""
    from chat.turns.prompt_layout import MESSAGE_OVERHEAD

    backend = EmbeddedBackend()
    llama = backend.load().llama
    for role in ("system", "user", "assistant"):
        content = "Tide turns at six. Be on the quay at half past five, or swim."
        templated = f"<|im_start|>{role}\n{content}<|im_end|>\n"
        real = len(llama.tokenize(templated.encode(), add_bos=False, special=True))
        assert real <= backend.count_tokens(content) + MESSAGE_OVERHEAD, role
