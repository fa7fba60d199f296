"""Fixtures shared by the suite: every test gets its own data directory and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations


@pytest.fixture
def anyio_backend() -> str:
    """Every `pytest.mark.anyio` test runs on asyncio, the loop the app runs on (one definition)."""
    return "asyncio"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def db_path(data_dir: Path) -> Path:
    path = data_dir / "kith.db"
    apply_migrations(path)
    return path


@pytest.fixture
def conn(db_path: Path) -> Iterator:
    with open_db(db_path) as connection:
        yield connection
