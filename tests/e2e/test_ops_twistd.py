"""The real ``twistd chat`` process: ``--config`` and SIGHUP, ``--log-level``, ``--log-format``,
and a quiet log during a database outage (issue 10, points 2 and 3).

Each test starts its own ``twistd`` on a free loopback port (see :mod:`tests.support.processes`) and
reads what it printed (``twistd -n`` logs to stdout, captured in ``twistd.log``). Every wait is
bounded.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.expected import (
    FIRST_VISIT,
    FLOOD_DROPPED,
    PROMPT,
    RETENTION,
    TOO_MANY_FROM_IP,
    conectados,
    goodbye,
    joined,
)
from tests.support.processes import LineSocket, Twistd, twistd_chat
from twisted_chat.storage.url import MysqlURL

#: Longest wait for a line to appear in the server's log, in seconds.
LOG_WAIT = 10.0


def wait_for_log(
    server: Twistd, condition: Callable[[str], bool], what: str, timeout: float = LOG_WAIT
) -> str:
    """Poll the server's log until ``condition(log)`` holds (bounded); the log then."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        if condition(log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{log}")
        time.sleep(0.05)


def enter(server: Twistd, nick: str) -> LineSocket:
    """A client logged in as ``nick``, its retention and first-visit lines read."""
    client = LineSocket(server.port)
    client.login(nick)
    assert [client.line(), client.line()] == [RETENTION, FIRST_VISIT]
    return client


def sighup(server: Twistd, marker: str) -> str:
    """Send SIGHUP and wait for the one reload line containing ``marker`` after it; the log
    written since the signal."""
    start = len(server.log())
    server.process.send_signal(signal.SIGHUP)
    log = wait_for_log(server, lambda log: marker in log[start:], f"{marker!r} after SIGHUP")
    return log[start:]


def test_sighup_applies_new_limits_to_connected_clients(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('max-per-ip = 4\nexempt = ["none"]\n')
    with twistd_chat(
        tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}", extra=["--config", str(config)]
    ) as server:
        ana = enter(server, "ana")
        bob = enter(server, "bob")
        assert ana.line() == joined("bob")
        for client, nick in ((ana, "ana"), (bob, "bob")):
            client.say("/username")  # barrier: nothing else came
            assert client.line() == f"* Tu nickname es {nick}."

        config.write_text('max-per-ip = 2\nexempt = ["none"]\nflood-rate = 1\nflood-burst = 1\n')
        lines = sighup(server, "Configuration reloaded")
        assert "max-per-ip" in lines and "flood-rate" in lines, lines
        assert "Traceback" not in lines

        # The new per-address limit applies: a third connection from 127.0.0.1 is refused...
        carol = LineSocket(server.port)
        assert carol.rest() == [TOO_MANY_FROM_IP]
        carol.close()
        # ...while both connected clients stay, under the new flood budget (1 line, 1/s).
        ana.say("uno\r\ndos\r\ntres")
        assert ana.line() == FLOOD_DROPPED.replace("10", "1")
        assert bob.line() == "<ana> uno"
        time.sleep(1.1)
        bob.say("/listar")
        assert bob.line() == conectados("ana", "bob")
        ana.say("/salir")
        assert ana.line() == goodbye("ana")
        ana.close()
        bob.close()


def test_sighup_with_a_broken_file_keeps_the_running_settings(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('max-per-ip = 2\nexempt = ["none"]\n')
    with twistd_chat(
        tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}", extra=["--config", str(config)]
    ) as server:
        ana = enter(server, "ana")
        config.write_text("max-per-ip = \n")  # not TOML any more
        lines = sighup(server, "Configuration not reloaded")
        assert str(config) in lines and "TOML" in lines, lines
        assert len(lines.strip().splitlines()) == 1, lines
        config.write_text('max-per-ip = 9\nexempt = ["none"]\nport = ["tcp:1"]\nflood-rate = -1\n')
        lines = sighup(server, "Configuration not reloaded")
        assert "'flood-rate'" in lines, lines
        # The old limit (2 from one address) still holds, and ana is still here.
        bob = enter(server, "bob")
        carol = LineSocket(server.port)
        assert carol.rest() == [TOO_MANY_FROM_IP]
        assert ana.line() == joined("bob")
        # A good file with a listener change: applied, the backlog left as it is, and said so.
        config.write_text('max-per-ip = 3\nexempt = ["none"]\nbacklog = 10\n')
        lines = sighup(server, "restart")
        assert "backlog" in lines and "max-per-ip" in lines, lines
        carol = enter(server, "carol")
        for client in (ana, bob, carol):
            client.close()
        assert "Traceback" not in server.log()


def test_log_format_json_is_one_object_per_line(tmp_path: Path) -> None:
    with twistd_chat(
        tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}", extra=["--log-format", "json"]
    ) as server:
        ana = enter(server, "ana")
        ana.say("/salir")
        assert ana.rest() == [goodbye("ana")]
        ana.close()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
    text = server.log()
    assert "\x1e" not in text
    lines = text.splitlines()
    assert len(lines) >= 3, text
    events = [json.loads(line) for line in lines]  # each line is one JSON object, nothing else
    assert all(isinstance(event, dict) and "log_level" in event for event in events)
    formats = [str(event.get("log_format", "")) for event in events]
    assert any(f.startswith("Listening on") for f in formats), formats
    assert any(f.startswith("twisted-chat stopped") for f in formats), formats


def test_log_level_warn_hides_info_lines(tmp_path: Path) -> None:
    # --max-clients above what the open-files limit allows: one warning to see.
    with twistd_chat(
        tmp_path,
        f"sqlite:{tmp_path / 'chat.sqlite3'}",
        extra=["--log-level", "warn", "--max-clients", "1000000000"],
    ) as server:
        ana = LineSocket(server.port)
        ana.login("ana")
        ana.close()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
    log = server.log()
    assert "above what the open-files limit allows" in log, log
    assert "Listening on" not in log, log
    assert "starting up" not in log, log
    assert "[-] " not in log, log  # nothing unattributed (stdout) either
    assert len(log.strip().splitlines()) == 1, log


def test_log_level_changes_on_sighup(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('log-level = "warn"\nflood-rate = 0\nmax-strikes = 1\n')
    with twistd_chat(
        tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}", extra=["--config", str(config)]
    ) as server:
        assert "Listening on" not in server.log()
        config.write_text('log-level = "debug"\nflood-rate = 0\nmax-strikes = 1\n')
        server.process.send_signal(signal.SIGHUP)
        wait_for_log(server, lambda log: "Configuration reloaded" in log, "the reload line")
        bad = LineSocket(server.port)
        assert bad.line() == PROMPT
        bad.sock.sendall(b"\xff\r\n")  # invalid UTF-8: a strike, and one is the limit
        bad.rest()
        bad.close()
        wait_for_log(server, lambda log: "disconnecting 127.0.0.1 (strikes)" in log, "debug")


# -- a database outage -----------------------------------------------------------------------

#: Seconds a MariaDB stop or start may take.
SERVER_WAIT = 60.0
#: Seconds the server may take to write the queued logins once MariaDB is back (its backoff
#: doubles from 0.5 s up to 30 s while the database is down).
RECOVERY_WAIT = 45.0
CLIENTS = 200


@pytest.mark.mysql
@pytest.mark.timeout(240, method="thread")
def test_logins_during_an_outage_write_a_few_lines_and_no_traceback(
    tmp_path: Path, private_mariadb: mariadb.PrivateMariaDB, outage_url: MysqlURL
) -> None:
    with twistd_chat(tmp_path, mariadb.mysql_option(outage_url)) as server:
        # Serving means the registered nicknames are loaded: logins are taken. One login
        # before the outage, so that the pool holds connections that the outage breaks.
        ana = LineSocket(server.port)
        ana.login("ana")
        assert ana.after_welcome() == FIRST_VISIT  # the database works
        ana.close()
        time.sleep(0.5)
        start = len(server.log())
        private_mariadb.stop()
        for n in range(CLIENTS):
            client = LineSocket(server.port)
            client.login(f"user{n}")
            client.say("/salir")
            # No replay (nothing was said) and no visit line (the login is not recorded yet).
            assert client.rest() == [RETENTION, goodbye(f"user{n}")]
            client.close()
        time.sleep(6)  # longer than a summary's window
        private_mariadb.start()
        wait_for_log(
            server,
            lambda log: "Database available again" in log[start:],
            "the recovery line",
            RECOVERY_WAIT,
        )
        lines = server.log()[start:].strip().splitlines()
    assert len(lines) < 10, "\n".join(lines)
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    [recovery] = [line for line in lines if "Database available again" in line]
    assert f"{CLIENTS} queued logins" in recovery, recovery
    assert len([line for line in lines if "Database unavailable" in line]) == 1, lines
