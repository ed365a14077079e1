"""One small object per database backend, in the manner of Synapse's ``storage/engines``.

An engine knows its DB-API module, how to open connections for ``adbapi`` (pool arguments and
per-connection set-up), its parameter style, which errors mean "the database is unavailable, try
again" and how times are stored. SQL elsewhere is written with ``?`` placeholders;
:meth:`Engine.sql` converts them for the backend.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from importlib import resources
from types import ModuleType
from typing import Any, ClassVar

from twisted_chat.storage.url import DatabaseURL, MysqlURL, SqliteURL

#: How ``connected_at`` is written: SQLite's own ``datetime()`` text form, also accepted by MySQL.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# MySQL client errors after which the same statement may succeed on a fresh connection.
_MYSQL_CONNECTION_LOST = frozenset({2006, 2013, 2055})  # gone away, lost, lost (system error)

#: MySQL errors that no retry can cure: the server answered, and said that this user, password,
#: host or database will not do. At start-up they stop the server (a configuration error, not
#: an outage). Refused connections, timeouts, a lost connection (2002, 2003, 2006, 2013), too
#: many connections (1040, 1203) and an unknown host (2005: a database host's name may not
#: resolve yet while the machines or containers around it start) stay outages and are retried.
_MYSQL_MISCONFIGURED = {
    1044: "access denied to the database (or it does not exist and this user may not create it)",
    1045: "access denied (user or password)",
    1049: "unknown database, and no privilege to create it",
    1130: "this host may not connect",
    1142: "missing privilege on a table",
    1146: "a table is missing, and no privilege to create it",
    1227: "missing privilege",
    1251: "authentication method not supported by the client",
    1698: "access denied (user or password)",
    2059: "authentication plugin cannot be loaded",
}

#: SQLite result codes that no retry can cure: the file cannot be opened (missing directory,
#: permission denied, a directory given as the file), is read-only, or is not a database.
#: SQLITE_BUSY and SQLITE_LOCKED (another process holds the lock) stay outages.
_SQLITE_MISCONFIGURED = {
    3: "permission denied",  # SQLITE_PERM
    8: "the file is read-only",  # SQLITE_READONLY
    11: "the file is corrupt",  # SQLITE_CORRUPT
    14: "cannot open the file (does its directory exist, and may we write there?)",  # CANTOPEN
    26: "the file is not a SQLite database",  # SQLITE_NOTADB
}


#: InnoDB's default full-text stop words (``INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD``):
#: never indexed, so they are searched with ``LIKE`` alone.
_INNODB_STOPWORDS = frozenset(
    {
        *("a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from"),
        *("how", "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to"),
        *("was", "what", "when", "where", "who", "will", "with", "und", "www"),
    }
)

_CREATE_TABLE_RE = re.compile(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)


def created_table(statement: str) -> str | None:
    """The table a ``CREATE TABLE IF NOT EXISTS`` statement creates, if it is one."""
    match = _CREATE_TABLE_RE.match(statement)
    return match.group(1) if match else None


_TRIGGER_RE = re.compile(r"CREATE\s+TRIGGER\b", re.IGNORECASE)
_END_RE = re.compile(r"\bEND\s*$", re.IGNORECASE)


def schema_statements(filename: str) -> list[str]:
    """The statements of ``sql/FILENAME``, comments removed, in order.

    Statements end with ``;``, except that a ``CREATE TRIGGER`` runs to its ``END;`` (its body
    holds statements of its own).
    """
    text = resources.files("twisted_chat").joinpath("sql", filename).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements: list[str] = []
    pending = ""
    for piece in "\n".join(lines).split(";"):
        pending = f"{pending};{piece}" if pending else piece.strip()
        if not pending:
            continue
        if _TRIGGER_RE.match(pending) and not _END_RE.search(pending):
            continue
        statements.append(pending.strip())
        pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


class Engine:
    """Backend-specific behaviour shared by all storage code."""

    name: ClassVar[str]
    schema_file: ClassVar[str]
    module: ModuleType

    def pool_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for ``adbapi.ConnectionPool`` after the module name."""
        raise NotImplementedError

    def sql(self, statement: str) -> str:
        """``statement`` with ``?`` placeholders converted to the backend's style."""
        return statement

    def is_connection_lost(self, error: BaseException) -> bool:
        """Whether ``error`` means the connection died mid-statement (retry at once)."""
        return False

    def is_unavailable(self, error: BaseException) -> bool:
        """Whether ``error`` means the database is unavailable for now (retry later)."""
        return isinstance(error, self.module.OperationalError | self.module.InterfaceError)

    def prepare(self) -> None:
        """Blocking set-up before the pool is used (runs in a thread)."""

    def is_conflict(self, error: BaseException) -> bool:
        """Whether ``error`` is a transaction rolled back by a lock conflict (a deadlock or a
        lock wait timeout): the transaction may simply be run again."""
        return False

    def misconfiguration(self, error: BaseException) -> str | None:
        """One line saying why the database can never work as configured, if ``error`` says so
        (access denied, no such database, a file that cannot be opened...); ``None`` for an
        outage or any other error."""
        return None

    def is_privilege_error(self, error: BaseException) -> bool:
        """Whether ``error`` is a refusal for lack of privileges."""
        return False

    @staticmethod
    def to_db_time(when: datetime) -> str:
        """``when`` (aware) as the UTC text stored in ``connected_at``."""
        return when.astimezone(UTC).strftime(TIME_FORMAT)

    @staticmethod
    def from_db_time(value: Any) -> datetime:
        """A ``connected_at`` value read back, as an aware UTC datetime."""
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC)
        return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=UTC)

    upsert_login: ClassVar[str]
    upsert_account: ClassVar[str]
    upsert_ban: ClassVar[str]
    #: Insert or replace the topic of a room.
    upsert_topic: ClassVar[str]
    #: Record when a nick key (first argument) left (second argument, ms): the last one wins.
    upsert_departure: ClassVar[str]

    #: ``INSERT`` of rows into ``mensajes`` (``{values}``: one ``(?, ...)`` group per row) that
    #: skips rows whose id is stored already: a retried batch inserts nothing twice.
    insert_messages: ClassVar[str]
    #: Delete at most ``?`` (second argument) messages older than ``?`` (first argument).
    purge_messages: ClassVar[str]
    #: Delete at most ``?`` (second argument) recados older than ``?`` (first argument).
    purge_recados: ClassVar[str]
    #: Delete at most ``?`` (second argument) messages sent by the nick key ``?``.
    forget_messages: ClassVar[str]
    #: Insert a recado (id, sender, sender key, recipient key, text, time) unless its id is
    #: stored already or a limit is reached: the arguments end with the recipient key and the
    #: per-recipient limit, then sender key, recipient key and the per-pair limit.
    insert_recado: ClassVar[str]
    #: If set, a statement locking the recipient's recados and counting them (argument: the
    #: recipient key), run before the limits are counted and ``insert_recado`` (then a plain
    #: insert of the first six arguments) runs; if ``None``, ``insert_recado`` checks the
    #: limits itself, in one statement.
    lock_recipient: ClassVar[str | None] = None

    #: The condition "before the position (time, id)" of history pages, with the arguments
    #: of :meth:`before_args`: a range of the ``mensajes_sala`` index, never a scan of it.
    before_position: ClassVar[str] = "(sent_at < ? OR (sent_at = ? AND id < ?))"
    #: What follows ``FROM mensajes`` in the query of a page before a position (an index
    #: hint where the planner needs one to take the range of :attr:`before_position`).
    page_before_hint: ClassVar[str] = ""

    #: The condition "after the position (time, id)" (``CHATHISTORY AFTER``), with the same
    #: arguments as :attr:`before_position`.
    after_position: ClassVar[str] = "(sent_at > ? OR (sent_at = ? AND id > ?))"

    def before_args(self, time: int, message_id: str) -> tuple[Any, ...]:
        """The arguments of :attr:`before_position` (and of :attr:`after_position`)."""
        return (time, time, message_id)

    #: Whether :meth:`search_messages` matches whole words exactly; if not, it finds
    #: candidates (a superset) and the caller keeps those that hold every word.
    search_exact: ClassVar[bool] = True

    #: How many of a room's newest messages :meth:`search_recent` looks through, in turn,
    #: before :meth:`search_messages` (none: straight to it).
    search_windows: ClassVar[tuple[int, ...]] = ()

    #: Statements that add the rows waiting for the full-text index to it (run in a history
    #: write transaction); empty when the backend indexes every row as it is written.
    index_waiting: ClassVar[tuple[str, ...]] = ()
    #: SQL (argument: the room key) of the room's messages still waiting for the full-text
    #: index, newest first (columns as :meth:`search_messages`); ``None``: none ever wait.
    search_waiting: ClassVar[str | None] = None

    def search_recent(self, words: list[str]) -> tuple[str, list[Any]] | None:
        """SQL and arguments (after the room key and a window) of the matches among the room's
        newest messages, tried before :meth:`search_messages`; ``None``: go straight to it."""
        return None

    def search_messages(self, words: list[str], limit: int) -> tuple[str, list[Any]]:
        """SQL and arguments (after the room key) finding the latest ``limit`` messages of a
        room containing every one of ``words``, newest first, with this engine's full-text
        index. Columns: id, sent_at, nickname, text."""
        raise NotImplementedError


class SqliteEngine(Engine):
    """The embedded default: one connection (SQLite serialises writers anyway), WAL journal."""

    name = "sqlite"
    schema_file = "sqlite.sql"
    upsert_login = (
        "INSERT INTO clientes (nick_key, nickname, connected_at) VALUES (?, ?, ?) "
        "ON CONFLICT (nick_key) DO UPDATE SET "
        "nickname = CASE WHEN excluded.connected_at >= clientes.connected_at "
        "THEN excluded.nickname ELSE clientes.nickname END, "
        "connected_at = MAX(clientes.connected_at, excluded.connected_at)"
    )
    upsert_account = (
        "INSERT INTO cuentas (nick_key, nickname, password_hash, registered_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (nick_key) DO UPDATE SET "
        "password_hash = excluded.password_hash, updated_at = excluded.updated_at"
    )
    upsert_ban = (
        "INSERT INTO baneos (kind, target, reason, created_by, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, target) DO UPDATE SET "
        "reason = excluded.reason, created_by = excluded.created_by, "
        "created_at = excluded.created_at, expires_at = excluded.expires_at"
    )
    upsert_topic = (
        "INSERT INTO salas (room_key, name, topic, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (room_key) DO UPDATE SET name = excluded.name, topic = excluded.topic, "
        "set_by = excluded.set_by, set_at = excluded.set_at"
    )
    upsert_departure = (
        "INSERT INTO salidas (nick_key, left_at) VALUES (?, ?) "
        "ON CONFLICT (nick_key) DO UPDATE SET left_at = excluded.left_at"
    )

    insert_messages = (
        "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) VALUES {values} "
        "ON CONFLICT (id) DO NOTHING"
    )
    # SQLite is usually built without DELETE ... LIMIT: delete by rowid through a subquery.
    purge_messages = (
        "DELETE FROM mensajes WHERE n IN "
        "(SELECT n FROM mensajes WHERE sent_at < ? ORDER BY sent_at LIMIT ?)"
    )
    purge_recados = (
        "DELETE FROM recados WHERE n IN "
        "(SELECT n FROM recados WHERE sent_at < ? ORDER BY sent_at LIMIT ?)"
    )
    forget_messages = (
        "DELETE FROM mensajes WHERE n IN (SELECT n FROM mensajes WHERE nick_key = ? LIMIT ?)"
    )
    # One statement, so the limits and the insert are one atomic step.
    insert_recado = (
        "INSERT INTO recados (id, sender, sender_key, recipient_key, text, sent_at) "
        "SELECT ?, ?, ?, ?, ?, ? "
        "WHERE (SELECT COUNT(*) FROM recados WHERE recipient_key = ?) < ? "
        "AND (SELECT COUNT(*) FROM recados WHERE sender_key = ? AND recipient_key = ?) < ? "
        "ON CONFLICT (id) DO NOTHING"
    )

    def __init__(self, url: SqliteURL) -> None:
        self.url = url
        self.module = sqlite3

    # Rows wait in mensajes_sin_indice (the schema's insert trigger) until a write
    # transaction indexes them, many at a time (sql/sqlite.sql says why).
    index_waiting = (
        "INSERT INTO mensajes_fts (rowid, text) SELECT m.n, m.text FROM mensajes_sin_indice "
        "AS s JOIN mensajes AS m ON m.n = s.n ORDER BY s.n",
        "DELETE FROM mensajes_sin_indice",
    )
    search_waiting = (
        "SELECT m.id, m.sent_at, m.nickname, m.text FROM mensajes_sin_indice AS s "
        "JOIN mensajes AS m ON m.n = s.n WHERE m.room_key = ? ORDER BY s.n DESC"
    )

    # SQLite walks the index from the room's newest row with the OR form; a row value is a
    # range of the index.
    before_position = "(sent_at, id) < (?, ?)"
    after_position = "(sent_at, id) > (?, ?)"

    def before_args(self, time: int, message_id: str) -> tuple[Any, ...]:
        """The arguments of the row value: time, id."""
        return (time, message_id)

    #: The index holds the text as sent: a word right after an IRC colour code is indexed with
    #: the code's digits (``\x0304rojo`` is ``04rojo``), so each word is also looked for after
    #: one or two digits, and the caller keeps the candidates that hold every word as their
    #: readers see them (:func:`twisted_chat.formatting.plain_text`: ``/buscar action`` finds
    #: no action by its CTCP word).
    search_exact = False
    #: Candidates read per result wanted (a few of them may not hold the words once plain).
    search_candidates = 3
    #: What may come before a word in the index: nothing, or a colour code's one or two digits.
    _colour_digits: ClassVar[tuple[str, ...]] = (
        "",
        *(str(n) for n in range(10)),
        *(f"{n:02d}" for n in range(100)),
    )

    def search_messages(self, words: list[str], limit: int) -> tuple[str, list[Any]]:
        """FTS5: every word as a quoted phrase, or (``OR``) after a colour code's digits, all
        of them (``AND``); the unicode61 tokenizer with ``remove_diacritics`` folds case and
        accents on both sides. The digits cost about a millisecond per word (111 terms of the
        index each, most of them absent), in searches allowed one every few seconds.

        The unary ``+`` keeps SQLite from walking the room's rows by ``mensajes_sala`` (which
        gives the order for free) and probing the full-text index once per row: that plan reads
        the whole room for a word that is rare or in no message (25 s for an absent word in a
        room of 500,000 messages, holding the only connection). The matches come from the
        full-text index instead, newest row first (``rowid``: the row's number, in the order
        rows were written), so that a common word stops at the first ``limit`` matches of the
        room instead of sorting every match (406 ms -> 25 ms for "que" in 1,000,000 messages);
        the caller puts them in (time, id) order.
        """
        match = " AND ".join(
            "("
            + " OR ".join(
                f'"{digits}{word.replace(chr(34), chr(34) * 2)}"' for digits in self._colour_digits
            )
            + ")"
            for word in words
        )
        sql = (
            "SELECT m.id, m.sent_at, m.nickname, m.text FROM mensajes_fts "
            "JOIN mensajes AS m ON m.n = mensajes_fts.rowid "
            "WHERE +m.room_key = ? AND mensajes_fts MATCH ? "
            "ORDER BY mensajes_fts.rowid DESC LIMIT ?"
        )
        return sql, [match, limit * self.search_candidates]

    def pool_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """One shared connection usable from the pool's thread."""
        return (self.url.path,), {
            "check_same_thread": False,
            "timeout": 10.0,
            "cp_min": 1,
            "cp_max": 1,
            "cp_openfun": self._on_connect,
        }

    @staticmethod
    def _on_connect(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

    def misconfiguration(self, error: BaseException) -> str | None:
        """A file that cannot be opened or written, or is not a database."""
        if not isinstance(error, sqlite3.Error):
            return None
        reason = _SQLITE_MISCONFIGURED.get(getattr(error, "sqlite_errorcode", -1))
        if reason is None:
            return None
        return f"{self.url.describe()}: {reason} ({error})"


class MysqlEngine(Engine):
    """MySQL/MariaDB through mysqlclient (``MySQLdb``), utf8mb4 end to end, reconnecting pool."""

    name = "mysql"
    schema_file = "mysql.sql"
    # Assignments run left to right: nickname is decided against the old connected_at.
    upsert_login = (
        "INSERT INTO clientes (nick_key, nickname, connected_at) VALUES (?, ?, ?) "
        "ON DUPLICATE KEY UPDATE "
        "nickname = IF(VALUES(connected_at) >= connected_at, VALUES(nickname), nickname), "
        "connected_at = GREATEST(connected_at, VALUES(connected_at))"
    )
    upsert_account = (
        "INSERT INTO cuentas (nick_key, nickname, password_hash, registered_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
        "password_hash = VALUES(password_hash), updated_at = VALUES(updated_at)"
    )
    upsert_ban = (
        "INSERT INTO baneos (kind, target, reason, created_by, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
        "reason = VALUES(reason), created_by = VALUES(created_by), "
        "created_at = VALUES(created_at), expires_at = VALUES(expires_at)"
    )
    upsert_topic = (
        "INSERT INTO salas (room_key, name, topic, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
        "ON DUPLICATE KEY UPDATE name = VALUES(name), topic = VALUES(topic), "
        "set_by = VALUES(set_by), set_at = VALUES(set_at)"
    )
    upsert_departure = (
        "INSERT INTO salidas (nick_key, left_at) VALUES (?, ?) "
        "ON DUPLICATE KEY UPDATE left_at = VALUES(left_at)"
    )

    # Without the hint MariaDB 10.11 reads a page before a position by ``ref`` on the room
    # key alone: it walks the room's rows from the newest down to the position, filtering
    # them (350,000 rows and 0.2-1.5 s for a page 350,000 messages deep in a room of 500,000).
    # With it, the page is the range (room_key, sent_at, id) < position: the page's rows only.
    page_before_hint = " FORCE INDEX (mensajes_sala)"

    # Not INSERT IGNORE, which would also turn real errors (a value too long) into warnings.
    insert_messages = (
        "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) VALUES {values} "
        "ON DUPLICATE KEY UPDATE id = id"
    )
    purge_messages = "DELETE FROM mensajes WHERE sent_at < ? ORDER BY sent_at LIMIT ?"
    purge_recados = "DELETE FROM recados WHERE sent_at < ? ORDER BY sent_at LIMIT ?"
    forget_messages = "DELETE FROM mensajes WHERE nick_key = ? LIMIT ?"
    # InnoDB: the recipient's rows (and the gap after them) are locked first with
    # lock_recipient, the limits counted, then this plain insert runs. Two stores for one
    # recipient at once either wait for each other or deadlock (error 1213: one is rolled back
    # and run again by the recado store); neither passes a limit. (A single INSERT ... SELECT
    # counting its own table fails under concurrency on MariaDB with error 1467.)
    insert_recado = (
        "INSERT INTO recados (id, sender, sender_key, recipient_key, text, sent_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id"
    )
    lock_recipient = (
        "SELECT COUNT(*) FROM (SELECT n FROM recados WHERE recipient_key = ? FOR UPDATE) AS locked"
    )

    def __init__(self, url: MysqlURL) -> None:
        import MySQLdb  # imported here so SQLite users need no MySQL client library

        self.url = url
        self.module = MySQLdb

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.url.host,
            "port": self.url.port,
            "user": self.url.user,
            "password": self.url.password,
            "charset": "utf8mb4",
            "connect_timeout": 5,
            "read_timeout": 30,
            "write_timeout": 30,
        }

    def pool_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Keyword connection arguments plus a reconnecting pool of up to three connections."""
        kwargs = self._connect_kwargs()
        kwargs.update(
            database=self.url.database,
            cp_min=1,
            cp_max=3,
            cp_reconnect=True,
            cp_noisy=False,
            cp_openfun=self._on_connect,
        )
        return (), kwargs

    @staticmethod
    def _on_connect(conn: Any) -> None:
        cursor = conn.cursor()
        cursor.execute("SET time_zone = '+00:00'")
        cursor.close()

    def sql(self, statement: str) -> str:
        """MySQLdb uses ``%s`` placeholders."""
        return statement.replace("?", "%s")

    #: ``LIKE`` finds words inside words ("de" in "tarde"): candidates, checked by the caller.
    search_exact = False
    #: Candidates read per search, at most, for each result wanted.
    search_candidates = 50
    #: 2,000 newest messages take about 5 ms, 20,000 about 40 ms (1,000,000 in the table).
    search_windows = (2000, 20000)

    def search_recent(self, words: list[str]) -> tuple[str, list[Any]] | None:
        """SQL and arguments (after the room key and a window) of the messages among the
        room's newest (the window: one of :attr:`search_windows`) holding every word as a
        substring, newest first.

        A word found in many messages (``que`` in two of three) costs InnoDB FULLTEXT every
        one of its matches, sorted by time (5 s in 1,000,000 messages); the newest messages
        of the room hold the latest matches of such a word, found by a short range of
        ``mensajes_sala``. When they hold enough, the search is done; otherwise FULLTEXT
        finds the older ones (a rare word: fast there)."""
        conditions = []
        args: list[Any] = []
        for word in words:
            conditions.append("text LIKE %s")
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        sql = (
            "SELECT id, sent_at, nickname, text FROM (SELECT id, sent_at, nickname, text "
            "FROM mensajes FORCE INDEX (mensajes_sala) WHERE room_key = %s "
            "ORDER BY sent_at DESC, id DESC LIMIT %s) AS recent WHERE "
            + " AND ".join(conditions)
            + " ORDER BY sent_at DESC, id DESC"
        )
        return sql, args

    def search_messages(self, words: list[str], limit: int) -> tuple[str, list[Any]]:
        """InnoDB FULLTEXT in boolean mode for the words it indexes (at least
        ``innodb_ft_min_token_size``, 3 by default, and not stop words), and ``LIKE`` for every
        word, so short words and stop words narrow the candidates too (the caller keeps those
        holding every whole word). The column's ``utf8mb4_unicode_ci`` collation folds case
        and accents in both."""
        limit *= self.search_candidates
        indexed = [w for w in words if len(w) >= 3 and w.lower() not in _INNODB_STOPWORDS]
        conditions = ["room_key = %s"]
        args: list[Any] = []
        if indexed:
            conditions.append("MATCH (text) AGAINST (%s IN BOOLEAN MODE)")
            args.append(" ".join('+"' + w.replace('"', " ") + '"' for w in indexed))
        for word in words:
            conditions.append("text LIKE %s")
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        sql = (
            "SELECT id, sent_at, nickname, text FROM mensajes WHERE "
            + " AND ".join(conditions)
            + " ORDER BY sent_at DESC, id DESC LIMIT %s"
        )
        return sql, [*args, limit]

    def _error_code(self, error: BaseException) -> int | None:
        args = getattr(error, "args", ())
        return args[0] if args and isinstance(args[0], int) else None

    def is_connection_lost(self, error: BaseException) -> bool:
        """Errors 2006/2013: the server went away or the connection dropped mid-query."""
        return (
            isinstance(error, self.module.OperationalError)
            and self._error_code(error) in _MYSQL_CONNECTION_LOST
        )

    def is_conflict(self, error: BaseException) -> bool:
        """Errors 1213 (deadlock, rolled back) and 1205 (lock wait timeout)."""
        return isinstance(error, self.module.Error) and self._error_code(error) in (1205, 1213)

    def misconfiguration(self, error: BaseException) -> str | None:
        """Access denied, an unknown database that could not be created, and the like."""
        if not isinstance(error, self.module.Error):
            return None
        code = self._error_code(error)
        reason = _MYSQL_MISCONFIGURED.get(code) if code is not None else None
        if reason is None:
            return None
        args: tuple[Any, ...] = error.args
        detail = str(args[1]) if len(args) > 1 else str(error)
        return f"{self.url.describe()}: {reason} (MySQL error {code}: {detail})"

    def is_privilege_error(self, error: BaseException) -> bool:
        """Errors 1044 (database), 1142 (table) and 1227: the user lacks a privilege."""
        return isinstance(
            error, self.module.OperationalError | self.module.ProgrammingError
        ) and self._error_code(error) in (1044, 1142, 1227)

    def prepare(self) -> None:
        """Create the database if it does not exist yet.

        A user without the privilege is fine when the database exists already; if it does not,
        connecting to it fails next, and that error is the one reported.
        """
        conn = self.module.connect(**self._connect_kwargs())
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{self.url.database}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            except Exception as e:
                if not self.is_privilege_error(e):
                    raise
            cursor.close()
        finally:
            conn.close()


#: What a MySQL user without the driver is told to do (``--db`` usage error).
MYSQL_DRIVER_HINT = (
    "pip install 'twisted-chat[mysql]' (or '.[mysql]' in a checkout; it builds against "
    "default-libmysqlclient-dev and pkg-config)"
)


def mysql_driver_problem() -> str | None:
    """Why the MySQL driver (mysqlclient's ``MySQLdb``) cannot be imported, or ``None`` if it can.

    A real import, not just a lookup: an installed driver whose client library is missing fails
    here too.
    """
    try:
        import MySQLdb  # noqa: F401
    except ImportError as e:
        return str(e) or "MySQLdb cannot be imported"
    return None


def engine_for(url: DatabaseURL) -> Engine:
    """The engine that serves ``url``."""
    if isinstance(url, SqliteURL):
        return SqliteEngine(url)
    return MysqlEngine(url)
