"""Which database errors can never work (a configuration error: exit 1) and which are an outage
(retry), classified by each engine on real ``sqlite3`` and ``MySQLdb`` error objects.

The processes that exit on them are tested in ``tests/e2e/test_startup_errors.py``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.storage.engines import MysqlEngine, SqliteEngine
from twisted_chat.storage.url import MysqlURL, SqliteURL


class ClassificationTests(SynchronousTestCase):
    """Each engine's ``misconfiguration``: a message for what can never work, ``None`` otherwise."""

    def test_sqlite_classification(self) -> None:
        """Real ``sqlite3`` errors: can never work, or an outage (locked) or something else."""
        engine = SqliteEngine(SqliteURL("/no/such/dir/x.db"))
        with self.assertRaises(sqlite3.Error) as cannot_open:
            sqlite3.connect("/no/such/dir/x.db")
        problem = engine.misconfiguration(cannot_open.exception)
        assert problem is not None
        self.assertTrue(problem.startswith("sqlite:/no/such/dir/x.db: cannot open the file"))
        with closing(sqlite3.connect(":memory:")) as db, self.assertRaises(sqlite3.Error) as syntax:
            db.execute("SELEKT 1")
        self.assertIsNone(engine.misconfiguration(syntax.exception))
        self.assertIsNone(engine.misconfiguration(RuntimeError("no")))

    def test_mysql_classification(self) -> None:
        """Real ``MySQLdb`` error objects: what can never work, and what is an outage."""
        from MySQLdb import OperationalError  # in the test extra: a failure here, never a skip

        engine = MysqlEngine(MysqlURL(user="chat", host="db", port=3306, database="redes"))
        for code in (1044, 1045, 1049, 1130, 1142, 1146, 1698):
            problem = engine.misconfiguration(OperationalError(code, "no"))
            assert problem is not None, code
            self.assertTrue(problem.startswith("mysql://chat@db:3306/redes: "), problem)
            self.assertIn(f"MySQL error {code}: no", problem)
        for code in (1040, 1203, 2002, 2003, 2005, 2006, 2013):
            self.assertIsNone(engine.misconfiguration(OperationalError(code, "later")), code)
        self.assertIsNone(engine.misconfiguration(RuntimeError("no")))
