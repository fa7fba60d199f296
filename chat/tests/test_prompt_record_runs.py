"""A new prompt record's items as runs of the previous record's (§8.4): the cheap identity
of message references (`_identity`) finds exactly the items their sorted JSON finds."""

from __future__ import annotations

import json
import random
from typing import Any

from chat.turns.prompt_record import _identity, _runs


def runs_by_json(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Any]:
    """`_runs` as it was, every item known by its JSON with sorted keys."""
    where: dict[str, int] = {}
    for index, item in enumerate(old):
        where.setdefault(json.dumps(item, sort_keys=True), index)
    ops: list[Any] = []
    for item in new:
        last = ops[-1] if ops and isinstance(ops[-1], list) else None
        if last is not None and last[0] + last[1] < len(old) and old[last[0] + last[1]] == item:
            last[1] += 1
            continue
        found = where.get(json.dumps(item, sort_keys=True))
        ops.append([found, 1] if found is not None else item)
    return ops


def an_item(rnd: random.Random) -> dict[str, Any]:
    """References and look-alikes: ``e`` as 1, 1.0 or True, ``p`` absent or empty, an
    extra key, segments."""
    kind = rnd.randrange(6)
    role = rnd.choice(["user", "assistant"])
    if kind == 0:
        return {"r": role, "s": [rnd.choice(["note", "scene"]), rnd.randrange(3)]}
    item: dict[str, Any] = {"r": role, "e": rnd.choice([1, 2, 1.0, True, "1"]) if kind == 1 else rnd.randrange(1, 4)}
    if kind in (2, 3):
        item["p"] = rnd.choice(["", "Mara: ", "You: "])
    if kind == 4:
        item["x"] = 1
    return item


def test_runs_find_the_items_their_json_finds() -> None:
    rnd = random.Random(7)
    for _ in range(400):
        old = [an_item(rnd) for _ in range(rnd.randrange(0, 12))]
        new = [an_item(rnd) for _ in range(rnd.randrange(0, 12))]
        if old and rnd.random() < 0.5:  # a shifted transcript, as turn after turn
            new = old[rnd.randrange(len(old)) :] + new
        assert json.dumps(_runs(old, new)) == json.dumps(runs_by_json(old, new))


def test_a_reference_is_known_by_its_values_and_a_look_alike_by_its_json() -> None:
    assert _identity({"r": "user", "e": 3}) == _identity({"e": 3, "r": "user"})
    assert _identity({"r": "user", "e": 3}) != _identity({"r": "user", "e": 3, "p": ""})
    assert _identity({"r": "user", "e": 1}) != _identity({"r": "user", "e": True})
    assert _identity({"r": "user", "e": 1}) != _identity({"r": "user", "e": 1.0})
    assert isinstance(_identity({"r": "user", "e": 1, "x": 1}), str)
