"""A string the generation bound cut mid-word is ended at a word (chat/llm/jsonutil.py)."""

from __future__ import annotations

from chat.llm.jsonutil import STRING_BOUND, bounded_schema, end_cut_string
from chat.llm.schemas import ExtractionProposal


def test_a_text_cut_by_the_bound_mid_word_ends_at_a_word() -> None:
    text = ("The lighthouse keeper swore to protect it from the sea. " * 5)[:STRING_BOUND]
    assert text[-1].isalnum() and not text.endswith("sea.")  # cut inside a word
    ended = end_cut_string(text)
    assert ended.endswith("…") and len(ended) < STRING_BOUND
    assert text.startswith(ended[:-1]) and text[len(ended) - 1] == " "  # the cut is at a space


def test_texts_the_bound_did_not_cut_stay_whole() -> None:
    whole = "A short memory"
    assert end_cut_string(whole) == whole
    at_bound_sentence = ("x" * (STRING_BOUND - 6)) + " done."
    assert end_cut_string(at_bound_sentence) == at_bound_sentence  # ends with punctuation
    longer = "word " * 100  # a server that ignores the bound: longer texts are not cut here
    assert end_cut_string(longer.strip()) == longer.strip()


def test_the_bound_is_the_one_generation_uses() -> None:
    schema = bounded_schema(ExtractionProposal)
    memory = schema["$defs"]["MemoryProposal"]["properties"]["text"]
    assert memory["maxLength"] == STRING_BOUND
