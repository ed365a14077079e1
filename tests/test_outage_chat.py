"""A MariaDB outage with the chat running loses nothing (issue 3, points 5 and 7).

The in-process server (built as ``twistd chat`` builds it) runs on a private MariaDB of this
module's own, which the test stops and starts again (blocking, so in a thread, while the reactor
keeps serving). During the outage logins, public and private messages and commands keep working,
registered nicknames stay protected, and ``/registrar`` is refused with a ``! `` try-later line.
Once the database is back, every login made during the outage is in ``clientes`` with its
original time, and the server logged the outage once and the recovery once. Every wait is
bounded.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import quote

import pytest
import pytest_twisted
from twisted.internet import task, threads
from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from zope.interface import implementer

from tests import mariadb
from tests.chatclient import ChatClient, ChatServer, get_reactor, start_server, wait
from twisted_chat.storage.url import MysqlURL
from twisted_chat.text import SPANISH

pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(240, method="thread")]

R = TypeVar("R")
T = SPANISH

#: Seconds a MariaDB stop or start may take.
SERVER_WAIT = 60.0
#: Seconds the server may take to write the queued logins once MariaDB is back (its backoff
#: doubles from 0.5 s while the database is down; the outage here lasts a few seconds).
RECOVERY_WAIT = 45.0
#: Seconds an account operation (argon2 in a thread, then the database) may take.
ACCOUNT_WAIT = 15.0

HORA = re.compile(r"\* Hora del servidor: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- helpers ---------------------------------------------------------------------------------------


async def sleep(seconds: float) -> None:
    """Let the reactor run for ``seconds``."""
    await task.deferLater(get_reactor(), seconds, lambda: None)


async def in_thread(func: Callable[[], R], what: str, timeout: float) -> R:
    """Run blocking ``func`` in a thread while the reactor keeps serving (bounded)."""
    result: R = await wait(threads.deferToThread(func), what, timeout)
    return result


async def wait_until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await sleep(0.02)


def mysql_option(url: MysqlURL) -> str:
    """The ``--db`` value for ``url`` (password included, URL-quoted)."""
    auth = quote(url.user, safe="")
    if url.password:
        auth += ":" + quote(url.password, safe="")
    return f"mysql://{auth}@{url.host}:{url.port}/{url.database}"


def read_logins(url: MysqlURL) -> dict[str, float]:
    """``{nick_key: connected_at as a UTC timestamp}`` from ``clientes`` (blocking)."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nick_key, connected_at FROM clientes")
        rows: list[tuple[str, datetime]] = list(cursor.fetchall())
    finally:
        conn.close()
    return {key: when.replace(tzinfo=UTC).timestamp() for key, when in rows}


def read_accounts(url: MysqlURL) -> set[str]:
    """The registered nick keys in ``cuentas`` (blocking)."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nick_key FROM cuentas")
        return {str(row[0]) for row in cursor.fetchall()}
    finally:
        conn.close()


@dataclass
class Login:
    """When a client logged in, as seen from the client: the server's time is in between."""

    nick: str
    before: float
    after: float

    def matches(self, stored: float | None) -> bool:
        """Whether ``stored`` (whole seconds, truncated) is this login's time."""
        return stored is not None and math.floor(self.before) <= stored <= self.after


@implementer(ILogObserver)
class LogCapture:
    """Every log event, from the global publisher, while installed."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def of_store(self, store: object) -> list[LogEvent]:
        """Events of the login store (``twisted_chat.storage.logins``)."""
        return [
            e
            for e in self.events
            if e.get("log_source") is store
            and str(e.get("log_namespace", "")).startswith("twisted_chat.storage.logins")
        ]

    def tracebacks(self) -> list[str]:
        """Events at level critical or carrying a failure (a traceback), as text.

        Legacy events (``twisted.python.log.err``, as ``adbapi`` uses) carry ``failure``; new
        ones ``log_failure``.
        """
        texts: list[str] = []
        for event in self.events:
            failure = event.get("log_failure") or event.get("failure")
            if failure is None and event.get("log_level") is not LogLevel.critical:
                continue
            text = formatEvent(event)
            if failure is not None and "Traceback" not in text:
                text += "\n" + failure.getTraceback()
            texts.append(text)
        return texts


async def login(
    client: ChatClient, nick: str, password: str | None = None, *, visit: bool
) -> Login:
    """Log ``client`` in (prompt read here); ``visit``: whether the database line follows."""
    assert await client.line() == f"* {T.prompt}"
    before = time.time()
    client.say(nick if password is None else f"{nick} {password}")
    assert await client.line(timeout=ACCOUNT_WAIT) == f"* {T.welcome.format(nick=nick)}"
    after = time.time()
    client.nickname = nick
    if visit:
        line = await client.line()
        assert line.startswith(("* Es tu primera", "* Tu última conexión")), line
    return Login(nick, before, after)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[mariadb.PrivateMariaDB]:
    """A MariaDB server of this module's own, which the tests stop and start."""
    binary = mariadb.find_mariadbd()
    if binary is None:
        message = "database outage tests need mariadbd to start a private MariaDB"
        if _in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(f"SKIPPING OUTAGE TESTS: {message}")
    server = mariadb.PrivateMariaDB(binary)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def outage_url(private_mariadb: mariadb.PrivateMariaDB) -> Iterator[MysqlURL]:
    """A fresh database name on the private server (the chat creates it), dropped afterwards."""
    if private_mariadb.process is None:  # a failed test left it stopped
        private_mariadb.start()
    url = replace(private_mariadb.url, database=f"redes_{uuid.uuid4().hex[:10]}")
    yield url
    if private_mariadb.process is None:
        private_mariadb.start()
    conn = mariadb.connect(private_mariadb.url)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    finally:
        conn.close()


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Every log event emitted during the test."""
    capture = LogCapture()
    globalLogPublisher.addObserver(capture)
    yield capture
    globalLogPublisher.removeObserver(capture)


@pytest_twisted.async_yield_fixture
async def chat(outage_url: MysqlURL, log_capture: LogCapture) -> AsyncIterator[ChatServer]:
    """The chat on the private MariaDB, with its accounts loaded; stopped afterwards."""
    server = await start_server(db=mysql_option(outage_url))
    try:
        accounts = server.service.chat.accounts
        assert accounts is not None
        await wait_until(lambda: accounts.loaded, "the accounts to load", 30)
        yield server
    finally:
        await server.stop()


# -- the test --------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_chat_goes_on_during_a_database_outage_and_nothing_is_lost(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    chat: ChatServer,
    log_capture: LogCapture,
) -> None:
    store = chat.service.store
    assert store is not None

    # Before the outage: rita registers her nickname and leaves; ana stays.
    rita = await chat.connect("rita")
    await login(rita, "rita", visit=True)
    rita.say("/registrar secreto1")
    registered = f"* {T.registered.format(nick='rita')}"
    assert await rita.line(timeout=ACCOUNT_WAIT) == registered
    rita.say("/salir")
    assert await rita.line() == f"* {T.salir.format(nick='rita')}"
    await rita.wait_closed()
    ana = await chat.connect("ana")
    await login(ana, "ana", visit=True)
    await ana.sync()

    await in_thread(private_mariadb.stop, "MariaDB to stop", SERVER_WAIT)

    # -- during the outage ------------------------------------------------------------------
    logins: dict[str, Login] = {}
    carlos = await chat.connect("carlos")
    logins["carlos"] = await login(carlos, "carlos", visit=False)
    assert await ana.line() == f"* {T.joined.format(nick='carlos')}"
    carlos.say("hola a todos")
    assert await ana.line() == "<carlos> hola a todos"
    ana.say("#carlos hola, carlos")
    assert await carlos.line() == "*ana* hola, carlos"
    assert await ana.line() == "-> *carlos* hola, carlos"
    carlos.say("/listar")
    assert await carlos.line() == f"* {T.listar.format(count=2, nicks='ana, carlos')}"
    carlos.say("/hora")
    assert HORA.fullmatch(await carlos.line())
    carlos.say("/ping")
    assert await carlos.line() == "* pong"
    await carlos.sync()  # no database line came for carlos: the login is queued

    # The registered nickname stays protected: no password, a wrong one, the right one.
    impostor = await chat.connect("impostor")
    assert await impostor.line() == f"* {T.prompt}"
    impostor.say("rita")
    assert await impostor.line() == f"! {T.password_needed.format(nick='rita')}"
    impostor.say("rita malaclave")
    assert await impostor.line(timeout=ACCOUNT_WAIT) == f"! {T.login_refused}"
    impostor.say("/username")  # still at the prompt: an invalid nickname, not a command
    assert (await impostor.line()).startswith("! ")
    rita = await chat.connect("rita-again")
    logins["rita"] = await login(rita, "rita", "secreto1", visit=False)
    for other in (ana, carlos):
        assert await other.line() == f"* {T.joined.format(nick='rita')}"
    await rita.sync()

    # Account changes need the database: a try-later line.
    carlos.say("/registrar otraclave")
    assert await carlos.line(timeout=ACCOUNT_WAIT) == f"! {T.storage_unavailable}"
    rita.say("/password secreto1 secreto2")
    assert await rita.line(timeout=ACCOUNT_WAIT) == f"! {T.storage_unavailable}"

    # One record per nickname, the latest time wins: dora logs in twice.
    dora = await chat.connect("dora")
    await login(dora, "dora", visit=False)
    dora.say("/salir")
    await dora.wait_closed()
    await sleep(1.1)  # a different second
    dora = await chat.connect("dora-again")
    logins["dora"] = await login(dora, "dora", visit=False)
    await dora.sync()
    for other in (ana, carlos, rita):
        assert await other.lines(3) == [
            f"* {T.joined.format(nick='dora')}",
            f"* {T.left.format(nick='dora')}",
            f"* {T.joined.format(nick='dora')}",
        ]
        await other.sync()
    assert not store.available
    assert store.queued == 3, store.queued  # carlos, rita, dora

    # -- the database comes back -------------------------------------------------------------
    await in_thread(private_mariadb.start, "MariaDB to start", SERVER_WAIT)
    deadline = time.monotonic() + RECOVERY_WAIT
    rows: dict[str, float] = {}
    while not all(login.matches(rows.get(nick)) for nick, login in logins.items()):
        assert time.monotonic() < deadline, (
            f"logins not written {RECOVERY_WAIT}s after MariaDB came back: {rows} vs {logins}"
        )
        await sleep(0.5)
        try:
            rows = await in_thread(lambda: read_logins(outage_url), "reading clientes", 10)
        except Exception:
            rows = {}
    # The original times (the rows were written long after them), and nothing lost.
    for nick, made in logins.items():
        assert made.matches(rows[nick]), (nick, rows[nick], made)
    assert set(rows) == {"rita", "ana", "carlos", "dora"}
    assert store.available and store.queued == 0

    # The outage was logged once, the recovery once.
    events = log_capture.of_store(store)
    errors = [e for e in events if e.get("log_level") in (LogLevel.error, LogLevel.critical)]
    recoveries = [
        e
        for e in events
        if e.get("log_level") is LogLevel.info
        and str(e.get("log_format", "")).startswith("Database available again")
    ]
    assert len(errors) == 1, [formatEvent(e) for e in errors]
    assert len(recoveries) == 1, [formatEvent(e) for e in recoveries]
    assert errors[0]["log_time"] < recoveries[0]["log_time"]

    # Accounts work again, and the chat never stopped.
    carlos.say("/registrar otraclave")
    assert await carlos.line(timeout=ACCOUNT_WAIT) == f"* {T.registered.format(nick='carlos')}"
    accounts = await in_thread(lambda: read_accounts(outage_url), "reading cuentas", 10)
    assert accounts == {"rita", "carlos"}
    carlos.say("¿seguimos?")
    assert await ana.line() == "<carlos> ¿seguimos?"
    assert await rita.line() == "<carlos> ¿seguimos?"
    assert await dora.line() == "<carlos> ¿seguimos?"
    for client in (ana, carlos, rita, dora):
        await client.sync()
    passwords = [e for e in log_capture.events if "secreto1" in formatEvent(e)]
    assert passwords == [], "a password appeared in the log"


@pytest_twisted.ensureDeferred
async def test_outage_logs_no_tracebacks(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    chat: ChatServer,
    log_capture: LogCapture,
) -> None:
    """BUG: an outage is logged once by the store, but also as "Rollback failed" tracebacks.

    The MySQL pool uses ``cp_reconnect=True``; when a pooled connection finds the server gone,
    ``twisted.enterprise.adbapi`` calls ``log.err`` twice ("Rollback failed", from
    ``Connection.rollback`` and from ``ConnectionPool._runInteraction``): two CRITICAL events
    with tracebacks for each pooled connection (up to three), on top of the store's one-line
    outage message. The issue asks for the outage to be logged once, without tracebacks.
    """
    store = chat.service.store
    assert store is not None
    ana = await chat.connect("ana")
    await login(ana, "ana", visit=True)
    await in_thread(private_mariadb.stop, "MariaDB to stop", SERVER_WAIT)
    carlos = await chat.connect("carlos")
    made = await login(carlos, "carlos", visit=False)
    assert await ana.line() == f"* {T.joined.format(nick='carlos')}"
    await in_thread(private_mariadb.start, "MariaDB to start", SERVER_WAIT)
    rows: dict[str, float] = {}
    deadline = time.monotonic() + RECOVERY_WAIT
    while not made.matches(rows.get("carlos")):
        assert time.monotonic() < deadline, rows
        await sleep(0.5)
        rows = await in_thread(lambda: read_logins(outage_url), "reading clientes", 10)
    assert len([e for e in log_capture.of_store(store) if e["log_level"] is LogLevel.error]) == 1
    assert log_capture.tracebacks() == []
