"""Operators against a real ``twistd chat`` (issue 10 §4): bans survive a restart, on an SQLite
file and on MariaDB. Every operator command over real sockets in process:
``tests/inprocess/test_operators.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.accounts import OPERATOR_PASSWORD
from tests.support.expected import (
    FIRST_VISIT,
    NO_BANS,
    ban_done,
    ban_lifted,
    ban_line,
    bans_header,
    nick_banned,
    registered,
    username,
    welcome,
)
from tests.support.processes import LineSocket, twistd_chat
from twisted_chat.storage.url import MysqlURL

pytestmark = pytest.mark.timeout(60, method="thread")


def _op_login(port: int) -> LineSocket:
    ana = LineSocket(port)
    ana.line()
    ana.say(f"ana {OPERATOR_PASSWORD}")
    assert ana.line() == welcome("ana")
    assert ana.after_welcome().startswith("* Tu última conexión fue el ")
    return ana


def _bans_survive_a_restart(tmp_path: Path, db: str) -> None:
    with twistd_chat(tmp_path, db, extra=["--operator", "ana"]) as server:
        ana = LineSocket(server.port)
        ana.line()
        ana.say("ana")
        assert ana.line() == welcome("ana")
        assert ana.after_welcome() == FIRST_VISIT
        ana.say(f"/registrar {OPERATOR_PASSWORD}")
        assert ana.line() == registered("ana")
        ana.close()
        ana = _op_login(server.port)
        ana.say("/banear dave para siempre")
        assert ana.line() == ban_done("dave")
        ana.say("/banear 192.0.2.0/24")
        assert ana.line() == ban_done("192.0.2.0/24")
        ana.close()
    with twistd_chat(tmp_path, db, extra=["--operator", "ana"]) as server:
        dave = LineSocket(server.port)
        dave.line()
        dave.say("dave")
        assert dave.line() == nick_banned("dave")
        dave.close()
        ana = _op_login(server.port)
        ana.say("/baneos")
        assert [ana.line() for _ in range(3)] == [
            bans_header(2),
            ban_line("192.0.2.0/24", "ana"),
            ban_line("dave", "ana", "para siempre"),
        ]
        ana.say("/desbanear dave")
        assert ana.line() == ban_lifted("dave")
        ana.say("/desbanear 192.0.2.0/24")
        assert ana.line() == ban_lifted("192.0.2.0/24")
        ana.say("/baneos")
        assert ana.line() == NO_BANS
        ana.say("/username")
        assert ana.line() == username("ana")
        ana.close()


def test_bans_survive_a_restart_sqlite(tmp_path: Path) -> None:
    _bans_survive_a_restart(tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}")


@pytest.mark.mysql
def test_bans_survive_a_restart_mysql(tmp_path: Path, mysql_url: MysqlURL) -> None:
    _bans_survive_a_restart(tmp_path, mariadb.mysql_option(mysql_url))
