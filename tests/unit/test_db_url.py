"""Parsing of the ``--db`` option by :func:`twisted_chat.storage.parse_db_url` (synchronous)."""

from __future__ import annotations

import pytest

from twisted_chat.storage import BadDatabaseURL, parse_db_url
from twisted_chat.storage.url import MysqlURL, SqliteURL

NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("sqlite:chat.sqlite3", "chat.sqlite3"),
        ("sqlite:data/chat.sqlite3", "data/chat.sqlite3"),
        ("sqlite:./chat.sqlite3", "./chat.sqlite3"),
        ("sqlite:../chat.sqlite3", "../chat.sqlite3"),
        ("sqlite:/var/lib/chat/chat.sqlite3", "/var/lib/chat/chat.sqlite3"),
        ("sqlite:/tmp/with space/chat.db", "/tmp/with space/chat.db"),
        ("sqlite:///var/lib/chat/chat.sqlite3", "/var/lib/chat/chat.sqlite3"),
    ],
)
def test_sqlite_paths(value: str, path: str) -> None:
    """``sqlite:PATH`` keeps a relative path relative and an absolute one absolute."""
    assert parse_db_url(value, NO_ENV) == SqliteURL(path)


def test_sqlite_default_option_value() -> None:
    """The default ``--db`` value parses to the relative file ``chat.sqlite3``."""
    url = parse_db_url("sqlite:chat.sqlite3", NO_ENV)
    assert isinstance(url, SqliteURL)
    assert url.path == "chat.sqlite3"
    assert url.describe() == "sqlite:chat.sqlite3"


@pytest.mark.parametrize("value", ["sqlite:", "sqlite://"])
def test_sqlite_without_path_is_an_error(value: str) -> None:
    """``sqlite:`` with no path is a clear error, not an in-memory or unnamed database."""
    with pytest.raises(BadDatabaseURL, match="needs a file path"):
        parse_db_url(value, NO_ENV)


def test_mysql_full_url() -> None:
    """User, password, host, port and database are all taken from the URL."""
    url = parse_db_url("mysql://chat:s3cret@db.example.com:3307/chatdb", NO_ENV)
    assert url == MysqlURL(
        user="chat", host="db.example.com", port=3307, database="chatdb", password="s3cret"
    )


@pytest.mark.parametrize(
    "value", ["mysql://root@127.0.0.1", "mysql://root@127.0.0.1/", "mysql://root@127.0.0.1:3306"]
)
def test_mysql_defaults(value: str) -> None:
    """No port means 3306, no database means ``redes``, no password (and no env) means empty."""
    url = parse_db_url(value, NO_ENV)
    assert url == MysqlURL(user="root", host="127.0.0.1", port=3306, database="redes", password="")


def test_mariadb_scheme_is_accepted() -> None:
    """``mariadb://`` is the same as ``mysql://``."""
    url = parse_db_url("mariadb://chat@localhost/redes", NO_ENV)
    assert url == MysqlURL(user="chat", host="localhost", port=3306, database="redes")


def test_mysql_ipv6_host() -> None:
    """A bracketed IPv6 host is accepted and given to the client without brackets."""
    url = parse_db_url("mysql://chat@[::1]:3310/redes", NO_ENV)
    assert isinstance(url, MysqlURL)
    assert (url.host, url.port) == ("::1", 3310)


def test_password_from_environ_parameter() -> None:
    """With no password in the URL, ``CHAT_DB_PASSWORD`` from ``environ`` is used."""
    url = parse_db_url("mysql://chat@db/redes", {"CHAT_DB_PASSWORD": "from-env"})
    assert isinstance(url, MysqlURL)
    assert url.password == "from-env"


def test_password_in_url_wins_over_environ() -> None:
    """A password written in the URL is used even when ``CHAT_DB_PASSWORD`` is set."""
    url = parse_db_url("mysql://chat:in-url@db/redes", {"CHAT_DB_PASSWORD": "from-env"})
    assert isinstance(url, MysqlURL)
    assert url.password == "in-url"


def test_password_from_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an ``environ`` argument the process environment is read."""
    monkeypatch.setenv("CHAT_DB_PASSWORD", "process-env")
    url = parse_db_url("mysql://chat@db/redes")
    assert isinstance(url, MysqlURL)
    assert url.password == "process-env"


def test_environ_parameter_replaces_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit ``environ`` is the only place looked at (the process environment is not)."""
    monkeypatch.setenv("CHAT_DB_PASSWORD", "process-env")
    url = parse_db_url("mysql://chat@db/redes", NO_ENV)
    assert isinstance(url, MysqlURL)
    assert url.password == ""


def test_url_encoded_user_and_password() -> None:
    """Percent-encoded characters in user and password are decoded."""
    url = parse_db_url("mysql://chat%2Bbot:p%40ss%3Aw%2Fd%25@db:3306/redes", NO_ENV)
    assert isinstance(url, MysqlURL)
    assert url.user == "chat+bot"
    assert url.password == "p@ss:w/d%"


def test_password_never_shown() -> None:
    """Neither ``repr`` nor ``describe()`` reveals the password."""
    url = parse_db_url("mysql://chat:hunter2@db:3307/redes", NO_ENV)
    assert "hunter2" not in repr(url)
    assert url.describe() == "mysql://chat@db:3307/redes"


@pytest.mark.parametrize(
    "value",
    [
        "postgres://chat@db/redes",
        "mysql:/chat@db/redes",
        "mysql:chat@db",
        "chat.sqlite3",
        "SQLITE:chat.sqlite3",
        "",
    ],
)
def test_bad_scheme(value: str) -> None:
    """Anything but ``sqlite:`` or ``mysql://`` is refused with a message naming both forms."""
    with pytest.raises(BadDatabaseURL, match="unknown database") as info:
        parse_db_url(value, NO_ENV)
    assert "sqlite:PATH" in str(info.value)
    assert "mysql://" in str(info.value)


@pytest.mark.parametrize(
    "database",
    [
        "bad-name",
        "a;DROP",
        "redes/extra",
        "with%20space",
        "quote%60tick",
        "x" * 65,
    ],
)
def test_bad_database_name(database: str) -> None:
    """Database names are letters, digits, ``_`` and ``$`` (at most 64): nothing to inject."""
    with pytest.raises(BadDatabaseURL, match="bad database name"):
        parse_db_url(f"mysql://chat@db/{database}", NO_ENV)


@pytest.mark.parametrize("database", ["redes", "chat_2026", "a$b", "x" * 64])
def test_good_database_names(database: str) -> None:
    """The longest and the odd-but-legal names are accepted as written."""
    url = parse_db_url(f"mysql://chat@db/{database}", NO_ENV)
    assert isinstance(url, MysqlURL)
    assert url.database == database


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://db/redes", "needs a user"),
        ("mysql://chat@/redes", "needs a host"),
        ("mysql://chat@db:notaport/redes", "bad MySQL URL"),
        ("mysql://chat@db:70000/redes", "bad MySQL URL"),
        ("mysql://chat@db/redes?ssl=1", "no ?query"),
        ("mysql://chat@db/redes#frag", "no ?query"),
    ],
)
def test_bad_mysql_url(value: str, message: str) -> None:
    """A malformed MySQL URL is a :class:`BadDatabaseURL` saying what is wrong."""
    with pytest.raises(BadDatabaseURL, match=message.replace("?", r"\?")):
        parse_db_url(value, NO_ENV)


def test_bad_url_is_a_value_error() -> None:
    """Callers that catch ``ValueError`` (option parsing) also catch bad URLs."""
    assert issubclass(BadDatabaseURL, ValueError)
