"""Fixtures of the in-process tests: an in-process chat server over real TCP (see
:mod:`tests.support.chatclient`), and the database of the backend-neutral storage tests (an SQLite
file here; ``tests/e2e`` runs the same tests on MariaDB)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted

from tests.support.chatclient import ChatServer, start_server
from twisted_chat.storage.url import SqliteURL


@pytest.fixture
def db_url(tmp_path: Path) -> SqliteURL:
    """A database that does not exist yet: an SQLite file in ``tmp_path``."""
    return SqliteURL(str(tmp_path / "chat.sqlite3"))


@pytest_twisted.async_yield_fixture
async def server() -> AsyncIterator[ChatServer]:
    """A server on SQLite in a temporary directory, flood control and strikes off
    (:data:`tests.support.chatclient.RELAXED_LIMITS`); stopped, with its clients, afterwards."""
    chat = await start_server()
    try:
        yield chat
    finally:
        await chat.stop()
