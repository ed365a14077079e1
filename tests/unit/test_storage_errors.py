"""Which database errors can never work (a configuration error: exit 1) and which are an outage
(retry), classified by each engine on real ``sqlite3`` and ``MySQLdb`` error objects.

The processes that exit on them are tested in ``tests/e2e/test_startup_errors.py``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from twisted_chat.storage.engines import MysqlEngine, SqliteEngine
from twisted_chat.storage.url import MysqlURL, SqliteURL


def test_sqlite_classification() -> None:
    """Real ``sqlite3`` errors: can never work, or an outage (locked) or something else."""
    engine = SqliteEngine(SqliteURL("/no/such/dir/x.db"))
    with pytest.raises(sqlite3.Error) as cannot_open:
        sqlite3.connect("/no/such/dir/x.db")
    problem = engine.misconfiguration(cannot_open.value)
    assert problem is not None
    assert problem.startswith("sqlite:/no/such/dir/x.db: cannot open the file")
    with closing(sqlite3.connect(":memory:")) as db, pytest.raises(sqlite3.Error) as syntax:
        db.execute("SELEKT 1")
    assert engine.misconfiguration(syntax.value) is None
    assert engine.misconfiguration(RuntimeError("no")) is None


def test_mysql_classification() -> None:
    """Real ``MySQLdb`` error objects: what can never work, and what is an outage."""
    from MySQLdb import OperationalError  # in the test extra: a failure here, never a skip

    engine = MysqlEngine(MysqlURL(user="chat", host="db", port=3306, database="redes"))
    for code in (1044, 1045, 1049, 1130, 1142, 1146, 1698):
        problem = engine.misconfiguration(OperationalError(code, "no"))
        assert problem is not None, code
        assert problem.startswith("mysql://chat@db:3306/redes: "), problem
        assert f"MySQL error {code}: no" in problem
    for code in (1040, 1203, 2002, 2003, 2005, 2006, 2013):
        assert engine.misconfiguration(OperationalError(code, "later")) is None, code
    assert engine.misconfiguration(RuntimeError("no")) is None
