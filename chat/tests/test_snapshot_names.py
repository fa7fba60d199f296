"""Snapshot names that come from users (API, CLI) are checked whole before any file is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.errors import NotFound, ValidationFailed
from chat.snapshots.api import find_snapshot

GOOD = "20261124T205752.913926Z-e000000000014.json"


@pytest.mark.parametrize(
    "name",
    [GOOD + "\n", "../" + GOOD, "/etc/passwd", GOOD.replace(".json", ".json.tmp"), "x" + GOOD, ""],
)
def test_a_name_that_is_not_exactly_a_snapshot_name_is_refused(data_dir: Path, name: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        find_snapshot(data_dir, name)
    assert info.value.field == "name"


def test_a_well_formed_name_that_does_not_exist_is_not_found(data_dir: Path) -> None:
    with pytest.raises(NotFound):
        find_snapshot(data_dir, GOOD)
