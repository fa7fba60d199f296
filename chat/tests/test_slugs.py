"""Ids made from names (§3.1, §5.5): Latin names fold to ASCII, other scripts are
transliterated and get a stable hash, so unrelated entities ("小明", "小红", "!!!") never share an id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.db.connection import open_db
from chat.eventlog.schemas import SLUG_RE
from chat.state.entities import get_entity, list_entities
from chat.tests.api_support import make_bot, make_settings, running_app
from chat.tests.turn_support import one_to_one, running, turn
from chat.world.slugs import name_hash, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Zoë Brandt", "zoe-brandt"),
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("Ørsted", "orsted"),
        ("Þór", "thor"),
        ("ﬁne", "fine"),
        ("  Ada  ", "ada"),
    ],
)
def test_latin_names_are_transliterated(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_names_without_ascii_letters_get_distinct_stable_hashes() -> None:
    names = ["小明", "小红", "Ольга", "Ἀθηνᾶ", "!!!", "???"]
    slugs = [slugify(name) for name in names]
    assert len(set(slugs)) == len(names), slugs
    assert all(re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{8}", slug) for slug in slugs), slugs
    assert slugify("小明") == f"xiaoming-{name_hash('小明')}" == slugify(" 小明 ")
    assert slugify("!!!") == f"e-{name_hash('!!!')}"
    assert "bot" not in slugs


def test_other_scripts_are_transliterated_so_ids_stay_readable() -> None:
    assert slugify("爱") == f"ai-{name_hash('爱')}"
    assert slugify("Ольга") == f"olga-{name_hash('Ольга')}"
    assert slugify("爱") != slugify("愛")  # alike in ASCII, still apart


def test_a_partly_latin_name_keeps_its_words_and_a_hash() -> None:
    assert slugify("Café 小明") == f"cafe-xiaoming-{name_hash('Café 小明')}"
    assert slugify("Café 小明") != slugify("Café 小红")


@given(st.text(max_size=200))
def test_every_slug_is_a_valid_id(name: str) -> None:
    assert re.fullmatch(SLUG_RE, slugify(name))


@pytest.mark.anyio
async def test_extraction_keeps_non_latin_entities_apart(data_dir: Path) -> None:
    first = {
        "entities": [
            {"id": "小明", "name": "小明", "kind": "person", "description": "A fisherman."},
            {"id": "小红", "name": "小红", "kind": "person", "description": "His sister."},
        ],
        "edges": [{"src": "mara", "dst": "小明", "affinity_delta": 5, "label": "friend"}],
    }
    again = {"entities": [{"id": "小明", "description": "A fisherman who sings."}]}
    rules = [
        {"match": "harbour", "extraction": first},
        {"match": "song", "extraction": again},
    ]
    async with running(data_dir, rules) as rt:
        _, chat = await one_to_one(rt)
        assert (await turn(rt, chat["id"], "Who is at the harbour?"))["status"] == "completed"
        assert (await turn(rt, chat["id"], "Who sang that song?"))["status"] == "completed"
    ming, hong = slugify("小明"), slugify("小红")
    with open_db(data_dir / "kith.db") as conn:
        people = {e["id"]: e for e in list_entities(conn) if e["kind"] == "person"}
        edge = conn.execute("SELECT dst, affinity FROM edges WHERE src = 'mara' AND dst != 'you'").fetchall()
        assert get_entity(conn, "bot") is None
    assert set(people) == {ming, hong}
    assert people[ming]["name"] == "小明" and people[ming]["description"] == "A fisherman who sings."
    assert people[ming]["kind"] == "person"  # an update that leaves kind out keeps it
    assert people[hong]["description"] == "His sister."
    assert edge == [(ming, 5)]


@pytest.mark.anyio
async def test_bots_with_non_latin_names_get_their_own_ids(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        ming = await make_bot(client, name="小明")
        hong = await make_bot(client, name="小红")
        shout = await make_bot(client, name="!!!")
        ming_again = await make_bot(client, name="小明")
        ids = [ming["id"], hong["id"], shout["id"], ming_again["id"]]
        assert ids == [slugify("小明"), slugify("小红"), slugify("!!!"), f"{slugify('小明')}-2"]
        listed = {b["id"]: b["name"] for b in (await client.get("/api/bots")).json()}
        assert listed == {ming["id"]: "小明", hong["id"]: "小红", shout["id"]: "!!!", ming_again["id"]: "小明"}
