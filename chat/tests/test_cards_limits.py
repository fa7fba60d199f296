"""Cards at SillyTavern's sizes (§3.4): every limit Kith used to impose is passed and imported.

SillyTavern caps no field, greeting list, example list or lorebook; each card here sits past
one of the limits Kith had (a 20,000-character persona, 30 greetings, 50 example dialogues,
500 lore entries), is imported through the real API into a real database, and exported again.
The file limit and the decompression-bomb checks still hold (test_cards_hostile).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chat.cards import MAX_CARD_BYTES, export_card, parse_card
from chat.errors import PayloadTooLarge
from chat.tests.api_support import UPLOAD, make_settings, running_app
from chat.tests.test_cards import v2_card


def _big_persona(card: dict[str, Any]) -> None:
    # The shape the issue reports: a 17k description with a 3.75k prose personality.
    card["data"]["description"] = "She keeps the harbour light. " * 620  # ~17,400 chars
    card["data"]["personality"] = "She is slow to trust and quick to laugh, " * 92  # prose, ~3,700


def _many_greetings(card: dict[str, Any]) -> None:
    card["data"]["alternate_greetings"] = [f"Greeting number {i}, {{{{user}}}}." for i in range(75)]


def _many_examples(card: dict[str, Any]) -> None:
    card["data"]["mes_example"] = "\n".join(
        f"<START>\n{{{{user}}}}: Question {i}?\n{{{{char}}}}: Answer {i}." for i in range(120)
    )


def _many_entries(card: dict[str, Any]) -> None:
    card["data"]["character_book"] = {
        "extensions": {},
        "entries": [
            {"keys": [f"place{i}"], "content": f"Place {i} lies east of the quay.", "id": i,
             "enabled": True, "insertion_order": i, "extensions": {}}
            for i in range(1200)
        ],
    }


CASES = {
    "persona over 20,000 characters": (_big_persona, lambda b: len(b["persona"]) > 20_000),
    "more than 30 alternate greetings": (_many_greetings, lambda b: len(b["alternate_greetings"]) == 75),
    "more than 50 example dialogues": (_many_examples, lambda b: len(b["voice_samples"]) == 120),
    "more than 500 lore entries": (_many_entries, lambda b: len(b["lore"]) == 1200),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_card_past_each_old_limit_parses_and_round_trips(case: str) -> None:
    grow, check = CASES[case]
    card = v2_card()
    grow(card)
    bot = parse_card(json.dumps(card).encode())
    assert check(bot)
    exported = json.loads(export_card({**bot, "id": "iris", "retired": False}, "v2")[0])
    assert parse_card(json.dumps(exported).encode()) == bot


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_card_past_each_old_limit_imports_through_the_api(tmp_path: Path, case: str) -> None:
    grow, check = CASES[case]
    card = v2_card()
    grow(card)
    async with running_app(make_settings(tmp_path)) as (_app, client):
        response = await client.post(
            "/api/bots/import",
            files={"file": ("big.json", json.dumps(card).encode(), "application/json")},
            headers=UPLOAD,
        )
        assert response.status_code == 201, response.text
        stored = (await client.get(f"/api/bots/{response.json()['id']}")).json()
        assert check(stored)


def test_the_overall_file_limit_still_holds() -> None:
    card = v2_card()
    card["data"]["description"] = "x" * MAX_CARD_BYTES
    with pytest.raises(PayloadTooLarge):
        parse_card(json.dumps(card).encode())
