"""Mapping a decoded card object to bot fields and back (§3.4).

``card_to_bot`` reads V1 (flat), V2 (``chara_card_v2``) and V3 (``chara_card_v3``) objects;
``card_data`` rebuilds the ``data`` object of a V2 or V3 card from a bot. Everything of the
original card that has no bot field lives in ``bot["card"]``:

* every ``data`` key without a home (creator, system_prompt, extensions, nickname, assets,
  unknown keys...) verbatim, under its own name;
* ``spec`` / ``spec_version`` of the original, and ``outer``: top-level keys other than
  spec, spec_version and data (V1 backfill copies equal to ``data`` are dropped);
* ``character_book``: the book's own metadata (name, scan_depth, ...), entries excluded;
* the original text of a mapped field when the mapping is lossy (see ``fields``).

Kith-only fields (a backstory that differs from the scenario, the relationship to you)
travel in ``data.extensions.kith`` and are taken back out on import.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from chat.cards import fields as f
from chat.errors import CardInvalid

CardVersion = Literal["v1", "v2", "v3"]
SPECS: dict[str, CardVersion] = {"chara_card_v2": "v2", "chara_card_v3": "v3"}
MAPPED = frozenset(
    {
        "name",
        "description",
        "personality",
        "scenario",
        "first_mes",
        "mes_example",
        "alternate_greetings",
        "tags",
        "character_book",
    }
)
RESERVED = frozenset({"spec", "spec_version", "outer"})
V2_DEFAULTS: dict[str, Any] = {
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "creator": "",
    "character_version": "",
    "extensions": {},
}
V3_DEFAULTS: dict[str, Any] = {"group_only_greetings": []}
KITH_EXTENSION = "kith"
_LORE_LISTS = ("keys", "secondary_keys")


def detect(obj: dict[str, Any]) -> tuple[CardVersion, dict[str, Any], dict[str, Any]]:
    """Return (version, data object, top-level extras) of a decoded card."""
    spec = obj.get("spec")
    if spec is not None:
        if spec not in SPECS:
            raise CardInvalid(
                f"unknown card spec {spec!r}; Kith reads chara_card_v2, chara_card_v3 and V1 cards"
            )
        version = SPECS[spec]
    elif isinstance(obj.get("data"), dict) and "name" not in obj:
        version = "v2"  # a V2 card that forgot its spec
    else:
        return "v1", obj, {}
    data = obj.get("data")
    if not isinstance(data, dict):
        raise CardInvalid(f"{spec or 'card'} field data must be an object, not {f.json_type(data)}")
    outer = {
        key: value
        for key, value in obj.items()
        if key not in ("spec", "spec_version", "data") and not _is_backfill(key, value, data)
    }
    return version, data, outer


V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
"""The V1 fields SillyTavern copies to the top level of a V2 card (§3.4)."""


def v1_backfill(data: dict[str, Any]) -> dict[str, Any]:
    """Top-level copies of ``data`` as SillyTavern writes them, so V1-only readers see the
    card: the six V1 fields, ``creatorcomment``, ``tags`` and ``talkativeness``."""
    backfill = {key: copy.deepcopy(data.get(key, "")) for key in V1_FIELDS}
    backfill["creatorcomment"] = data.get("creator_notes", "")
    backfill["tags"] = copy.deepcopy(data.get("tags", []))
    extensions = data.get("extensions")
    if isinstance(extensions, dict) and "talkativeness" in extensions:
        backfill["talkativeness"] = extensions["talkativeness"]
    return backfill


def _is_backfill(key: str, value: Any, data: dict[str, Any]) -> bool:
    """Whether a top-level key only repeats ``data`` (dropped on import, rebuilt on export)."""
    if key in data:
        return data[key] == value
    if key == "creatorcomment":
        return data.get("creator_notes") == value
    extensions = data.get("extensions")
    if key == "talkativeness" and isinstance(extensions, dict) and "talkativeness" in extensions:
        return extensions["talkativeness"] == value
    return False


def card_to_bot(obj: dict[str, Any]) -> dict[str, Any]:
    """Bot fields (no id, not yet validated) for a decoded card object."""
    version, data, outer = detect(obj)
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise CardInvalid(f"card field name must be text, not {f.json_type(name)}")
    if not name or not name.strip():
        raise CardInvalid("card has no name (field name is missing or empty)")
    card: dict[str, Any] = {}
    if version != "v1":
        card["spec"] = obj.get("spec", "chara_card_v2")
        if "spec_version" in obj:
            card["spec_version"] = obj["spec_version"]
    if outer:
        card["outer"] = outer
    for key, value in data.items():
        if key not in MAPPED and key not in RESERVED:
            card[key] = value
    for key, default in (V2_DEFAULTS | (V3_DEFAULTS if version == "v3" else {})).items():
        if card.get(key) is None:
            card[key] = copy.deepcopy(default)
    if not isinstance(card["extensions"], dict):
        raise CardInvalid(f"card field extensions must be an object, not {f.json_type(card['extensions'])}")

    description = f.text_field(data, "description")
    personality = f.text_field(data, "personality")
    scenario = f.text_field(data, "scenario")
    first_mes = f.text_field(data, "first_mes")
    mes_example = f.text_field(data, "mes_example")
    greetings = f.text_list(data, "alternate_greetings")
    tags = f.clean_tags(f.text_list(data, "tags"))
    traits = f.traits_of(personality)
    samples = f.split_samples(mes_example)
    _keep_if_lossy(card, data, "description", description)
    _keep_if_lossy(card, data, "scenario", scenario)
    _keep_if_lossy(card, data, "first_mes", first_mes)
    _keep_if_lossy(card, data, "personality", f.join_traits(traits))
    _keep_if_lossy(card, data, "mes_example", f.join_samples(samples))
    _keep_if_lossy(card, data, "alternate_greetings", greetings)
    _keep_if_lossy(card, data, "tags", tags)

    extensions = card["extensions"] = copy.deepcopy(card["extensions"])
    kith = _take_kith_extension(extensions)
    bot: dict[str, Any] = {
        "name": name,
        "persona": f.persona_of(description, personality),
        "traits": traits,
        "backstory": "",  # the card's scenario is the world's scenario (§3.4.1), not copied
        "scenario": scenario,
        "kickoff_prose": first_mes,
        "voice_samples": samples,
        "alternate_greetings": greetings,
        "tags": tags,
        "talkativeness": f.talkativeness_of(extensions.get("talkativeness")),
        "lore": _lore_from_book(data, card),
        "card": card,
    }
    bot.update(kith)
    return bot


def _keep_if_lossy(card: dict[str, Any], data: dict[str, Any], key: str, rebuilt: Any) -> None:
    """Keep the original of a mapped field when export could not rebuild it exactly."""
    if key in data and data[key] != rebuilt:
        card[key] = data[key]


def _take_kith_extension(extensions: dict[str, Any]) -> dict[str, Any]:
    kith = extensions.get(KITH_EXTENSION)
    if not isinstance(kith, dict):
        return {}
    taken: dict[str, Any] = {}
    rest = dict(kith)
    for key in ("backstory", "scenario", "initial_relationship_to_you"):
        if key in rest:
            taken[key] = f.text_field(rest, key, where="card extension kith.")
            del rest[key]
    if rest:
        extensions[KITH_EXTENSION] = rest
    else:
        del extensions[KITH_EXTENSION]
    return taken


def _lore_from_book(data: dict[str, Any], card: dict[str, Any]) -> list[dict[str, Any]]:
    if "character_book" not in data:
        return []
    book = data["character_book"]
    if book is None:
        card["character_book"] = None
        return []
    if not isinstance(book, dict):
        raise CardInvalid(f"card field character_book must be an object, not {f.json_type(book)}")
    entries = book.get("entries")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise CardInvalid(f"character_book.entries must be a list, not {f.json_type(entries)}")
    meta = {key: value for key, value in book.items() if key != "entries"}
    if meta.get("extensions") is None:
        meta["extensions"] = {}
    card["character_book"] = meta
    return [_lore_entry(index, entry) for index, entry in enumerate(entries)]


def _lore_entry(index: int, entry: Any) -> dict[str, Any]:
    """An entry as a LoreEntry dict: every key kept, nulls of known fields left to defaults."""
    if not isinstance(entry, dict):
        raise CardInvalid(f"character_book.entries[{index}] must be an object, not {f.json_type(entry)}")
    out = {key: value for key, value in entry.items() if value is not None or key == "id"}
    for key in _LORE_LISTS:
        if isinstance(out.get(key), str):  # some tools write "a, b" instead of ["a", "b"]
            out[key] = [part.strip() for part in out[key].split(",") if part.strip()]
    if out.get("extensions") is None:
        out["extensions"] = {}
    return out


def card_data(bot: dict[str, Any], version: Literal["v2", "v3"]) -> dict[str, Any]:
    """The ``data`` object of a V2/V3 card for ``bot``, original fields verbatim where unchanged."""
    card: dict[str, Any] = bot.get("card") or {}
    data: dict[str, Any] = {
        key: copy.deepcopy(value)
        for key, value in card.items()
        if key not in MAPPED and key not in RESERVED
    }
    traits = list(bot.get("traits") or [])
    personality = _verbatim(card, "personality", f.traits_of, traits, f.join_traits(traits))
    description = f.description_of(bot.get("persona") or "", personality)
    scenario_value = bot.get("scenario") or bot.get("backstory") or ""
    samples = list(bot.get("voice_samples") or [])
    data["name"] = bot["name"]
    data["description"] = _verbatim(card, "description", _text, description, description)
    data["personality"] = personality
    data["scenario"] = _verbatim(card, "scenario", _text, scenario_value, scenario_value)
    first_mes = bot.get("kickoff_prose") or ""
    data["first_mes"] = _verbatim(card, "first_mes", _text, first_mes, first_mes)
    data["mes_example"] = _verbatim(
        card, "mes_example", _samples, samples, f.join_samples(samples)
    )
    greetings = list(bot.get("alternate_greetings") or [])
    data["alternate_greetings"] = _verbatim(card, "alternate_greetings", _list, greetings, greetings)
    tags = list(bot.get("tags") or [])
    data["tags"] = _verbatim(card, "tags", _tags, tags, tags)
    book = _book(card, list(bot.get("lore") or []))
    if book is not None or "character_book" in card:
        data["character_book"] = book
    data["extensions"] = _extensions(card, bot, scenario_value)
    defaults = V2_DEFAULTS | (V3_DEFAULTS if version == "v3" else {})
    for key, default in defaults.items():
        if data.get(key) is None:
            data[key] = copy.deepcopy(default)
    return data


def outer_fields(bot: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys of the original card besides spec, spec_version and data."""
    outer = (bot.get("card") or {}).get("outer")
    return copy.deepcopy(outer) if isinstance(outer, dict) else {}


def _verbatim(card: dict[str, Any], key: str, derive: Any, current: Any, rebuilt: Any) -> Any:
    """The original value if import would still derive ``current`` from it, else ``rebuilt``."""
    if key in card:
        try:
            if derive(card[key]) == current:
                return copy.deepcopy(card[key])
        except (CardInvalid, TypeError, AttributeError):
            pass
    return rebuilt


def _text(value: Any) -> str:
    return f.text_field({"v": value}, "v")


def _list(value: Any) -> list[str]:
    return f.text_list({"v": value}, "v")


def _samples(value: Any) -> list[str]:
    return f.split_samples(_text(value))


def _tags(value: Any) -> list[str]:
    return f.clean_tags(_list(value))


def _book(card: dict[str, Any], lore: list[dict[str, Any]]) -> dict[str, Any] | None:
    meta = card.get("character_book")
    if not lore and meta is None:
        return None
    book = copy.deepcopy(meta) if isinstance(meta, dict) else {"extensions": {}}
    entries = []
    for entry in lore:
        entry = copy.deepcopy(entry)
        if entry.get("extensions") is None:
            entry["extensions"] = {}
        entries.append(entry)
    book["entries"] = entries
    return book


def _extensions(card: dict[str, Any], bot: dict[str, Any], scenario: str) -> dict[str, Any]:
    original = card.get("extensions")
    extensions = copy.deepcopy(original) if isinstance(original, dict) else {}
    talkativeness = float(bot.get("talkativeness", f.DEFAULT_TALKATIVENESS))
    if "talkativeness" in extensions:
        if f.talkativeness_of(extensions["talkativeness"]) != talkativeness:
            extensions["talkativeness"] = f.talkativeness_text(talkativeness)
    elif talkativeness != f.DEFAULT_TALKATIVENESS:
        extensions["talkativeness"] = f.talkativeness_text(talkativeness)
    kith = extensions.get(KITH_EXTENSION)
    kith = dict(kith) if isinstance(kith, dict) else {}
    backstory = bot.get("backstory") or ""
    own_scenario = bot.get("scenario") or ""
    if backstory and backstory != own_scenario:
        kith["backstory"] = backstory
    if own_scenario != scenario:  # the card's scenario was filled from the backstory
        kith["scenario"] = own_scenario
    relationship = bot.get("initial_relationship_to_you") or f.DEFAULT_RELATIONSHIP
    if relationship != f.DEFAULT_RELATIONSHIP:
        kith["initial_relationship_to_you"] = relationship
    if kith:
        extensions[KITH_EXTENSION] = kith
    return extensions
