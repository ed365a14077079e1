"""Black-box tests of the real ``twistd -n chat`` process, talked to with plain blocking sockets.

Each test starts its own ``twistd`` (``--pidfile=`` so that several can run in one directory) on a
free loopback port, and stops only that process.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.processes import LineSocket, run_twistd, twistd_chat


def test_twistd_chat_session_then_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "chat.sqlite3"
    with twistd_chat(tmp_path, f"sqlite:{database}") as server:
        ana = LineSocket(server.port)
        assert ana.line() == "* Bienvenido a twisted-chat. Elige un nickname:"
        ana.say("ana")
        assert ana.line() == "* Bienvenido, ana. Escribe /ayuda para ver los comandos."
        assert ana.line() == (
            "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
        )
        assert ana.line() == "* Es tu primera conexión."

        bob = LineSocket(server.port)
        assert bob.line() == "* Bienvenido a twisted-chat. Elige un nickname:"
        bob.say("Bob")
        assert bob.line() == "* Bienvenido, Bob. Escribe /ayuda para ver los comandos."
        assert bob.line() == (
            "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
        )
        assert bob.line() == "* Es tu primera conexión."
        assert ana.line() == "* Bob se ha unido al chat."

        bob.say("hola, ana ñ 👋")
        assert ana.line() == "<Bob> hola, ana ñ 👋"
        ana.say("/listar")
        assert ana.line() == "* Conectados (2): ana, Bob"
        bob.say("/username")  # barrier: bob received nothing else
        assert bob.line() == "* Tu nickname es Bob."

        ana.say("/salir")
        assert ana.line() == "* Hasta pronto, ana."
        ana.assert_closed_by_server()
        assert bob.line() == "* ana ha salido del chat."
        ana.close()

        with closing(sqlite3.connect(database)) as db:
            rows = db.execute(
                "SELECT nick_key, nickname, connected_at FROM clientes ORDER BY nick_key"
            ).fetchall()
        assert [row[:2] for row in rows] == [("ana", "ana"), ("bob", "Bob")]
        for row in rows:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[2]), row

        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=10)
        # An orderly shutdown: the reactor stopped, the services stopped, the main loop ended.
        log = server.log()
        for milestone in ("Received SIGTERM, shutting down.", "Server Shut Down."):
            assert milestone in log, log
        # twistd then re-raises the signal that stopped it (twisted.application.app.
        # _exitWithSignal), so "terminated by SIGTERM" is its normal status after a clean stop.
        assert status in (0, -signal.SIGTERM), (status, log)
        # The connection went with the server (after at most some "* " notices).
        assert all(line.startswith("* ") for line in bob.rest()), log
        bob.close()
        assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--db", "bogus://x"], "bad --db"),
        (["--db", "sqlite:"], "bad --db"),
        (["--db", "mysql://host-without-user"], "bad --db"),
        (["--lang", "xx"], "bad --lang"),
        (["--port", "nonsense:1234"], "bad --port"),
    ],
)
def test_bad_option_is_a_usage_error(tmp_path: Path, args: list[str], complaint: str) -> None:
    result = run_twistd(
        "-n", "--pidfile=", "chat", "--port", "tcp:0:interface=127.0.0.1", *args, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Usage: twistd" in output
    assert complaint in output
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("option", ["--port", "--web", "--metrics"])
def test_a_port_in_use_exits_1_with_one_critical_line(tmp_path: Path, option: str) -> None:
    """A listener that cannot listen (here: the port is taken) ends the process at start-up
    with status 1: one critical ``Cannot listen on`` line naming the endpoint, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        args = ["--port", "tcp:0:interface=127.0.0.1", option, endpoint]
        if option == "--port":
            args = ["--port", endpoint]
        result = run_twistd(
            "-n", "--pidfile=", "chat", *args, "--db", f"sqlite:{tmp_path / 'x.db'}", cwd=tmp_path
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    critical = [line for line in output.splitlines() if "#critical]" in line]
    assert len(critical) == 1, output
    assert f"Cannot listen on {endpoint}: " in critical[0], output
    assert "Address already in use" in critical[0], output
    assert f"twistd chat: cannot listen on {endpoint}" in output, output
    assert "Traceback" not in output, output


def test_help_lists_the_options(tmp_path: Path) -> None:
    result = run_twistd("chat", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--db", "--lang"):
        assert option in result.stdout
    assert "Traceback" not in result.stderr


#: ``twistd ARGS`` in a Python whose ``import MySQLdb`` fails, as on a machine without the driver.
WITHOUT_MYSQLDB = (
    "import sys\n"
    "sys.modules['MySQLdb'] = None\n"
    "sys.argv = ['twistd', *sys.argv[1:]]\n"
    "from twisted.scripts.twistd import run\n"
    "run()\n"
)


def test_mysql_without_the_driver_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_MYSQLDB,
            "-n",
            "--pidfile=",
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1",
            "--db",
            "mysql://chat@127.0.0.1:3306/redes",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Usage: twistd" in output
    assert "bad --db: MySQL needs the mysqlclient driver" in output
    assert "pip install 'twisted-chat[mysql]'" in output
    assert "default-libmysqlclient-dev and pkg-config" in output
    assert "Traceback" not in output


def test_sqlite_does_not_need_the_mysql_driver(tmp_path: Path) -> None:
    check = (
        "import sys\n"
        "sys.modules['MySQLdb'] = None\n"
        "from twisted_chat.tap import Options\n"
        "options = Options()\n"
        "options.parseOptions(['--db', 'sqlite:chat.sqlite3'])\n"
        "print(options.settings.database.url)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SqliteURL(path='chat.sqlite3')" in result.stdout


def test_no_redis_code_imported_without_redis() -> None:
    """Without ``--redis`` the service never imports the cluster's code (a fresh interpreter)."""
    code = (
        "import sys; from twisted_chat.tap import Options, makeService; "
        "o = Options(); o.parseOptions(['--db', 'sqlite::memory:']); makeService(o); "
        "print(sorted(m for m in sys.modules if 'redis' in m or 'cluster' in m))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr
