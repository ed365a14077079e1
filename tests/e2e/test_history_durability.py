"""What becomes of history when things go wrong (issue 15), against a real ``twistd chat``,
each test on a server and a database of its own: ``--history-days 0`` stores nothing; the
messages of one millisecond keep their order; retention holds while the purge at start-up
runs; ``kill -9`` in the middle of a stream loses at most the last unwritten turn; SIGTERM loses
nothing and records the departures; a MariaDB outage in the middle of a stream loses nothing
and doubles nothing once it returns. On SQLite and on MariaDB (the outage on a private MariaDB
of this module's own, which the test stops and starts).

A stream is one client saying numbered lines at a steady pace while another reads them,
noting when each arrived (:class:`Stream`). Public messages get no acknowledgement, so what the
server accepted is known from the reader: a message arrives there only after the server took it.

The window of ``kill -9``: the server stores public messages in batches, one transaction per
reactor turn (everything said during a turn is queued and the next turn writes the queue, one
write in flight at a time: :mod:`twisted_chat.storage.history`). A process killed outright
loses what was not committed yet: the batch on its way and what queued behind it, that is the
messages of the last turn or two, a few milliseconds on loopback. The test allows
:data:`KILL_WINDOW`: every message that reached the reader more than 50 ms before the kill must
be stored, and what is stored is exactly the first messages sent (nothing lost in between).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.chathistory import (
    HISTORY_DISABLED,
    HISTORY_UNAVAILABLE,
    RECADO_UNAVAILABLE,
    Backend,
    history_chat,
    log_in,
    mysql_backend,
    register,
    sqlite_backend,
    stored,
    stored_count,
    sync,
    take,
    tcp,
    wait_for,
    wait_line,
)
from tests.support.processes import LineSocket
from tests.support.webchat import WebChat
from twisted_chat.storage.url import MysqlURL

pytestmark = pytest.mark.timeout(180, method="thread")

#: Messages accepted this long before a ``kill -9`` must be stored (see the module's docstring).
KILL_WINDOW = 0.050
#: Seconds a MariaDB stop or start may take.
SERVER_WAIT = 60.0
#: Seconds the server may take to write what it queued once MariaDB is back (its backoff
#: doubles from 0.5 s while the database is down; the outage here lasts a few seconds).
RECOVERY_WAIT = 45.0
PASSWORD = "Clave-hist1"
HOUR = 3_600_000
DAY = 24 * HOUR
#: No flood control: the streams say hundreds of lines a second.
OPTIONS = ("--flood-rate", "0")


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty database: an SQLite file, or a scratch MariaDB database."""
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path)
        return
    yield mysql_backend(request.getfixturevalue("mysql_url"))


class Stream:
    """``sender`` says ``PREFIX00000``, ``PREFIX00001``... every ``interval`` seconds (in a
    thread) until stopped or its connection fails; ``reader`` (in another thread) notes when
    each arrives (``time.monotonic()``)."""

    def __init__(
        self, sender: LineSocket, reader: LineSocket, nick: str, prefix: str, interval: float
    ) -> None:
        self.sender = sender
        self.reader = reader
        self.nick = nick
        self.prefix = prefix
        self.interval = interval
        #: What was sent (written to the socket without an error), in order.
        self.sent: list[str] = []
        #: When each was sent (ms since the epoch, the client's clock).
        self.sent_at: dict[str, int] = {}
        #: ``(when, text)`` of each message the reader got, in order.
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._stop_reading = threading.Event()
        self._threads = [
            threading.Thread(target=self._say, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]

    def start(self) -> None:
        """Start saying and reading."""
        for thread in self._threads:
            thread.start()

    def stop_saying(self) -> None:
        """Say nothing more."""
        self._stop.set()
        self._threads[0].join(timeout=10)

    def stop(self, reading: float = 5.0) -> None:
        """Say nothing more, and read until the reader has everything sent, its connection
        ends, or ``reading`` seconds passed."""
        self.stop_saying()
        deadline = time.monotonic() + reading
        while len(self.received) < len(self.sent) and time.monotonic() < deadline:
            if not self._threads[1].is_alive():
                break
            time.sleep(0.02)
        self._stop_reading.set()
        self._threads[1].join(timeout=reading + 1)

    def _say(self) -> None:
        i = 0
        while not self._stop.is_set() and i < 100_000:
            text = f"{self.prefix}{i:05d}"
            try:
                self.sender.sock.sendall(f"{text}\r\n".encode())
            except OSError:
                return
            self.sent.append(text)
            self.sent_at[text] = int(time.time() * 1000)
            i += 1
            time.sleep(self.interval)

    def _read(self) -> None:
        start = f"<{self.nick}> {self.prefix}"
        while not self._stop_reading.is_set():
            try:
                line = self.reader.line_within(0.5)
            except TimeoutError:
                continue
            except (AssertionError, OSError):
                return  # the server closed the connection (or died)
            if line.startswith(start):
                self.received.append((time.monotonic(), line.split(" ", 1)[1]))


def stored_counts(backend: Backend, nick: str) -> dict[str, int]:
    """How many times each text of ``nick`` is stored."""
    rows = backend.query(
        "SELECT text, COUNT(*) FROM mensajes WHERE nick_key = ? GROUP BY text", (nick,)
    )
    return {str(r[0]): int(r[1]) for r in rows}


def stream_between(server: WebChat, prefix: str, interval: float) -> Stream:
    """Log in a reader (``oye``) and a sender (``habla``) and start a stream between them."""
    reader = tcp(server)
    log_in(reader, "oye", days=30)
    sender = tcp(server)
    log_in(sender, "habla", days=30)
    sync(sender, "habla")
    sync(reader, "oye")
    stream = Stream(sender, reader, "habla", prefix, interval)
    stream.start()
    return stream


def assert_nothing_doubled_nor_skipped(stream: Stream, counts: dict[str, int]) -> None:
    """Each text stored once, and the stored ones are the first ones sent (nothing missing in
    between)."""
    assert all(n == 1 for n in counts.values()), {t: n for t, n in counts.items() if n > 1}
    assert sorted(counts) == stream.sent[: len(counts)]


def test_history_off_stores_nothing(tmp_path: Path, backend: Backend) -> None:
    """``--history-days 0``: the welcome says nothing is kept, no replay, ``/historial`` and
    ``/buscar`` say history is off, and no message reaches the database."""
    with history_chat(tmp_path, backend, "--history-days", "0") as server:
        ana = tcp(server)
        assert log_in(ana, "ana", days=None) == []
        for i in range(3):
            ana.say(f"hola {i}")
        assert sync(ana, "ana") == []
        bob = tcp(server)
        assert log_in(bob, "bob", days=None) == []
        assert sync(bob, "bob") == []
        for command in ("/historial", "/historial 5 antes abc", "/buscar hola mundo", "/history"):
            bob.say(command)
            assert sync(bob, "bob") == [HISTORY_DISABLED], command
        time.sleep(0.5)  # a batch would have been written by now
        assert backend.count("SELECT COUNT(*) FROM mensajes") == 0
        assert backend.count("SELECT COUNT(*) FROM clientes") == 2  # the database works
        ana.close()
        bob.close()


def test_messages_of_one_millisecond_keep_their_order(tmp_path: Path, backend: Backend) -> None:
    """300 messages sent in one write (many in one millisecond) come back from the replay and
    from ``/historial`` in the order they were said.

    They did not: the messages of one millisecond are ordered by id, and the ids' counter was
    written without padding, so ``...0x10`` sorted before ``...0xf`` (and ``...0x100`` before
    ``...0xff``): a fresh server crosses both in its first few hundred messages."""
    said = [f"orden {i:03d}" for i in range(300)]
    with history_chat(tmp_path, backend, *OPTIONS) as server:
        ana = tcp(server)
        log_in(ana, "ana", days=30)
        ana.sock.sendall("".join(f"{text}\r\n" for text in said).encode())
        assert sync(ana, "ana") == []
        wait_for(lambda: backend.count("SELECT COUNT(*) FROM mensajes") == 300, "300 rows stored")
        bob = tcp(server)
        replay = log_in(bob, "bob", days=30, until=stored_count(20))
        assert [line.split("> ", 1)[1] for line in replay] == said[-20:]
        bob.say("/historial 500")
        page = take(bob, 301)
        assert page[0] == "* Últimos 300 mensajes de general:"
        assert [line.split("> ", 1)[1] for line in page[1:]] == said
        assert [line for _, _, line in backend.messages()] == said


def test_history_never_shows_what_retention_deleted(tmp_path: Path, backend: Backend) -> None:
    """``--history-days 1`` on a database holding 60,000 messages three days old: the purge
    at start-up takes a while, and a login meanwhile reads the room's history into memory;
    once the purge is done, ``/historial`` shows only what is kept.

    It showed the expired messages still, from memory, until the next purge five minutes
    later: the room's memory was filled with whatever the database held at the time."""
    now = int(time.time() * 1000)
    backend.create_schema()
    expired = [
        (f"x{i}", "general", now - 3 * DAY + i, "abuela", f"caducado {i}") for i in range(60_000)
    ]
    kept = [(f"k{i}", "general", now - HOUR + i, "abuela", f"guardado {i}") for i in range(3)]
    backend.seed_messages(expired + kept)
    with history_chat(tmp_path, backend, "--history-days", "1") as server:
        ana = tcp(server)
        log_in(ana, "ana", days=1, until=stored_count(3))  # the replay: the last day's only
        wait_for(lambda: backend.count("SELECT COUNT(*) FROM mensajes") == 3, "the purge", 60)
        ana.say("/historial 5")
        assert take(ana, 4) == [
            "* Últimos 3 mensajes de general:",
            *[stored(now - HOUR + i, "abuela", f"guardado {i}") for i in range(3)],
        ]
        assert sync(ana, "ana") == []


def test_kill_9_loses_at_most_the_last_turn(tmp_path: Path, backend: Backend) -> None:
    """``kill -9`` in the middle of a stream: every message accepted more than
    :data:`KILL_WINDOW` before the kill is stored, once, and nothing in between is missing."""
    with history_chat(tmp_path, backend, *OPTIONS) as server:
        stream = stream_between(server, "k", 0.001)
        time.sleep(1.0)
        killed_at = time.monotonic()
        server.process.kill()
        server.process.wait(timeout=10)
        stream.stop()
    counts = stored_counts(backend, "habla")
    assert_nothing_doubled_nor_skipped(stream, counts)
    assert len(stream.received) > 300, len(stream.received)
    early = [text for at, text in stream.received if at < killed_at - KILL_WINDOW]
    assert [text for text in early if text not in counts] == []


def test_sigterm_loses_nothing(tmp_path: Path, backend: Backend) -> None:
    """SIGTERM in the middle of a stream: the server exits 0 within 5 s and every message it
    accepted is stored, once."""
    with history_chat(tmp_path, backend, *OPTIONS) as server:
        stream = stream_between(server, "t", 0.001)
        time.sleep(1.0)
        signalled_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            status = server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 5 s after SIGTERM:\n{server.log()}") from None
        assert status == 0, server.log()
        assert time.monotonic() - signalled_at < 5
        stream.stop()
    counts = stored_counts(backend, "habla")
    assert_nothing_doubled_nor_skipped(stream, counts)
    assert len(stream.received) > 300, len(stream.received)
    assert [text for _, text in stream.received if text not in counts] == []


def test_sigterm_records_the_departure_of_a_registered_user(
    tmp_path: Path, backend: Backend
) -> None:
    """History survives a restart, and a registered user still connected at a graceful
    shutdown has its departure recorded like any other: at its next login it is shown nothing
    it had seen before the restart (a new user gets the replay, read from the database).

    The departure was not recorded when that user's connection was the last one: the slot was
    given back before the chat core heard of the disconnect, so the shutdown went on and closed
    the database first; the next login then showed the replay again (or, since an older
    departure, everything said since)."""
    with history_chat(tmp_path, backend) as server:
        register(server, "rita", PASSWORD, days=30)
        rita = tcp(server)
        log_in(rita, "rita", PASSWORD, days=30)
        for i in range(3):
            rita.say(f"antes {i}")
        sync(rita, "rita")
        signalled_ms = int(time.time() * 1000)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=5) == 0, server.log()
    rows = backend.query("SELECT left_at FROM salidas WHERE nick_key = 'rita'")
    assert len(rows) == 1, server.log()
    assert signalled_ms <= rows[0][0] <= signalled_ms + 5000
    said = [stored(*row) for row in backend.messages()]
    assert [line.rsplit(" ", 2)[-2:] for line in said] == [["antes", str(i)] for i in range(3)]
    with history_chat(tmp_path, backend) as server:
        rita = tcp(server)
        assert log_in(rita, "rita", PASSWORD, days=30) == []
        assert sync(rita, "rita") == []
        newcomer = tcp(server)
        assert log_in(newcomer, "nuevo", days=30, until=stored_count(3)) == said


@pytest.mark.mysql
def test_mariadb_outage_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, private_mariadb: mariadb.PrivateMariaDB, outage_url: MysqlURL
) -> None:
    """MariaDB stops and starts again in the middle of a stream: the chat goes on (every
    message delivered live, a short ``/historial`` from memory; what needs the database gets
    one ``! `` line), and once it is back every message is stored exactly once, with its own
    time; the outage and the recovery are logged once each."""
    backend = mysql_backend(outage_url)
    with history_chat(tmp_path, backend, *OPTIONS) as server:
        register(server, "mira", PASSWORD, days=30)
        register(server, "ausente", PASSWORD, days=30)
        mira = tcp(server)
        log_in(mira, "mira", PASSWORD, days=30)
        stream = stream_between(server, "o", 0.005)
        time.sleep(0.5)
        private_mariadb.stop()
        time.sleep(0.5)
        mira.say("/historial 5")  # from memory
        wait_line(mira, "* Últimos 5 mensajes de general:")
        for command, error in [
            ("/historial 500", HISTORY_UNAVAILABLE),  # more than memory holds
            ("/buscar o00001", HISTORY_UNAVAILABLE),
            ("/recado ausente hola", RECADO_UNAVAILABLE),
        ]:
            mira.say(command)
            wait_line(mira, error)
        private_mariadb.start(SERVER_WAIT)
        time.sleep(0.5)
        stream.stop()
        assert [text for _, text in stream.received] == stream.sent  # the chat went on
        sent = len(stream.sent)
        assert sent > 300, sent

        def all_stored() -> bool:
            try:
                return sum(stored_counts(backend, "habla").values()) >= sent
            except Exception:  # MariaDB still starting
                return False

        wait_for(all_stored, f"{sent} messages stored", RECOVERY_WAIT)
        counts = stored_counts(backend, "habla")
        assert_nothing_doubled_nor_skipped(stream, counts)
        assert len(counts) == sent
        # Written seconds later, with the times they were said.
        rows = backend.query("SELECT text, sent_at FROM mensajes WHERE nick_key = 'habla'")
        late = {str(t): int(at) - stream.sent_at[str(t)] for t, at in rows}
        assert all(abs(delta) < 1000 for delta in late.values()), late
        assert backend.count("SELECT COUNT(*) FROM recados") == 0
        log = server.log()
        assert log.count("history messages are queued") == 1, log
        assert log.count("queued history messages") == 1, log
        mira.close()
