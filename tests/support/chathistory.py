"""History and recados (issue 15, protocol v1.1) against the real ``twistd chat``.

What the end-to-end tests of history share: the lines the server sends about history, spelled
out (as :mod:`tests.support.expected` does for the rest), a :class:`Backend` (an SQLite file or
a MariaDB database) that the tests seed before a server starts and count rows in afterwards,
:func:`history_chat` (a server with a line port and a web port on that backend), and the clients'
side: a login that reads what follows the welcome, and a ``/username`` barrier, for TCP and
WebSocket clients alike. Every read and every wait is bounded.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests.support import mariadb
from tests.support.expected import PROMPT, welcome
from tests.support.processes import (
    LineSocket,
    chat_command,
    free_port,
    wait_until_serving,
)
from tests.support.webchat import VISIT, WebChat, WebClient
from twisted_chat.storage.engines import engine_for, schema_statements
from twisted_chat.storage.url import DatabaseURL, MysqlURL, SqliteURL

# -- the lines -------------------------------------------------------------------------------

#: A stored line (docs/PROTOCOL.md, v1.1): group 1 the time, 2 a public sender, 3 a recado's
#: sender, 4 the text.
STORED = re.compile(
    r"^\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^>\s]+)>|\*([^*\s]+)\*) (.*)$"
)
HISTORY_OFF = "* Los mensajes públicos no se guardan."
HISTORY_DISABLED = "! La historia está desactivada en este servidor."
HISTORY_USAGE = "! Uso: /historial [N] [antes CURSOR], N de 1 a 500."
#: The last line of a page with older messages; group 1 is the command to send.
HISTORY_MORE = re.compile(r"^\* Mensajes anteriores: (/historial (\d+) antes ([A-Za-z0-9_-]+))$")
#: The hint after "since you left" when more were missed; groups: how many, the command.
HISTORY_MISSED = re.compile(
    r"^\* Hay (\d+) mensajes más desde que te fuiste: (/historial 50 antes [A-Za-z0-9_-]+)$"
)
HISTORY_UNAVAILABLE = (
    "! La historia no está disponible ahora (la base de datos no responde); inténtalo más tarde."
)
RECADO_UNAVAILABLE = (
    "! No se pudo guardar el recado: la base de datos no responde; inténtalo más tarde."
)
SEARCH_SHORT = "! La búsqueda necesita al menos 3 caracteres: /buscar TEXTO"
SEARCH_WAIT = re.compile(r"^! Espera [123] s antes de otra búsqueda\.$")
RECADO_PASSWORD = "! Solo quien entra con contraseña puede dejar recados."
FORGET_ASK = (
    "* Esto borrará todos tus mensajes guardados y tus recados pendientes. Para confirmarlo: "
    "/olvidar confirmar"
)
FORGET_PASSWORD = "! Solo quien entra con contraseña puede usar /olvidar."
FORGET_USAGE = "! Uso: /olvidar, y después /olvidar confirmar"


def stamp(ms: int) -> str:
    """The time ``ms`` (since the epoch, UTC) as stored lines show it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def stored(ms: int, nick: str, text: str) -> str:
    """A stored public message."""
    return f"* [{stamp(ms)}] <{nick}> {text}"


def recado(ms: int, nick: str, text: str) -> str:
    """A recado from ``nick``."""
    return f"* [{stamp(ms)}] *{nick}* {text}"


def retention(days: int) -> str:
    """The welcome's retention line."""
    return f"* Los mensajes públicos se guardan {days} días; /olvidar borra los tuyos."


def history_header(count: int, room: str) -> str:
    """The first line of a ``/historial`` page."""
    return f"* Últimos {count} mensajes de {room}:"


def history_empty(room: str) -> str:
    """``/historial`` in a room with nothing stored."""
    return f"* No hay mensajes guardados en {room}."


def bad_cursor(cursor: str) -> str:
    """``/historial N antes CURSOR`` with a cursor the server did not make."""
    return f"! Cursor desconocido: {cursor}"


def search_header(count: int, room: str, text: str) -> str:
    """The first line of a ``/buscar`` answer."""
    return f"* {count} mensajes de {room} con «{text}»:"


def search_none(room: str, text: str) -> str:
    """``/buscar`` that found nothing."""
    return f"* Ningún mensaje de {room} contiene «{text}»."


def recados_header(count: int) -> str:
    """The line before the recados at login."""
    return "* Tienes un recado:" if count == 1 else f"* Tienes {count} recados:"


def recado_stored(nick: str) -> str:
    """The answer to ``/recado`` once stored."""
    return f"* Recado guardado para {nick}; lo recibirá al entrar."


def recado_delivered(nick: str) -> str:
    """The answer to ``/recado`` for a recipient connected: delivered at once."""
    return f"* Recado entregado a {nick}."


def recado_read(nick: str) -> str:
    """The sender's line once ``nick`` has read a recado."""
    return f"* {nick} ha recibido tu recado."


def recado_unregistered(nick: str) -> str:
    """``/recado`` to a nickname nobody registered."""
    return f"! {nick} no es un nickname registrado: los recados son para nicknames registrados."


def recado_sender_limit(nick: str) -> str:
    """The 11th pending recado from one sender to ``nick``."""
    return f"! Ya tienes 10 recados pendientes para {nick}."


def recado_recipient_limit(nick: str) -> str:
    """A recado to ``nick``, who has 100 pending."""
    return f"! {nick} tiene ya 100 recados pendientes."


def private_offline(nick: str) -> str:
    """A private message to ``nick``, not connected and not registered."""
    return f"! {nick} no está conectado."


def private_offline_memo(nick: str) -> str:
    """A private message to ``nick``, registered and not connected."""
    return f"! {nick} no está conectado; déjale un recado: /recado {nick} TEXTO"


def forget_done(messages: int, recados: int) -> str:
    """The answer to ``/olvidar confirmar``."""
    return f"* Borrados: {messages} mensajes y {recados} recados."


def registered(nick: str) -> str:
    """The answer to ``/registrar``."""
    return f"* Nickname {nick} registrado: a partir de ahora entra con {nick} CONTRASEÑA."


#: Notices about others coming and going, which may come between any two lines (a client of an
#: earlier test may be leaving still).
COMINGS_AND_GOINGS = re.compile(
    r"^\* \S+ (se ha unido al chat|ha salido del chat|ha entrado en la sala \S+|"
    r"ha salido de la sala \S+ \(sigue en el chat\))\.$"
)


def sala_line(room: str) -> re.Pattern[str]:
    """The room line after ``/unirse ROOM`` (whoever is in it)."""
    return re.compile(rf"^\* Sala {re.escape(room)} \(\d+\): .*$")


# -- the database ----------------------------------------------------------------------------


@dataclass
class Backend:
    """The database of a server under test: an SQLite file or a MariaDB database."""

    name: str
    url: DatabaseURL

    @property
    def db_option(self) -> str:
        """The server's ``--db`` value."""
        if isinstance(self.url, SqliteURL):
            return f"sqlite:{self.url.path}"
        return mariadb.mysql_option(self.url)

    def create_schema(self) -> None:
        """Create the database and the tables, as the server would at start-up (to seed rows
        before it starts)."""
        engine = engine_for(self.url)
        engine.prepare()
        statements = schema_statements(engine.schema_file)
        if isinstance(self.url, SqliteURL):
            with closing(sqlite3.connect(self.url.path, timeout=10)) as db:
                for statement in statements:
                    db.execute(statement)
                db.commit()
            return
        conn = mariadb.connect(self.url, self.url.database)
        try:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
        finally:
            conn.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` placeholders) on a fresh connection; its rows (blocking)."""
        if isinstance(self.url, SqliteURL):
            with closing(sqlite3.connect(self.url.path, timeout=10)) as db:
                rows = db.execute(sql, tuple(args)).fetchall()
                db.commit()
                return rows
        conn = mariadb.connect(self.url, self.url.database)
        try:
            cursor = conn.cursor()
            cursor.execute(sql.replace("?", "%s"), tuple(args))
            return list(cursor.fetchall())
        finally:
            conn.close()

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run the insert ``sql`` (``?`` placeholders) once per row, in one transaction."""
        if isinstance(self.url, SqliteURL):
            with closing(sqlite3.connect(self.url.path, timeout=10)) as db:
                db.executemany(sql, [tuple(r) for r in rows])
                db.commit()
            return
        conn = mariadb.connect(self.url, self.url.database)
        try:
            conn.cursor().executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])
        finally:
            conn.close()

    def count(self, sql: str, args: Sequence[Any] = ()) -> int:
        """The single number ``sql`` selects."""
        return int(self.query(sql, args)[0][0])

    def messages(
        self, where: str = "1 = 1", args: Sequence[Any] = ()
    ) -> list[tuple[int, str, str]]:
        """``(sent_at, nickname, text)`` of the stored messages matching ``where``, in the
        order of history: (time, id)."""
        rows = self.query(
            f"SELECT sent_at, nickname, text FROM mensajes WHERE {where} ORDER BY sent_at, id",
            args,
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def seed_messages(self, rows: Sequence[tuple[str, str, int, str, str]]) -> None:
        """Store ``(id, room_key, sent_at, nickname, text)`` rows directly."""
        self.insert(
            "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, room, at, nick, nick.casefold(), text) for i, room, at, nick, text in rows],
        )

    def seed_recados(self, rows: Sequence[tuple[str, str, str, str, int]]) -> None:
        """Store ``(id, sender, recipient_key, text, sent_at)`` recados directly."""
        self.insert(
            "INSERT INTO recados (id, sender, sender_key, recipient_key, text, sent_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, s, s.casefold(), to, text, at) for i, s, to, text, at in rows],
        )


def sqlite_backend(directory: Path) -> Backend:
    """A new SQLite file in ``directory``."""
    return Backend("sqlite", SqliteURL(str(directory / "chat.sqlite3")))


def mysql_backend(url: MysqlURL) -> Backend:
    """The (scratch) MariaDB database ``url``."""
    return Backend("mysql", url)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition`` (a database query, say) every 50 ms until it holds; fail with
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# -- the server ------------------------------------------------------------------------------


#: Servers started before giving up when the ports found free are taken meanwhile.
PORT_ATTEMPTS = 3


@contextmanager
def history_chat(directory: Path, backend: Backend, *options: str) -> Iterator[WebChat]:
    """``twistd -n --pidfile= chat`` on ``backend`` with a line port and a web port on loopback
    (and ``options``); its output in ``directory``; killed (that process only) at the end if it
    is still running."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port, web_port = free_port(), free_port()
        output = directory / f"twistd-{port}.log"
        command = chat_command(
            port, backend.db_option, "--web", f"tcp:{web_port}:interface=127.0.0.1", *options
        )
        with output.open("wb") as out:
            process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
        server = WebChat(process, port, output, web_port)
        try:
            try:
                wait_until_serving(server, web_port=web_port)
            except AssertionError:
                # A port found free was taken meanwhile (by any socket of the machine): again.
                if attempt < PORT_ATTEMPTS and "Address already in use" in server.log():
                    continue
                raise
            yield server
            return
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


# -- the clients -----------------------------------------------------------------------------


class Peer(Protocol):
    """A client of either transport: one line per call each way."""

    def line(self) -> str:
        """The next server line (bounded)."""

    def say(self, text: str) -> None:
        """Send one line."""

    def close(self) -> None:
        """Close the connection."""


#: The transports a test may be parametrised by.
TRANSPORTS = ("tcp", "ws")


#: Longest wait for one line, in seconds: longer than the suite's usual 5 s, because many
#: answers here wait for the database, which other tests (and benchmarks) may be loading.
LINE_TIMEOUT = 15.0


class SlowWebClient(WebClient):
    """A :class:`WebClient` waiting up to :data:`LINE_TIMEOUT` for each line."""

    def line(self) -> str:
        """The next server message (one line, without CRLF)."""
        message = self.connection.recv(timeout=LINE_TIMEOUT)
        assert isinstance(message, str), f"a binary message from the server: {message!r}"
        return message


def tcp(server: WebChat) -> LineSocket:
    """A new TCP client of ``server`` waiting up to :data:`LINE_TIMEOUT` for each line."""
    peer = LineSocket(server.port)
    peer.sock.settimeout(LINE_TIMEOUT)
    return peer


def connect(server: WebChat, transport: str) -> Peer:
    """A new client of ``server`` over ``transport`` (``tcp`` or ``ws``)."""
    if transport == "ws":
        return SlowWebClient(server, server.origin)
    return tcp(server)


def is_visit(line: str) -> bool:
    """Whether ``line`` is the line about the previous visit (it comes when the database has
    recorded the login, at any point after the retention line)."""
    return line.startswith(VISIT)


def log_in(
    peer: Peer,
    nick: str,
    password: str | None = None,
    *,
    days: int | None = 1,
    until: Callable[[list[str]], bool] | None = None,
) -> list[str]:
    """Log ``peer`` in as ``nick`` and return what followed the welcome and the retention
    line, without the line about the previous visit and notices of others coming and going:
    read until that visit line has come and ``until`` (given the lines so far) holds.
    ``days``: the retention the line must announce (``None``: history off)."""
    assert peer.line() == PROMPT
    peer.say(nick if password is None else f"{nick} {password}")
    assert peer.line() == welcome(nick)
    assert peer.line() == (HISTORY_OFF if days is None else retention(days))
    lines: list[str] = []
    visited = False
    while not visited or (until is not None and not until(lines)):
        line = peer.line()
        if is_visit(line) and not visited:
            visited = True
        elif not COMINGS_AND_GOINGS.match(line):
            lines.append(line)
    return lines


def stored_count(count: int) -> Callable[[list[str]], bool]:
    """For :func:`log_in`: until ``count`` stored lines have come."""
    return lambda lines: sum(1 for line in lines if STORED.match(line)) >= count


def sync(peer: Peer, nick: str) -> list[str]:
    """Send ``/username`` and return every line before its answer (what the server had sent
    before it handled the barrier) but notices of others coming and going."""
    peer.say("/username")
    answer = f"* Tu nickname es {nick}."
    lines: list[str] = []
    while (line := peer.line()) != answer:
        if not COMINGS_AND_GOINGS.match(line):
            lines.append(line)
    return lines


def next_answer(peer: Peer) -> str:
    """The next line that is not a notice of someone coming or going."""
    while COMINGS_AND_GOINGS.match(line := peer.line()):
        pass
    return line


def take(peer: Peer, count: int) -> list[str]:
    """The next ``count`` lines but notices of others coming and going."""
    return [next_answer(peer) for _ in range(count)]


def wait_line(peer: Peer, wanted: str, most: int = 5000) -> None:
    """Read until the line ``wanted`` (at most ``most`` lines, each read bounded)."""
    for _ in range(most):
        if peer.line() == wanted:
            return
    raise AssertionError(f"{wanted!r} not among {most} lines")


def register(server: WebChat, nick: str, password: str, *, days: int = 1) -> None:
    """Register ``nick`` with ``password`` (a login without it, ``/registrar``, then close);
    ``days``: the server's ``--history-days``."""
    peer = tcp(server)
    log_in(peer, nick, days=days)
    peer.say(f"/registrar {password}")  # answered once hashed, in a thread
    while (line := peer.line()) != registered(nick):
        assert not line.startswith("! "), line
    peer.close()
