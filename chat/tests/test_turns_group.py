"""Group turns that fail or are stopped part way (§4.2–§4.3): what was said stays said."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.tests.turn_support import events, running, turn, write_script

pytestmark = pytest.mark.anyio


async def group(rt) -> dict:  # noqa: ANN001 - the runtime
    await rt.author_bot({"name": "Ana", "talkativeness": 0.9})
    await rt.author_bot({"name": "Bo", "talkativeness": 0.5})
    return await rt.create_chat(["ana", "bo"])


async def test_retry_after_the_second_speaker_failed_keeps_the_first_reply(data_dir: Path) -> None:
    script = data_dir.parent / "script.json"
    async with running(data_dir, [{"bot": "bo", "match": "", "error": "bo's server is down"}]) as rt:
        chat = await group(rt)
        failed = await turn(rt, chat["id"], "Evening, both")
        assert failed["status"] == "failed" and failed["error"] == "bo's server is down"
        assert [m["author"] for m in rt.transcript(chat["id"])] == ["you", "ana"]
        write_script(script, [])
        await rt.retry_turn(failed["id"])
        await rt.wait_idle()
        retried = rt.get_turn(failed["id"])
        transcript = rt.transcript(chat["id"])
        prompts = rt.get_prompt(failed["id"])
    assert retried["status"] == "completed"
    assert [(m["author"], m["text"]) for m in transcript] == [
        ("you", "Evening, both"),
        ("ana", "Ana heard you say: Evening, both"),
        ("bo", "Bo heard you say: Evening, both"),
    ]
    assert retried["message_ids"] == [transcript[1]["id"], transcript[2]["id"]]
    assert [p["bot_id"] for p in prompts] == ["ana", "bo"]  # Bo's prompt on retry saw Ana's reply
    assert prompts[1]["messages"][-1]["content"] == "Ana: Ana heard you say: Evening, both"


async def test_stop_during_the_second_reply_keeps_the_first(data_dir: Path) -> None:
    rules = [{"bot": "bo", "match": "", "reply": "one two three four five six", "delay_ms": 100}]
    async with running(data_dir, rules) as rt:
        chat = await group(rt)
        sub = rt.bus.subscribe(chat["id"])
        _, turn_id = await rt.post_message(chat["id"], "Tell me a story")
        while True:
            item = await sub.get(timeout=5)
            if item.type == "token" and item.data["bot_id"] == "bo":
                break
        await rt.cancel_turn(turn_id)
        await rt.wait_idle()
        result = rt.get_turn(turn_id)
        transcript = rt.transcript(chat["id"])
    # Bo's reply keeps what had streamed, marked stopped (§4.3); Ana's stands as it was
    assert [(m["author"], m["stopped"]) for m in transcript] == [("you", False), ("ana", False), ("bo", True)]
    assert "one two three four five six".startswith(transcript[2]["text"]) and transcript[2]["text"]
    assert result["status"] == "completed"
    assert result["message_ids"] == [transcript[1]["id"], transcript[2]["id"]]
    # stopped: no extraction for a turn the user cut short
    assert "memory_added" not in [e.kind for e in events(data_dir, turn_id=turn_id)]


async def test_a_retried_turn_sees_only_what_came_before_it(data_dir: Path) -> None:
    """Later turns happened while this one stood failed: its retry answers its own message,
    with the history before that message and its own earlier replies, nothing later."""
    script = data_dir.parent / "script.json"
    async with running(data_dir, [{"bot": "bo", "match": "Evening", "error": "bo's server is down"}]) as rt:
        chat = await group(rt)
        failed = await turn(rt, chat["id"], "Evening, both")
        assert failed["status"] == "failed"
        later = await turn(rt, chat["id"], "Another thing entirely")
        assert later["status"] == "completed"
        write_script(script, [])
        await rt.retry_turn(failed["id"])
        await rt.wait_idle()
        assert rt.get_turn(failed["id"])["status"] == "completed"
        prompts = rt.get_prompt(failed["id"])
    retry_prompt = prompts[-1]
    assert retry_prompt["bot_id"] == "bo"
    contents = [m["content"] for m in retry_prompt["messages"] if m["role"] != "system"]
    assert not any("Another thing" in text for text in contents), contents
    assert contents[-2:] == ["You: Evening, both", "Ana: Ana heard you say: Evening, both"], contents


async def test_retry_after_a_regenerate_does_not_let_a_bot_answer_twice(data_dir: Path) -> None:
    """Ana's reply of the failed turn was regenerated (another alternative is shown): it was
    still said in that turn, so the retry only lets Bo speak."""
    script = data_dir.parent / "script.json"
    async with running(data_dir, [{"bot": "bo", "match": "", "error": "bo's server is down"}]) as rt:
        chat = await group(rt)
        failed = await turn(rt, chat["id"], "Evening, both")
        assert failed["status"] == "failed"
        await rt.regenerate(chat["id"])
        await rt.wait_idle()
        write_script(script, [])
        await rt.retry_turn(failed["id"])
        await rt.wait_idle()
        retried = rt.get_turn(failed["id"])
        authors = replies_of(rt, failed["id"])
    assert retried["status"] == "completed"
    assert sorted(authors) == ["ana", "bo"], authors


def replies_of(rt, turn_id: str) -> list[str]:  # noqa: ANN001 - the runtime
    """The authors of the bot replies one turn stored, chosen or not."""
    with rt.reader() as conn:
        rows = conn.execute(
            "SELECT author FROM messages WHERE turn_id = ? AND author != 'you' ORDER BY event_id",
            (turn_id,),
        ).fetchall()
    return [row[0] for row in rows]
