"""The pure parts of chapters (§5.7): which chapters a prompt holds, and what of a model's
summary is kept (model output is untrusted)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chat.memory.chapter_writer import MAX_CHARS, clean_summary
from chat.turns.chapter_select import first_kept_event, left_out_chapters, with_chapters

HISTORY = [{"id": f"m{n}", "event_id": 10 * n} for n in range(1, 11)]  # event ids 10..100
CHAPTERS = [
    {"id": "c1", "first_event_id": 1, "last_event_id": 9},  # before the history window
    {"id": "c2", "first_event_id": 10, "last_event_id": 30},
    {"id": "c3", "first_event_id": 40, "last_event_id": 60},
]


def test_the_first_kept_message_is_the_oldest_of_those_kept() -> None:
    assert first_kept_event(HISTORY, 0) == 10
    assert first_kept_event(HISTORY, 4) == 50
    shuffled = [HISTORY[5], HISTORY[3], HISTORY[9]]  # a late reply of an earlier turn first
    assert first_kept_event(shuffled, 0) == 40
    assert first_kept_event(HISTORY, 10) is None


@pytest.mark.parametrize(
    ("dropped", "wanted"),
    [
        (0, ["c1"]),
        (1, ["c1", "c2"]),
        (3, ["c1", "c2"]),
        (4, ["c1", "c2", "c3"]),
        (9, ["c1", "c2", "c3"]),
    ],
)
def test_a_prompt_holds_the_chapters_of_what_it_leaves_out(dropped: int, wanted: list[str]) -> None:
    assert [c["id"] for c in left_out_chapters(CHAPTERS, HISTORY, dropped)] == wanted


@dataclass
class Built:
    dropped_messages: int
    chapters: list[str]


def test_room_taken_by_chapters_can_call_in_the_next_one() -> None:
    calls: list[list[str]] = []

    def build(chapters: list[dict]) -> Built:
        ids = [c["id"] for c in chapters]
        calls.append(ids)
        return Built(1 + 2 * len(chapters), ids)  # each chapter pushes the transcript on by two

    prompt, chosen = with_chapters(build, CHAPTERS, HISTORY)
    assert [c["id"] for c in chosen] == ["c1", "c2", "c3"] == prompt.chapters
    assert calls == [[], ["c1", "c2"], ["c1", "c2", "c3"]]


def test_without_chapters_the_prompt_is_built_once() -> None:
    calls = []
    prompt, chosen = with_chapters(lambda c: calls.append(c) or Built(5, []), [], HISTORY)
    assert chosen == [] and len(calls) == 1 and prompt.dropped_messages == 5


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (
            "  Summary:  Mara  and you rowed\nout past the breakwater. ",
            "Mara and you rowed out past the breakwater.",
        ),
        ('"Mara found the ledger under the stove."', "Mara found the ledger under the stove."),
        (
            "Chapter summary - The fog came in and they went home.",
            "The fog came in and they went home.",
        ),
    ],
)
def test_a_summary_is_unwrapped_and_its_spaces_made_plain(raw: str, kept: str) -> None:
    assert clean_summary(raw) == (kept, "")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "words"),
        ("Fog. Sea.", "words"),
        ('{"summary": "they talked"}', "markup"),
        ("<b>They talked about the boat</b>", "markup"),
        ("1 2 3 4 5 6 7 8 !!! ???", "not words"),
        (
            "Reply as Mara only, in a few sentences. Never write what You or anyone else says or does.",
            "instructions",
        ),
        ("In a few plain sentences, say what happened: who did what.", "instructions"),
    ],
)
def test_junk_summaries_are_dropped_with_a_reason(raw: str, reason: str) -> None:
    text, why = clean_summary(raw)
    assert text is None and reason in why


def test_a_copy_of_the_previous_chapter_is_dropped() -> None:
    previous = "Mara and you rowed out past the breakwater before the fog came in."
    text, why = clean_summary(
        "Mara and you rowed out past the breakwater before the fog came.", previous=previous
    )
    assert text is None and "previous chapter" in why
    assert (
        clean_summary("The harbour master asked for the ledger back.", previous=previous)[0]
        is not None
    )


def test_a_long_summary_is_cut_at_a_sentence_end() -> None:
    text, _ = clean_summary("They sailed north and found an island. " * 100)
    assert text is not None and len(text) <= MAX_CHARS and text.endswith("island.")
    text, _ = clean_summary("word " * 1000)
    assert text is not None and len(text) <= MAX_CHARS + 2 and text.endswith(" …")


def test_a_summary_that_copies_the_transcript_lines_is_dropped() -> None:
    copied = "The fog came. Mara: Then someone is expected. You: The ledger is due by Friday."
    text, why = clean_summary(copied, speakers=["You", "Mara"])
    assert text is None and "copies the transcript" in why
    told = "Mara said someone was expected; you said the ledger was due: Friday."
    assert clean_summary(told, speakers=["You", "Mara"])[0] == told


def test_a_good_guess_builds_the_prompt_once() -> None:
    calls: list[list[str]] = []

    def build(chapters: list[dict]) -> Built:
        calls.append([c["id"] for c in chapters])
        return Built(4, calls[-1])  # keeps from event 50: c1, c2 and c3 are left out

    prompt, chosen = with_chapters(build, CHAPTERS, HISTORY, guess=50)
    assert calls == [["c1", "c2", "c3"]] and prompt.chapters == ["c1", "c2", "c3"]
    calls.clear()
    with_chapters(build, CHAPTERS, HISTORY, guess=20)  # a wrong guess is put right
    assert calls == [["c1", "c2"], ["c1", "c2", "c3"]]


def test_a_raw_line_break_inside_a_json_string_is_kept() -> None:
    """The bundled model writes one inside its summary even under the grammar; the answer
    is kept (and its spaces made plain by the checks), not thrown away as invalid JSON."""
    from chat.llm.jsonutil import parse_json_text, validate_output
    from chat.llm.schemas import ChapterProposal

    raw = '{"summary": "They rowed out.\n\tThe fog came in."}'
    assert parse_json_text(raw) == {"summary": "They rowed out.\n\tThe fog came in."}
    summary = validate_output("Here: " + raw, ChapterProposal).summary
    assert clean_summary(summary) == ("They rowed out. The fog came in.", "")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_text('{"summary": "unterminated')
