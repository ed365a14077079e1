"""Start-up with a database that can never work, or that is not there yet (issue 10, part 0).

A ``--db`` that can never work (a SQLite file that cannot be opened or is not a database, MySQL
access denied, an unknown database the user may not create) is a configuration error: the real
``twistd chat`` process exits with status 1 within a few seconds, with one ``bad --db`` line and
no traceback. A database that is merely unreachable is an outage: the server starts, and until
it has loaded the registered nicknames every nickname line gets the starting-up line; once it
has, logins work, and a registered nickname is never taken by an impostor.

The classification itself is unit-tested on real ``sqlite3`` and ``MySQLdb`` errors
(``tests/unit/test_storage_errors.py``); the store's reaction in process in
``tests/inprocess/test_storage_sqlite.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.expected import (
    FIRST_VISIT,
    PROMPT,
    STARTING_UP,
    password_needed,
    registered,
    welcome,
)
from tests.support.processes import LineSocket, free_port, run_twistd, twistd_chat
from twisted_chat.storage.url import MysqlURL

#: Longest time a misconfigured server may take to exit, in seconds ("within a few seconds").
EXIT_WITHIN = 5.0
#: Longest wait for a server to load its accounts once MariaDB is back (its retries back off
#: from 0.5 s, doubling, while MariaDB is down: a few seconds here).
LOAD_WAIT = 45.0


def run_misconfigured(tmp_path: Path, db: str) -> tuple[int, str, float]:
    """Run ``twistd -n chat --db DB`` to completion: ``(status, output, seconds taken)``."""
    started = time.monotonic()
    result = run_twistd(
        "-n", "--pidfile=", "chat", "--port", "tcp:0:interface=127.0.0.1", "--db", db, cwd=tmp_path
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def assert_one_clear_line(output: str, *expected: str) -> None:
    """``output`` says what is wrong in exactly one line (a critical ``bad --db`` line holding
    each of ``expected``), has no traceback, and the server shut down in order."""
    bad = [line for line in output.splitlines() if "bad --db" in line]
    assert len(bad) == 1, output
    assert "#critical]" in bad[0], output
    for text in expected:
        assert text in bad[0], output
    assert "Traceback" not in output, output
    assert [line for line in output.splitlines() if "#critical]" in line] == bad, output
    # Nothing else complains: no retry warnings, no outage line.
    assert "#error]" not in output, output
    assert "#warn]" not in output, output
    assert "Server Shut Down." in output, output


# -- SQLite ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda d: d / "no" / "such" / "dir" / "x.db", "cannot open the file"),
        (lambda d: d, "cannot open the file"),  # a directory given as the file
        (lambda d: _not_a_database(d), "not a SQLite database"),
    ],
    ids=["missing-directory", "a-directory", "not-a-database"],
)
def test_sqlite_that_cannot_be_used_exits_1(tmp_path: Path, make_path: object, reason: str) -> None:
    path = make_path(tmp_path)  # type: ignore[operator]
    status, output, seconds = run_misconfigured(tmp_path, f"sqlite:{path}")
    assert status == 1, output
    assert seconds < EXIT_WITHIN, (seconds, output)
    assert_one_clear_line(output, f"sqlite:{path}", reason)


def test_the_example_path_of_the_issue_exits_1(tmp_path: Path) -> None:
    status, output, seconds = run_misconfigured(tmp_path, "sqlite:/no/such/dir/x.db")
    assert status == 1, output
    assert seconds < EXIT_WITHIN, (seconds, output)
    assert_one_clear_line(output, "sqlite:/no/such/dir/x.db")


def _not_a_database(directory: Path) -> Path:
    path = directory / "notes.txt"
    path.write_text("these are notes, not a database\n" * 100)
    return path


# -- MySQL: the server answers, and says no --------------------------------------------------


@contextmanager
def mysql_user(server: MysqlURL, password: str, grant: str | None = None) -> Iterator[MysqlURL]:
    """A new MariaDB user with ``password`` (and ``grant``, e.g. ``ALL ON db.*``), dropped
    afterwards; the URL has no database of its own yet."""
    name = f"chat_t_{uuid.uuid4().hex[:10]}"
    conn = mariadb.connect(server)
    try:
        cursor = conn.cursor()
        cursor.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (password,))
        if grant is not None:
            cursor.execute(f"GRANT {grant} TO '{name}'@'%'")
        yield replace(server, user=name, password=password)
    finally:
        conn.cursor().execute(f"DROP USER IF EXISTS '{name}'@'%'")
        conn.close()


@pytest.mark.mysql
def test_mysql_wrong_password_exits_1(tmp_path: Path, mysql_url: MysqlURL) -> None:
    with mysql_user(mysql_url, "the-right-one") as user:
        wrong = replace(user, password="a-wrong-one", database=mysql_url.database)
        status, output, seconds = run_misconfigured(tmp_path, mariadb.mysql_option(wrong))
    assert status == 1, output
    assert seconds < EXIT_WITHIN, (seconds, output)
    assert_one_clear_line(output, "MySQL error 1045", "access denied")
    assert "a-wrong-one" not in output  # never the password


@pytest.mark.mysql
def test_mysql_unknown_user_exits_1(tmp_path: Path, mysql_url: MysqlURL) -> None:
    nobody = replace(mysql_url, user=f"nobody_{uuid.uuid4().hex[:8]}", password="x")
    status, output, seconds = run_misconfigured(tmp_path, mariadb.mysql_option(nobody))
    assert status == 1, output
    assert seconds < EXIT_WITHIN, (seconds, output)
    # 1045, or 1698 (MariaDB answers an unknown user with either, depending on its users).
    assert_one_clear_line(output, "access denied (user or password)")
    assert "MySQL error 1045" in output or "MySQL error 1698" in output, output


@pytest.mark.mysql
def test_mysql_unknown_database_without_create_privilege_exits_1(
    tmp_path: Path, mysql_url: MysqlURL
) -> None:
    """``mysql_url``'s database does not exist (nobody creates it), and this user, with no
    privileges at all, may not create it."""
    with mysql_user(mysql_url, "pw-of-a-nobody") as user:
        url = replace(user, database=mysql_url.database)
        status, output, seconds = run_misconfigured(tmp_path, mariadb.mysql_option(url))
    assert status == 1, output
    assert seconds < EXIT_WITHIN, (seconds, output)
    assert_one_clear_line(output, url.describe())
    assert "MySQL error 1044" in output or "MySQL error 1049" in output, output
    conn = mariadb.connect(mysql_url)
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW DATABASES LIKE %s", (mysql_url.database,))
        assert cursor.fetchall() == ()  # not created behind our back
    finally:
        conn.close()


@pytest.mark.mysql
def test_mysql_user_with_privileges_on_its_database_starts(
    tmp_path: Path, mysql_url: MysqlURL
) -> None:
    """The restricted user of the test above, given its database, works (no false alarm)."""
    with mysql_user(mysql_url, "pw-of-a-user", grant=f"ALL ON `{mysql_url.database}`.*") as user:
        url = replace(user, database=mysql_url.database)
        with twistd_chat(tmp_path, mariadb.mysql_option(url)) as server:
            ana = LineSocket(server.port)
            ana.login("ana")
            ana.close()
        assert "bad --db" not in server.log()


# -- MySQL: unreachable at start-up is an outage ---------------------------------------------


@pytest.mark.mysql
def test_mysql_closed_port_starts_and_refuses_logins_until_loaded(tmp_path: Path) -> None:
    url = MysqlURL(user="root", host="127.0.0.1", port=free_port(), database="redes")
    with twistd_chat(tmp_path, mariadb.mysql_option(url), logins=False) as server:
        client = LineSocket(server.port)
        assert client.line() == PROMPT
        for line in ("ana", "ana secreto1", "carol"):
            client.say(line)
            assert client.line() == STARTING_UP
        client.say("/username")  # still at the prompt: a nickname line like any other
        assert client.line() == STARTING_UP
        time.sleep(1.0)
        assert server.process.poll() is None, server.log()  # still running, retrying
        client.close()
    assert "bad --db" not in server.log()
    assert "Traceback" not in server.log()


@pytest.mark.mysql
@pytest.mark.timeout(240, method="thread")
def test_logins_work_once_mariadb_comes_up_and_never_an_impostor(
    tmp_path: Path, private_mariadb: mariadb.PrivateMariaDB, outage_url: MysqlURL
) -> None:
    """MariaDB down at start-up, then up: starting-up lines, then the registered nickname needs
    its password and a free one logs in."""
    db = mariadb.mysql_option(outage_url)
    # First run, database up: rita registers her nickname.
    first = tmp_path / "first"
    first.mkdir()
    with twistd_chat(first, db) as server:
        rita = LineSocket(server.port)
        rita.login("rita")
        assert rita.after_welcome() == FIRST_VISIT
        rita.say("/registrar secreto1")
        assert rita.line() == registered("rita")
        rita.close()

    private_mariadb.stop()
    second = tmp_path / "second"
    second.mkdir()
    with twistd_chat(second, db, logins=False) as server:
        impostor = LineSocket(server.port)
        assert impostor.line() == PROMPT
        impostor.say("rita")
        assert impostor.line() == STARTING_UP
        impostor.say("carol")
        assert impostor.line() == STARTING_UP

        private_mariadb.start()
        deadline = time.monotonic() + LOAD_WAIT
        while True:
            impostor.say("rita")
            reply = impostor.line()
            if reply != STARTING_UP:
                break
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.5)
        assert reply == password_needed("rita")
        impostor.say("rita wrong-one")
        assert impostor.line().startswith("! ")
        impostor.say("carol")
        assert impostor.line() == welcome("carol")
        impostor.close()
        owner = LineSocket(server.port)
        assert owner.line() == PROMPT
        owner.say("rita secreto1")
        assert owner.line() == welcome("rita")
        owner.close()
    log = server.log()
    assert "bad --db" not in log
    assert "Traceback" not in log
    assert "1 registered nicknames loaded" in log
