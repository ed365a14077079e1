"""Rooms (protocol v1.1, issue 14) against a real ``twistd chat``: the topics of permanent rooms
survive a restart on the same database (an SQLite file, and MariaDB), a non-permanent room's
does not; and a WebSocket user and a TCP user of the real process in one room and in two.
Every rule in detail: ``tests/unit/test_rooms.py``; over real sockets in process, both
transports: ``tests/inprocess/test_rooms_sockets.py``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.inprocess.test_storage import query
from tests.support import mariadb
from tests.support.accounts import OPERATOR_PASSWORD
from tests.support.expected import (
    FIRST_VISIT,
    conectados,
    joined,
    left,
    no_topic,
    registered,
    room_joined,
    room_left,
    sala,
    salas,
    tema,
    topic_denied_permanent,
    topic_set,
    username,
    welcome,
)
from tests.support.processes import LineSocket, run_twistd, twistd_chat
from tests.support.webchat import tcp_login, web_chat
from twisted_chat.storage.url import DatabaseURL, MysqlURL, SqliteURL

pytestmark = pytest.mark.timeout(90, method="thread")

#: How long a stored topic may take to reach the table, or a restarted server to read it.
STORE_WAIT = 10.0


def _op_login(port: int) -> LineSocket:
    """``ana`` logged in with her password (an operator with ``--operator ana``)."""
    ana = LineSocket(port)
    ana.line()
    ana.say(f"ana {OPERATOR_PASSWORD}")
    assert ana.line() == welcome("ana")
    assert ana.after_welcome().startswith("* Tu última conexión fue el ")
    return ana


def _stored_topics(url: DatabaseURL) -> list[tuple[str, str, str]]:
    return sorted(
        (str(r[0]), str(r[1]), str(r[2]))
        for r in query(url, "SELECT room_key, topic, set_by FROM salas")
    )


def _wait_stored(url: DatabaseURL, count: int) -> list[tuple[str, str, str]]:
    deadline = time.monotonic() + STORE_WAIT
    while len(rows := _stored_topics(url)) < count:
        assert time.monotonic() < deadline, f"topics not stored: {rows}"
        time.sleep(0.05)
    return rows


def _topics_survive_a_restart(tmp_path: Path, db: str, url: DatabaseURL) -> None:
    extra = ["--operator", "ana", "--room", "Lobby"]
    with twistd_chat(tmp_path, db, extra=extra) as server:
        ana = LineSocket(server.port)
        ana.login("ana")
        assert ana.after_welcome() == FIRST_VISIT
        ana.say(f"/registrar {OPERATOR_PASSWORD}")
        assert ana.line() == registered("ana")
        ana.close()
        ana = _op_login(server.port)
        ana.say("/tema bienvenidos")
        assert ana.line() == topic_set("ana", "bienvenidos")
        ana.say("/unirse lobby")
        assert ana.line() == sala("Lobby", "ana")
        ana.say("/tema normas")
        assert ana.line() == topic_set("ana", "normas")
        ana.say("/unirse juegos")
        assert ana.line() == sala("juegos", "@ana")
        ana.say("/tema efímero")
        assert ana.line() == topic_set("ana", "efímero")
        assert _wait_stored(url, 2) == [
            ("general", "bienvenidos", "ana"),
            ("lobby", "normas", "ana"),
        ]
        ana.close()
    with twistd_chat(tmp_path, db, extra=extra) as server:
        bob = LineSocket(server.port)
        bob.login("bob")
        assert bob.after_welcome() == FIRST_VISIT
        # The topics are read at start-up without holding up logins: ask until they are there.
        deadline = time.monotonic() + STORE_WAIT
        while True:
            bob.say("/tema")
            line = bob.line()
            if line != no_topic("general") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert line == tema("bienvenidos")
        bob.say("/tema mío")
        assert bob.line() == topic_denied_permanent("general")
        bob.say("/unirse LOBBY")
        assert [bob.line(), bob.line()] == [sala("Lobby", "bob"), tema("normas")]
        bob.say("/unirse juegos")
        assert bob.line() == sala("juegos", "@bob")
        bob.say("/sala")
        assert [bob.line(), bob.line()] == [sala("juegos", "@bob"), no_topic("juegos")]
        bob.say("/salas")
        assert bob.line() == salas(("general", 0), ("juegos", 1), ("Lobby", 0))
        bob.close()


def test_topics_survive_a_restart_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    _topics_survive_a_restart(tmp_path, f"sqlite:{path}", SqliteURL(str(path)))


@pytest.mark.mysql
def test_topics_survive_a_restart_mysql(tmp_path: Path, mysql_url: MysqlURL) -> None:
    _topics_survive_a_restart(tmp_path, mariadb.mysql_option(mysql_url), mysql_url)


def test_websocket_and_tcp_users_in_rooms(tmp_path: Path) -> None:
    with web_chat(tmp_path, "--room", "Lobby") as server:
        ana = server.client()
        ana.login("ana")
        bob = server.tcp()
        tcp_login(bob, "bob")
        assert ana.line() == joined("bob")
        carol = server.tcp()
        tcp_login(carol, "carol")
        assert ana.line() == joined("carol")
        assert bob.line() == joined("carol")
        # One room: the WebSocket user creates it, the TCP user joins.
        ana.say("/unirse #Juegos")
        assert ana.line() == sala("Juegos", "@ana")
        assert bob.line() == room_left("ana", "general")
        assert carol.line() == room_left("ana", "general")
        bob.say("/join juegos")
        assert bob.line() == sala("Juegos", "@ana", "bob")
        assert ana.line() == room_joined("bob", "Juegos")
        assert carol.line() == room_left("bob", "general")
        ana.say("hola")
        assert bob.line() == "<ana> hola"
        bob.say("qué tal")
        assert ana.line() == "<bob> qué tal"
        ana.say("/tema dados")
        assert ana.line() == topic_set("ana", "dados")
        assert bob.line() == topic_set("ana", "dados")
        # Two rooms: carol (TCP, general) hears none of it, but private messages and /listar
        # cross rooms.
        carol.say("sola")
        carol.say("#ana psst")
        assert carol.line() == "-> *ana* psst"
        assert ana.line() == "*carol* psst"
        ana.say("/listar")
        assert ana.line() == conectados("ana", "bob", "carol")
        ana.say("/salas")
        assert ana.line() == salas(("general", 1), ("Juegos", 2), ("Lobby", 0))
        bob.say("/username")
        assert bob.line() == username("bob")
        # The WebSocket user leaves the chat: only its room is told.
        ana.close()
        assert bob.line() == left("ana")
        bob.say("/sala")
        assert [bob.line(), bob.line()] == [sala("Juegos", "bob"), tema("dados")]
        carol.say("/username")
        assert carol.line() == username("carol")
        bob.close()
        carol.close()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--default-room", "_general"], "bad --default-room '_general'"),
        (["--room", "mis juegos"], "bad --room 'mis juegos'"),
        (["--room", "x" * 33], "bad --room"),
        (["--room", "a", "--room", "b", "--max-rooms", "2"], "there are 3 permanent rooms"),
        (["--max-rooms", "0"], "bad --max-rooms '0'"),
    ],
)
def test_bad_room_options_are_usage_errors(tmp_path: Path, args: list[str], complaint: str) -> None:
    result = run_twistd(
        "-n", "--pidfile=", "chat", "--port", "tcp:0:interface=127.0.0.1", *args, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Usage: twistd" in output
    assert complaint in output
    assert "Traceback" not in output
