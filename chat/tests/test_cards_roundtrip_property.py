"""Property test: any well-formed V2 card survives import -> export -> import unchanged,
and the export rebuilds every original field exactly (§3.4)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.cards import export_card, parse_card

texts = st.text(max_size=60)
words = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12)
personalities = st.one_of(
    texts,
    st.lists(words, min_size=1, max_size=8).map(", ".join),
    st.lists(words, min_size=1, max_size=8).map(lambda w: ";".join(w) + "."),
)
examples = st.lists(texts, max_size=4).map(lambda blocks: "".join(f"<START>{b}" for b in blocks))
talkativeness = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=False), texts, st.just("0.3")
)


@st.composite
def v2_cards(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": draw(st.text(min_size=1, max_size=80).filter(str.strip)),
        "description": draw(st.one_of(st.none(), texts)),
        "personality": draw(personalities),
        "scenario": draw(st.one_of(st.none(), texts)),
        "first_mes": draw(texts),
        "mes_example": draw(st.one_of(examples, texts)),
        "alternate_greetings": draw(st.lists(texts, max_size=3)),
        "tags": draw(st.lists(texts, max_size=5)),
        "extensions": {"other": draw(st.dictionaries(words, texts, max_size=2))},
    }
    value = draw(talkativeness)
    if value is not None and (not isinstance(value, float) or abs(value) < 1e300):
        data["extensions"]["talkativeness"] = value
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


@settings(max_examples=150, deadline=None)
@given(v2_cards())
def test_any_v2_card_round_trips(card: dict[str, Any]) -> None:
    first = parse_card(json.dumps(card).encode())
    body = export_card({**first, "id": "x"}, "v2")[0]
    assert parse_card(body) == first
    exported = json.loads(body)["data"]
    for key, value in card["data"].items():
        assert exported[key] == value, key
