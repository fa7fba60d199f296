"""The extraction question fits the model's context (§5.5): a message the post-time check
lets fill most of a reply's context, plus extraction's own instructions, must not make
the model refuse the prompt and the turn lose its memories. The real bundled model's
tokenizer and a real call, and a scripted turn (§7.5)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat.errors import ValidationFailed
from chat.llm.embedded import EmbeddedBackend
from chat.llm.scripted import ScriptedBackend
from chat.llm.types import JsonRequest
from chat.memory.extraction_request import CUT, Fit, extraction_request
from chat.tests.turn_support import one_to_one, running, write_script

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BOTS = [{"id": "mara", "name": "Mara"}]
HEAD = "My sister Marigold keeps bees on the hill above Saltmere."
TAIL = "And the lighthouse keeper owes me three silver coins."
REPLY = "How lovely! Tell me more about the bees."


def _ask(conn: sqlite3.Connection, user_text: str, fit: Fit | None) -> JsonRequest:
    return extraction_request(
        conn, chat_id="none", bots=BOTS, user_name="You", user_text=user_text,
        replies=[(BOTS[0], REPLY)], fit=fit,
    )  # fmt: skip


def _tokens(backend: EmbeddedBackend, request: JsonRequest) -> int:
    return sum(backend.count_tokens(m.content) for m in request.messages)


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(EmbeddedBackend.Options(n_ctx=2048))


def _fit(backend: EmbeddedBackend) -> Fit:
    return Fit(backend.count_tokens, backend.context_length())


def test_a_short_exchange_is_sent_unchanged(conn: sqlite3.Connection, backend: EmbeddedBackend) -> None:
    assert _ask(conn, HEAD, _fit(backend)).messages == _ask(conn, HEAD, None).messages


async def test_a_long_message_is_cut_in_its_middle_until_the_model_takes_it(
    conn: sqlite3.Connection, backend: EmbeddedBackend
) -> None:
    middle = " ".join(f"The tide came in at {n} and went out again." for n in range(400))
    text = f"{HEAD} {middle} {TAIL}"
    whole = _ask(conn, text, None)
    assert _tokens(backend, whole) + whole.max_tokens > backend.context_length()  # refused whole
    fitted = _ask(conn, text, _fit(backend))
    system, user = (m.content for m in fitted.messages)
    assert system == whole.messages[0].content and CUT.strip() in user
    assert user.startswith(f"You: {HEAD}") and TAIL in user  # its start and its end are kept
    assert user.endswith(f"\nMara: {REPLY}")
    assert _tokens(backend, fitted) + fitted.max_tokens <= backend.context_length()
    assert fitted.context == whole.context  # the scripted backend's and the checks' view
    await backend.complete_json(fitted)  # the real model takes it: no "too long" refusal


def test_a_message_of_many_short_lines_fits_and_keeps_each_speaker(
    conn: sqlite3.Connection, backend: EmbeddedBackend
) -> None:
    """Many short lines: a cut per line (the first version) blanked lines, the speaker's
    name first, and gave up still too long."""
    text = "\n".join(f"buy bread {n}" for n in range(1500))
    fitted = _ask(conn, text, _fit(backend))
    user = fitted.messages[1].content
    assert user.startswith("You: buy bread 0\n") and user.endswith(f"\nMara: {REPLY}")
    assert _tokens(backend, fitted) + fitted.max_tokens <= backend.context_length()


class _Asked(ScriptedBackend):
    """The scripted backend (§7.5), keeping every JSON question it was sent."""

    def __init__(self, options: ScriptedBackend.Options) -> None:
        super().__init__(options)
        self.asked: list[JsonRequest] = []

    async def complete_json(self, req):  # noqa: ANN001, ANN201 - the Backend signature
        self.asked.append(req)
        return await super().complete_json(req)


@pytest.mark.parametrize("shape", ["words", "lines"])
async def test_a_turn_asks_extraction_a_question_that_fits(data_dir: Path, shape: str) -> None:
    """The longest message the post-time check accepts, in a 1,024-token context: the
    turn's extraction question is cut to fit, with the user's words as the check saw them."""
    script = write_script(data_dir.parent / "script.json", [])
    model = _Asked(ScriptedBackend.Options(script_path=script, context_length=1024))
    joiner = " " if shape == "words" else "\n"
    async with running(data_dir, backend=model) as rt:
        _, chat = await one_to_one(rt)
        words = [f"bread{n}" if shape == "lines" else "bread" for n in range(700)]
        while True:  # the longest text the post-time check lets through
            try:
                _, turn_id = await rt.post_message(chat["id"], joiner.join(words))
                break
            except ValidationFailed:
                words = words[:-20]
        await rt.wait_idle(chat["id"])
        assert rt.get_turn(turn_id)["status"] == "completed"
    [question] = [r for r in model.asked if r.purpose == "extraction"]
    tokens = sum(model.count_tokens(m.content) for m in question.messages)
    assert tokens + question.max_tokens <= 1024
    assert CUT.strip() in question.messages[1].content
    assert question.messages[1].content.startswith("You: bread")
    assert question.context["user_text"] == joiner.join(words)
