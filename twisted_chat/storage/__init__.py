"""Storage of users and their last connection time (table ``clientes``), bans, topics, room
history (``mensajes``) and recados, behind ``adbapi``.

``open_login_store(url, reactor)`` gives a :class:`~twisted_chat.storage.logins.LoginStore` for a
``--db`` URL; every call on it returns a Deferred, and the reactor never waits on the database.
"""

from __future__ import annotations

from typing import Any

from twisted_chat.history import BadCursor, Page, StoredMessage
from twisted_chat.recados import Recado, Stored
from twisted_chat.storage.accounts import AccountStore
from twisted_chat.storage.bans import BanStore
from twisted_chat.storage.database import Database, DatabaseMisconfigured
from twisted_chat.storage.departures import DepartureStore
from twisted_chat.storage.engines import MYSQL_DRIVER_HINT, engine_for, mysql_driver_problem
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.logins import DEFAULT_QUEUE_LIMIT, DatabaseUnavailable, LoginStore
from twisted_chat.storage.recados import RecadoStore
from twisted_chat.storage.topics import TopicStore
from twisted_chat.storage.url import BadDatabaseURL, DatabaseURL, MysqlURL, parse_db_url

__all__ = [
    "MYSQL_DRIVER_HINT",
    "AccountStore",
    "BadCursor",
    "BadDatabaseURL",
    "BanStore",
    "Database",
    "DatabaseMisconfigured",
    "DatabaseURL",
    "DatabaseUnavailable",
    "DepartureStore",
    "HistoryStore",
    "LoginStore",
    "MysqlURL",
    "Page",
    "Recado",
    "RecadoStore",
    "Stored",
    "StoredMessage",
    "TopicStore",
    "mysql_driver_problem",
    "open_login_store",
    "parse_db_url",
]


def open_login_store(
    url: DatabaseURL, reactor: Any, queue_limit: int = DEFAULT_QUEUE_LIMIT
) -> LoginStore:
    """A login store on a new connection pool for ``url`` (call ``start()`` once running)."""
    return LoginStore(Database(engine_for(url), reactor), reactor, queue_limit)
