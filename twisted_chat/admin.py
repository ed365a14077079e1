"""``twisted-chat-admin``: what the chat stores about one user, for the operators' console.

``twisted-chat-admin --db URL export NICK`` writes everything stored from and to NICK as JSON
Lines on stdout (a data request); ``twisted-chat-admin --db URL erase NICK [--account]`` deletes
it and prints the counts (an erasure request). ``--db`` takes the server's syntax. Exit status 0
when done, 1 when the database fails, 2 on bad usage; an error is one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from twisted.internet import defer, task

from twisted_chat import nicknames
from twisted_chat.storage import (
    MYSQL_DRIVER_HINT,
    AccountStore,
    BadDatabaseURL,
    Database,
    DatabaseURL,
    HistoryStore,
    LoginStore,
    MysqlURL,
    RecadoStore,
    mysql_driver_problem,
    parse_db_url,
)
from twisted_chat.storage.departures import DepartureStore
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.url import SqliteURL

PROG = "twisted-chat-admin"
#: Exit statuses.
EXIT_OK, EXIT_DATABASE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class Request:
    """What the operator asked for: ``command`` ("export" or "erase") about ``nickname``."""

    url: DatabaseURL
    command: str
    nickname: str
    account: bool = False

    @property
    def nick_key(self) -> str:
        """The identity of the nickname in every table."""
        return nicknames.key(self.nickname)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised, not printed)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {PROG} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Export or erase what the chat stores about one nickname.",
        epilog="Exit status: 0 done, 1 database error, 2 usage error.",
    )
    parser.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="the server's database: sqlite:PATH or mysql://USER[:PASSWORD]@HOST[:PORT][/DB]",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser(
        "export", help="print everything stored from and to NICK as JSON Lines"
    )
    export.add_argument("nick", metavar="NICK")
    erase = commands.add_parser("erase", help="delete what NICK sent and what was sent to NICK")
    erase.add_argument("nick", metavar="NICK")
    erase.add_argument(
        "--account", action="store_true", help="also delete the registration (password hash)"
    )
    return parser


def parse_args(argv: Sequence[str]) -> Request:
    """The request of a command line; :class:`UsageError` if it is not one."""
    args = _parser().parse_args(argv)
    try:
        url = parse_db_url(args.db)
    except BadDatabaseURL as e:
        raise UsageError(f"bad --db: {e}") from None
    if isinstance(url, MysqlURL):
        problem = mysql_driver_problem()
        if problem is not None:
            raise UsageError(f"MySQL needs the mysqlclient driver ({problem}): {MYSQL_DRIVER_HINT}")
    nickname = nicknames.normalize(args.nick)
    if not nicknames.is_valid(nickname):
        raise UsageError(f"invalid nickname {args.nick!r}")
    return Request(url, args.command, nickname, getattr(args, "account", False))


@dataclass(frozen=True)
class Stores:
    """The stores of one database, opened as the server opens them."""

    database: Database
    history: HistoryStore
    recados: RecadoStore
    departures: DepartureStore
    logins: LoginStore
    accounts: AccountStore

    @classmethod
    def open(cls, url: DatabaseURL, reactor: Any) -> Stores:
        """The stores on a new connection pool for ``url`` (close it with :meth:`close`)."""
        database = Database(engine_for(url), reactor)
        return cls(
            database,
            HistoryStore(database, reactor),
            RecadoStore(database),
            DepartureStore(database),
            LoginStore(database, reactor),
            AccountStore(database),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.history.stop()
        self.logins.stop()
        self.database.close()


def iso(ms: int) -> str:
    """A time in ms since the epoch as the wire shows it: UTC, ISO 8601, seconds, ``Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_datetime(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def export_rows(stores: Stores, nick_key: str) -> list[dict[str, Any]]:
    """Everything stored from and to ``nick_key``, one dictionary per row (never a hash)."""
    rows: list[dict[str, Any]] = []
    login = await stores.logins.last_login(nick_key)
    if login is not None:
        rows.append({"type": "login", "nickname": login[0], "time": _iso_datetime(login[1])})
    account = await stores.accounts.registration(nick_key)
    if account is not None:
        rows.append(
            {
                "type": "account",
                "registered": True,
                "nickname": account[0],
                "since": _iso_datetime(account[1]),
            }
        )
    for message in await stores.history.export(nick_key):
        time = message.pop("time")
        rows.append({"type": "message", **message, "time": iso(time), "time_ms": time})
    for recado in await stores.recados.export(nick_key):
        rows.append(
            {
                "type": "recado",
                "direction": "from" if recado["sender_key"] == nick_key else "to",
                "id": recado["id"],
                "sender": recado["sender"],
                "recipient": recado["recipient_key"],
                "text": recado["text"],
                "time": iso(recado["time"]),
                "time_ms": recado["time"],
            }
        )
    left = await stores.departures.last_departure(nick_key)
    if left is not None:
        rows.append({"type": "departure", "time": iso(left), "time_ms": left})
    return rows


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


async def erase(stores: Stores, nick_key: str, account: bool) -> str:
    """Delete what ``nick_key`` sent, the recados to them, their login and departure rows
    (and with ``account`` their registration); the counts, as one line of text."""
    messages = await stores.history.forget(nick_key)
    recados = await stores.recados.erase(nick_key)
    logins = await stores.logins.forget(nick_key)
    departures = await stores.departures.forget(nick_key)
    if account:
        registration = "account erased" if await stores.accounts.delete(nick_key) else "no account"
    else:
        exists = await stores.accounts.registration(nick_key) is not None
        registration = "account kept" if exists else "no account"
    return ", ".join(
        [
            _count(messages, "message"),
            _count(recados["from"], "recado") + " from",
            _count(recados["to"], "recado") + " to",
            _count(logins, "login"),
            _count(departures, "departure"),
            registration,
        ]
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


async def run(reactor: Any, request: Request) -> int:
    """Carry out ``request`` on the reactor; the exit status."""
    url = request.url
    if isinstance(url, SqliteURL) and url.path != ":memory:" and not os.path.isfile(url.path):
        # Opening would create an empty database: a mistyped path would look like "no data".
        print(f"{PROG}: {url.describe()}: no such database file", file=sys.stderr)
        return EXIT_DATABASE
    stores = Stores.open(url, reactor)
    try:
        if request.command == "export":
            rows = await export_rows(stores, request.nick_key)
            for row in rows:
                print(json.dumps(row, ensure_ascii=False))
            if not rows:
                print(f"{PROG}: nothing stored for {request.nickname}", file=sys.stderr)
        else:
            counts = await erase(stores, request.nick_key, request.account)
            print(f"erased {request.nickname}: {counts}")
    except Exception as e:
        print(f"{PROG}: database error ({url.describe()}): {_one_line(e)}", file=sys.stderr)
        return EXIT_DATABASE
    finally:
        stores.close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: parse ``argv`` (default ``sys.argv[1:]``), run, the exit status."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")
    try:
        request = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    status = EXIT_DATABASE  # unless run() says otherwise

    async def react_main(reactor: Any) -> None:
        nonlocal status
        status = await run(reactor, request)

    with contextlib.suppress(SystemExit):  # react() always ends with sys.exit()
        task.react(lambda reactor: defer.ensureDeferred(react_main(reactor)))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
