"""Fixtures of the end-to-end tests: a real MariaDB for the storage tests (see
:mod:`tests.support.mariadb`), a private MariaDB that the outage tests stop and start, and for the
cluster tests a private Redis (:mod:`tests.support.redis_server`) and HAProxy
(:mod:`tests.support.haproxy`); for the browser tests, headless chromiums
(:mod:`tests.support.browser`). Each skips loudly when its component is missing, and fails under
``CI=true`` (:mod:`tests.support.needs`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome as WebDriver

from tests.support import mariadb
from tests.support.browser import browser_missing, start_chromium
from tests.support.haproxy import find_haproxy
from tests.support.needs import missing
from tests.support.redis_server import TEST_PASSWORD, RedisServer, find_redis_server
from twisted_chat.storage.url import MysqlURL


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MysqlURL]:
    """A MariaDB/MySQL server URL; skips loudly when none is available (fails under CI=true)."""
    url, private, why_not = mariadb.locate()
    if url is None:
        missing("MYSQL TESTS", f"MySQL tests need a MariaDB server: {why_not}")
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


@pytest.fixture
def db_url(mysql_url: MysqlURL) -> MysqlURL:
    """This level's database for the backend-neutral storage tests collected again here (the
    ``*_mariadb.py`` modules): a fresh, empty MariaDB database, dropped after the test."""
    return mysql_url


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[mariadb.PrivateMariaDB]:
    """A MariaDB server of the test module's own, which its tests may stop and start.

    Skips loudly when ``mariadbd`` is missing (fails under CI=true).
    """
    binary = mariadb.find_mariadbd()
    if binary is None:
        missing("OUTAGE TESTS", "database outage tests need mariadbd to start a private MariaDB")
    server = mariadb.PrivateMariaDB(binary)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def outage_url(private_mariadb: mariadb.PrivateMariaDB) -> Iterator[MysqlURL]:
    """A fresh database name on the private server (created by its user), dropped afterwards."""
    with mariadb.fresh_database(private_mariadb) as url:
        yield url


def _missing(what: str, why: str) -> None:
    """The cluster tests cannot run without ``what``: skip loudly, fail under CI=true."""
    missing("CLUSTER TESTS", f"cluster tests need {what}: {why}")


def _redis_binary() -> str:
    binary = find_redis_server()
    if binary is None:
        _missing("redis-server", "not installed (apt-get install redis-server)")
    assert binary is not None
    return binary


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own on a free port, which it may kill and restart.

    Skips loudly when ``redis-server`` is missing (fails under CI=true).
    """
    server = RedisServer(_redis_binary())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def redis_with_password() -> Iterator[RedisServer]:
    """Like :func:`redis_server`, but requiring ``AUTH`` with
    :data:`tests.support.redis_server.TEST_PASSWORD`."""
    server = RedisServer(_redis_binary(), password=TEST_PASSWORD)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` shared by a test module's nodes (not to be killed by its tests)."""
    server = RedisServer(_redis_binary())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def module_mysql_url(mysql_server: MysqlURL) -> Iterator[MysqlURL]:
    """A fresh, empty database shared by a test module, dropped after it."""
    with mariadb.scratch_database(mysql_server) as url:
        yield url


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    """The ``haproxy`` binary; skips loudly when missing (fails under CI=true)."""
    binary = find_haproxy()
    if binary is None:
        _missing("haproxy", "not installed (apt-get install haproxy)")
    assert binary is not None
    return binary


@pytest.fixture
def browsers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], WebDriver]]:
    """A function that starts a fresh headless chromium (its own empty profile); all of them
    are quit at the end. Skips loudly without chromium and chromedriver (fails under CI=true)."""
    why_not = browser_missing()
    if why_not is not None:
        missing("THE BROWSER TEST", f"the browser test must run: {why_not}")
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    started: list[WebDriver] = []

    def start() -> WebDriver:
        driver = start_chromium(tmp_path / f"profile-{len(started)}")
        started.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in started:
            driver.quit()
