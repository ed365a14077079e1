"""Parsing of the ``--db`` option: ``sqlite:PATH`` or ``mysql://USER[:PASSWORD]@HOST[:PORT][/DB]``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

#: Database used when a MySQL URL names none (the original design's database).
DEFAULT_MYSQL_DATABASE = "redes"
#: Environment variable holding the MySQL password when the URL has none.
PASSWORD_ENV = "CHAT_DB_PASSWORD"

_DB_NAME_RE = re.compile(r"[A-Za-z0-9_$]{1,64}")


class BadDatabaseURL(ValueError):
    """The ``--db`` value cannot be used; the message says why."""


@dataclass(frozen=True)
class SqliteURL:
    """An embedded SQLite database file (``:memory:`` for a private in-memory one)."""

    path: str

    def describe(self) -> str:
        """A human description for logs."""
        return f"sqlite:{self.path}"


@dataclass(frozen=True)
class MysqlURL:
    """A MySQL/MariaDB server and database."""

    user: str
    host: str
    port: int
    database: str
    password: str = field(default="", repr=False)

    def describe(self) -> str:
        """A human description for logs (never the password)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


DatabaseURL = SqliteURL | MysqlURL


def parse_db_url(value: str, environ: Mapping[str, str] | None = None) -> DatabaseURL:
    """Parse a ``--db`` value; raise :class:`BadDatabaseURL` with a clear message if it is wrong."""
    env = os.environ if environ is None else environ
    if value.startswith("sqlite:"):
        path = value[len("sqlite:") :]
        if path.startswith("//"):  # sqlite:///abs/path or sqlite://rel (URL style)
            path = path[2:]
        if not path:
            raise BadDatabaseURL("sqlite: needs a file path, e.g. sqlite:chat.sqlite3")
        return SqliteURL(path)
    if value.startswith(("mysql://", "mariadb://")):
        return _parse_mysql_url(value, env)
    raise BadDatabaseURL(
        f"unknown database {value!r}: use sqlite:PATH or mysql://USER[:PASSWORD]@HOST[:PORT][/DB]"
    )


def _parse_mysql_url(value: str, env: Mapping[str, str]) -> MysqlURL:
    """``mysql://USER[:PASSWORD]@HOST[:PORT][/DBNAME]`` (or ``mariadb://``)."""
    try:
        parts = urlsplit(value)
        port = parts.port or 3306
    except ValueError as e:
        raise BadDatabaseURL(f"bad MySQL URL {value!r}: {e}") from None
    if parts.query or parts.fragment:
        raise BadDatabaseURL("MySQL URL takes no ?query or #fragment")
    if not parts.username:
        raise BadDatabaseURL("MySQL URL needs a user: mysql://USER[:PASSWORD]@HOST[:PORT][/DB]")
    if not parts.hostname:
        raise BadDatabaseURL("MySQL URL needs a host: mysql://USER[:PASSWORD]@HOST[:PORT][/DB]")
    database = unquote(parts.path.lstrip("/")) or DEFAULT_MYSQL_DATABASE
    if not _DB_NAME_RE.fullmatch(database):
        raise BadDatabaseURL(f"bad database name {database!r}: letters, digits, _ and $ only")
    password = unquote(parts.password) if parts.password is not None else None
    if password is None:
        password = env.get(PASSWORD_ENV, "")
    return MysqlURL(
        user=unquote(parts.username),
        host=parts.hostname,
        port=port,
        database=database,
        password=password,
    )
