"""Lore activation (§8.1): keyword entries switched on by the recent messages."""

from __future__ import annotations

from typing import Any

from chat.cards import parse_card
from chat.tests.test_cards import dumps, v2_card
from chat.turns.lore import activate_lore


def entry(name: str, keys: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "keys": keys, "content": f"about {name}", **extra}


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in entries]


def test_key_in_recent_text_activates_case_insensitively() -> None:
    lore = [entry("light", ["Lighthouse"]), entry("mara", ["Mara"])]
    assert names(activate_lore(lore, ["We walked to the LIGHTHOUSE."])) == ["light"]


def test_case_sensitive_entries_need_the_exact_case() -> None:
    lore = [entry("ann", ["Ann"], case_sensitive=True)]
    assert activate_lore(lore, ["ann was there"]) == []
    assert names(activate_lore(lore, ["Ann was there"])) == ["ann"]


def test_keys_match_whole_words_only() -> None:
    lore = [entry("cat", ["cat"]), entry("dr", ["Dr."])]
    assert activate_lore(lore, ["a category of things"]) == []
    assert names(activate_lore(lore, ["the cat's tail"])) == ["cat"]
    assert names(activate_lore(lore, ["ask Dr. Who"])) == ["dr"]


def test_selective_entries_need_a_secondary_key_too() -> None:
    lore = [entry("night", ["lighthouse"], selective=True, secondary_keys=["night", "dark"])]
    assert activate_lore(lore, ["the lighthouse at noon"]) == []
    assert names(activate_lore(lore, ["the lighthouse", "it was dark"])) == ["night"]
    not_selective = [entry("any", ["lighthouse"], selective=False, secondary_keys=["night"])]
    assert names(activate_lore(not_selective, ["the lighthouse at noon"])) == ["any"]


def test_constant_disabled_blank_and_keyless_entries() -> None:
    lore = [
        entry("always", [], constant=True),
        entry("off", ["sea"], enabled=False),
        entry("blank", ["sea"], content="  "),
        entry("keyless", []),
        entry("empty-key", [""]),
        "not an entry",
    ]
    assert names(activate_lore(lore, ["the sea"])) == ["always"]  # type: ignore[arg-type]


def test_result_is_sorted_by_insertion_order() -> None:
    lore = [
        entry("c", ["sea"], insertion_order=30),
        entry("a", ["sea"], insertion_order=10),
        entry("b", ["sea"], insertion_order=20),
        entry("a2", ["sea"], insertion_order=10),
    ]
    assert names(activate_lore(lore, ["sea"])) == ["a", "a2", "b", "c"]


def test_cap_keeps_constant_then_priority_then_order() -> None:
    lore = [
        entry("low", ["sea"], insertion_order=1, priority=0),
        entry("high", ["sea"], insertion_order=50, priority=9),
        entry("const", [], constant=True, insertion_order=99),
        entry("mid", ["sea"], insertion_order=5, priority=0),
    ]
    assert names(activate_lore(lore, ["sea"], max_entries=2)) == ["high", "const"]
    assert names(activate_lore(lore, ["sea"], max_entries=3)) == ["low", "high", "const"]
    assert activate_lore(lore, ["sea"], max_entries=0) == []


def test_regex_looking_keys_are_literal() -> None:
    lore = [entry("re", ["(a+)+$"]), entry("dot", ["a.c"])]
    assert activate_lore(lore, ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"]) == []
    assert activate_lore(lore, ["abc"]) == []
    assert names(activate_lore(lore, ["x (a+)+$ y", "a.c"])) == ["re", "dot"]


def test_imported_character_book_activates() -> None:
    lore = parse_card(dumps(v2_card()))["lore"]
    assert activate_lore(lore, ["the beacon"]) == []  # selective: needs "night" too
    active = activate_lore(lore, ["the beacon", "late at night"])
    assert [e["content"] for e in active] == ["The lighthouse has been dark for ten years."]
    assert activate_lore(lore, ["Mara pours a drink"]) == []  # disabled entry
