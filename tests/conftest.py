"""Shared fixtures: a real MariaDB for the storage tests (see :mod:`tests.mariadb`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import mariadb
from twisted_chat.storage.url import MysqlURL


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MysqlURL]:
    """A MariaDB/MySQL server URL; skips loudly when none is available (fails under CI=true)."""
    url, private, why_not = mariadb.locate()
    if url is None:
        message = f"MySQL tests need a MariaDB server: {why_not}"
        if _in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(f"SKIPPING MYSQL TESTS: {message}")
    try:
        yield url
    finally:
        if private is not None:
            private.destroy()


@pytest.fixture
def mysql_url(mysql_server: MysqlURL) -> Iterator[MysqlURL]:
    """A fresh, empty database on the test server, dropped after the test."""
    with mariadb.scratch_database(mysql_server) as url:
        yield url
