"""Lore activation (§8.1) against SillyTavern's documented World Info behaviour.

Each case is one rule of SillyTavern's docs (World Info: keywords, optional filter logic,
scan depth, recursion, insertion order, probability, budget), written as a small book and
the messages that should or should not switch an entry on.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.turns.lore import LoreSettings, activate_lore, scan_lore, settings_of


def entry(keys: list[str], content: str, **extra: Any) -> dict[str, Any]:
    return {"keys": keys, "content": content, "enabled": True, "insertion_order": 100, **extra}


def names(entries: list[dict[str, Any]], texts: list[str], **options: Any) -> list[str]:
    return [a.content for a in scan_lore(entries, texts, **options)]


# --- keys ------------------------------------------------------------------------


def test_a_key_in_the_recent_messages_activates_its_entry() -> None:
    book = [entry(["lighthouse"], "L"), entry(["market"], "M")]
    assert names(book, ["We walked to the lighthouse."]) == ["L"]


def test_keys_are_case_insensitive_unless_the_entry_says_otherwise() -> None:
    book = [entry(["Pell"], "A"), entry(["Pell"], "B", extensions={"case_sensitive": True})]
    assert names(book, ["old pell waved"]) == ["A"]
    assert sorted(names(book, ["old Pell waved"])) == ["A", "B"]


def test_whole_words_by_default_and_substrings_when_switched_off() -> None:
    book = [entry(["cat"], "whole"), entry(["cat"], "part", extensions={"match_whole_words": False})]
    assert names(book, ["a category"]) == ["part"]
    assert sorted(names(book, ["the cat, asleep"])) == ["part", "whole"]
    assert names(book, ["a category"], settings=LoreSettings(match_whole_words=False)) == ["part", "whole"]
    # (equal insertion orders: SillyTavern prepends each, so the later entry comes first)


def test_a_key_of_several_words_matches_as_a_substring() -> None:
    book = [entry(["old man"], "X")]
    assert names(book, ["the bold mango"]) == ["X"]  # a substring, word edges not checked
    assert names(book, ["an old, tired man"]) == []


def test_whole_word_boundaries_are_ascii_like_javascript() -> None:
    book = [entry(["爱"], "love")]
    assert names(book, ["我爱你"]) == ["love"]


def test_regex_keys_with_flags() -> None:
    book = [entry(["/light(house|ship)s?/i"], "R"), entry(["/^dock$/m"], "D")]
    assert names(book, ["Two LIGHTSHIPS"]) == ["R"]
    assert names(book, ["go to the\ndock\nnow"]) == ["D"]
    assert names(book, ["lightning"]) == []


def test_a_malformed_regex_key_is_plain_text() -> None:
    book = [entry(["/a(b/"], "P")]
    assert names(book, ["see /a(b/ here"]) == ["P"]


def test_a_catastrophic_regex_cannot_hang_the_scan() -> None:
    book = [entry([r"/^(\w+\s?)*$/"], "slow")]
    result = names(book, ["An apple a day keeps the doctor away and so on and so forth!" * 3])
    assert result in ([], ["slow"])  # either way it returned


def test_disabled_entries_never_activate_in_either_spelling() -> None:
    book = [entry(["sea"], "A", enabled=False), {"key": ["sea"], "content": "B", "disable": True}]
    assert names(book, ["the sea"]) == []


def test_sillytavern_world_info_spelling_is_read() -> None:
    book = [{"key": ["harbor"], "keysecondary": ["night"], "selective": True, "order": 5,
             "content": "ST", "selectiveLogic": 3}]
    assert names(book, ["harbor at night"]) == ["ST"]
    assert names(book, ["harbor by day"]) == []


# --- selective logic ------------------------------------------------------------


@pytest.mark.parametrize(
    ("logic", "text", "active"),
    [
        (0, "ship storm", True),  # AND ANY: one secondary is enough
        (0, "ship calm", False),
        (3, "ship storm night", True),  # AND ALL: every secondary
        (3, "ship storm", False),
        (1, "ship storm", True),  # NOT ALL: at least one secondary missing
        (1, "ship storm night", False),
        (2, "ship calm", True),  # NOT ANY: no secondary present
        (2, "ship night", False),
    ],
)
def test_selective_logic(logic: int, text: str, active: bool) -> None:
    book = [entry(["ship"], "S", selective=True, secondary_keys=["storm", "night"],
                  extensions={"selectiveLogic": logic})]
    assert names(book, [text]) == (["S"] if active else [])


def test_secondary_keys_are_ignored_when_the_entry_is_not_selective() -> None:
    book = [entry(["ship"], "S", selective=False, secondary_keys=["storm"])]
    assert names(book, ["a ship"]) == ["S"]


def test_secondary_keys_never_activate_on_their_own() -> None:
    book = [entry(["ship"], "S", selective=True, secondary_keys=["storm"])]
    assert names(book, ["a storm"]) == []


# --- scan depth, constants ------------------------------------------------------


def test_scan_depth_counts_the_newest_messages() -> None:
    book = [entry(["anchor"], "A")]
    texts = ["the anchor", "one", "two"]
    assert names(book, texts) == []  # default depth 2: only "one" and "two"
    assert names(book, texts, settings=LoreSettings(scan_depth=3)) == ["A"]
    deep = [entry(["anchor"], "A", extensions={"scan_depth": 3})]
    assert names(deep, texts) == ["A"]
    assert names(book, ["anchor"], settings=LoreSettings(scan_depth=0)) == []


def test_constant_entries_are_always_on() -> None:
    book = [entry([], "always", constant=True), entry(["x"], "keyed")]
    assert names(book, ["nothing here"]) == ["always"]


# --- recursion ------------------------------------------------------------------


def test_recursion_follows_activated_content() -> None:
    book = [entry(["pell"], "Pell keeps the lighthouse."), entry(["lighthouse"], "It is dark.")]
    assert sorted(names(book, ["I met Pell"])) == ["It is dark.", "Pell keeps the lighthouse."]
    assert names(book, ["I met Pell"], settings=LoreSettings(recursive=False)) == ["Pell keeps the lighthouse."]


@pytest.mark.parametrize("spelling", ["prevent_recursion", "preventRecursion"])
def test_prevent_recursion_keeps_content_out_of_the_scan(spelling: str) -> None:
    book = [entry(["pell"], "Pell keeps the lighthouse.", extensions={spelling: True}),
            entry(["lighthouse"], "It is dark.")]
    assert names(book, ["I met Pell"]) == ["Pell keeps the lighthouse."]


@pytest.mark.parametrize("spelling", ["exclude_recursion", "excludeRecursion"])
def test_exclude_recursion_only_activates_from_messages(spelling: str) -> None:
    book = [entry(["pell"], "Pell keeps the lighthouse."),
            entry(["lighthouse"], "It is dark.", **{spelling: True})]
    assert names(book, ["I met Pell"]) == ["Pell keeps the lighthouse."]
    assert len(names(book, ["Pell at the lighthouse"])) == 2


def test_delay_until_recursion_needs_another_entry_first() -> None:
    book = [entry(["pell"], "Pell keeps the lighthouse."),
            entry(["lighthouse"], "It is dark.", extensions={"delay_until_recursion": True})]
    assert names(book, ["the lighthouse"]) == []
    assert len(names(book, ["Pell"])) == 2


def test_recursion_stops_on_cycles() -> None:
    book = [entry(["a"], "see b"), entry(["b"], "see a")]
    assert sorted(names(book, ["a"])) == ["see a", "see b"]


# --- order, position, probability, budget -----------------------------------------


def test_insertion_order_lowest_first_and_positions_kept() -> None:
    book = [entry(["k"], "late", insertion_order=50),
            entry(["k"], "early", insertion_order=5, extensions={"position": 4, "depth": 2, "role": 1}),
            entry(["k"], "mid", insertion_order=20, position="after_char")]
    active = scan_lore(book, ["k"])
    assert [a.content for a in active] == ["early", "mid", "late"]
    assert [a.position for a in active] == ["at_depth", "after_char", "before_char"]
    assert (active[0].depth, active[0].role) == (2, "user")


def test_probability_is_repeatable_for_a_seed_and_varies_between_seeds() -> None:
    book = [entry(["k"], f"e{i}", extensions={"probability": 50, "useProbability": True}) for i in range(40)]
    first = names(book, ["k"], seed="turn-1")
    assert first == names(book, ["k"], seed="turn-1")
    assert 5 < len(first) < 35
    assert first != names(book, ["k"], seed="turn-2")
    off = [entry(["k"], "x", extensions={"probability": 0, "useProbability": False})]
    assert names(off, ["k"], seed="s") == ["x"]


def test_token_budget_stops_at_the_first_entry_that_does_not_fit_highest_order_first() -> None:
    book = [entry(["k"], "a" * 40, insertion_order=1), entry(["k"], "b" * 40, insertion_order=9),
            entry(["k"], "c" * 40, insertion_order=5)]
    # 4 characters a token: each entry costs ~11 tokens with its newline
    kept = names(book, ["k"], settings=LoreSettings(token_budget=25))
    assert kept == ["c" * 40, "b" * 40]


def test_no_cap_on_how_many_entries_activate() -> None:
    book = [entry([f"k{i}"], f"e{i}") for i in range(60)]
    assert len(activate_lore(book, [" ".join(f"k{i}" for i in range(60))])) == 60


def test_macros_are_expanded_in_keys_and_content() -> None:
    book = [entry(["{{char}}"], "{{char}} is old.")]
    sub = lambda text: text.replace("{{char}}", "Pell")  # noqa: E731
    assert names(book, ["hello Pell"], substitute=sub) == ["Pell is old."]


def test_book_settings_are_read_from_the_character_book() -> None:
    settings = settings_of({"scan_depth": 5, "token_budget": 300, "recursive_scanning": False}, token_budget=200)
    assert settings == LoreSettings(scan_depth=5, recursive=False, token_budget=200)
