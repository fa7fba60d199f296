"""Fixtures shared by the suite: every test gets its own data directory and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.tests.llm_fault_server import FaultServer, start_fault_server


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


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A real OpenAI-compatible server on 127.0.0.1 that answers as each test scripts it."""
    server = start_fault_server()
    yield server
    server.stop()
