"""``twisted-chat-admin``, the real console script as a subprocess, on SQLite and on MariaDB.

The database is seeded through the stores the server uses (messages from Ana and bob, recados
from and to Ana and between others, logins, departures, accounts); ``export ana`` must give
Ana's rows and nothing else (never a password hash), and ``erase ana`` must delete exactly them,
counted with plain SQL before and after. Bad usage and an unreachable database give one line on
stderr and exit 2 or 1, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from tests.inprocess.test_storage import query
from tests.support import mariadb
from tests.support.processes import free_port
from tests.support.waits import bounded, in_thread
from twisted_chat.events import Public
from twisted_chat.storage import (
    AccountStore,
    Database,
    DatabaseURL,
    HistoryStore,
    LoginStore,
    RecadoStore,
    Stored,
)
from twisted_chat.storage.departures import DepartureStore
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.url import MysqlURL, SqliteURL

#: The console script of this virtualenv (``pip install -e .`` makes it).
SCRIPT = Path(sys.executable).parent / "twisted-chat-admin"
#: 2026-11-24 08:30:00 UTC in ms.
T0 = 1_795_509_000_000
#: A hash-shaped secret: it must never appear in an export.
ANA_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0LWFuYQ$NEVER-PRINT-THIS-HASH"
BOB_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0LWJvYg$NOR-THIS-ONE"


@pytest.fixture(
    params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mysql)],
)
def admin_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseURL]:
    """An empty database: an SQLite file, or a scratch MariaDB database (dropped after)."""
    if request.param == "sqlite":
        yield SqliteURL(str(tmp_path / "chat.sqlite3"))
    else:
        yield request.getfixturevalue("mysql_url")


def db_option(url: DatabaseURL) -> str:
    """The ``--db`` value of ``url``."""
    if isinstance(url, SqliteURL):
        return f"sqlite:{url.path}"
    assert isinstance(url, MysqlURL)
    return mariadb.mysql_option(url)


def admin(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the console script (or ``python -m twisted_chat.admin``) with ``args`` (bounded)."""
    if module:
        command = [sys.executable, "-m", "twisted_chat.admin", *args]
    else:
        assert SCRIPT.exists(), f"{SCRIPT} is missing: pip install -e . installs it"
        command = [str(SCRIPT), *args]
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", timeout=60, check=False
    )


async def run_admin(*args: str) -> subprocess.CompletedProcess[str]:
    """:func:`admin` in a thread, the reactor running meanwhile."""
    return await in_thread(lambda: admin(*args), 90)


def count(url: DatabaseURL, sql: str, *args: Any) -> int:
    """The number ``sql`` selects (a plain connection, blocking)."""
    return int(query(url, sql, args)[0][0])


async def seed(url: DatabaseURL) -> None:
    """Store, through the server's stores, what the tests export and erase."""
    database = Database(engine_for(url), reactor)
    history = HistoryStore(database, reactor)
    logins = LoginStore(database, reactor)
    try:
        await bounded(database.ensure_ready(), 30)
        messages = [
            Public("m1", T0, "general", "Ana", "hola a todos"),
            Public("m2", T0 + 1000, "general", "bob", "hola Ana"),
            Public("m3", T0 + 2000, "juegos", "Ana", "¡Olé, ñandú! 🎲"),
            Public("m4", T0 + 3000, "general", "bob", "adiós"),
            Public("m5", T0 + 4000, "general", "ANA", "otra vez"),
        ]
        written = await bounded(defer.gatherResults([history.add(m) for m in messages]))
        assert all(written)
        recados = RecadoStore(database)
        for args in [
            ("r1", "Ana", "bob", "para bob", T0 + 5000),
            ("r2", "bob", "ana", "para Ana", T0 + 6000),
            ("r3", "carla", "ana", "de carla", T0 + 7000),
            ("r4", "bob", "carla", "no es de Ana", T0 + 8000),
        ]:
            assert await bounded(recados.store(*args)) is Stored.STORED
        when = datetime.fromtimestamp(T0 / 1000, UTC)
        await bounded(defer.gatherResults([logins.record_login(n, when) for n in ("Ana", "bob")]))
        departures = DepartureStore(database)
        await bounded(departures.record_departure("ana", T0 + 9000))
        await bounded(departures.record_departure("bob", T0 + 9000))
        accounts = AccountStore(database)
        await bounded(accounts.save_account("Ana", ANA_HASH, when))
        await bounded(accounts.save_account("bob", BOB_HASH, when))
    finally:
        history.stop()
        logins.stop()
        database.close()


#: What each table holds of whom: (label, SQL counting it).
COUNTS = {
    "ana messages": "SELECT COUNT(*) FROM mensajes WHERE nick_key = 'ana'",
    "bob messages": "SELECT COUNT(*) FROM mensajes WHERE nick_key = 'bob'",
    "ana recados": "SELECT COUNT(*) FROM recados WHERE sender_key = 'ana' OR recipient_key = 'ana'",
    "other recados": "SELECT COUNT(*) FROM recados WHERE 'ana' NOT IN (sender_key, recipient_key)",
    "ana login": "SELECT COUNT(*) FROM clientes WHERE nick_key = 'ana'",
    "bob login": "SELECT COUNT(*) FROM clientes WHERE nick_key = 'bob'",
    "ana departure": "SELECT COUNT(*) FROM salidas WHERE nick_key = 'ana'",
    "bob departure": "SELECT COUNT(*) FROM salidas WHERE nick_key = 'bob'",
    "ana account": "SELECT COUNT(*) FROM cuentas WHERE nick_key = 'ana'",
    "bob account": "SELECT COUNT(*) FROM cuentas WHERE nick_key = 'bob'",
}


async def counts(url: DatabaseURL) -> dict[str, int]:
    """Every count of :data:`COUNTS`."""
    return await in_thread(lambda: {k: count(url, sql) for k, sql in COUNTS.items()})


@pytest.mark.timeout(180)
@pytest_twisted.ensureDeferred
async def test_export_then_erase(admin_db: DatabaseURL) -> None:
    """``export`` gives Ana's rows alone as JSON Lines; ``erase`` deletes exactly them (the
    account only with ``--account``); afterwards ``export`` finds nothing."""
    await seed(admin_db)
    db = db_option(admin_db)

    exported = await run_admin("--db", db, "export", "ana")
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == ""
    assert "argon2" not in exported.stdout and "HASH" not in exported.stdout
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [row["type"] for row in rows] == [
        "login",
        "account",
        *["message"] * 3,
        *["recado"] * 3,
        "departure",
    ]
    login, account, *rest = rows
    assert login == {"type": "login", "nickname": "Ana", "time": "2026-11-24T08:30:00Z"}
    assert account == {
        "type": "account",
        "registered": True,
        "nickname": "Ana",
        "since": "2026-11-24T08:30:00Z",
    }
    messages, recados, departure = rest[:3], rest[3:6], rest[6]
    assert messages[1] == {
        "type": "message",
        "id": "m3",
        "room": "juegos",
        "sender": "Ana",
        "text": "¡Olé, ñandú! 🎲",
        "time": "2026-11-24T08:30:02Z",
        "time_ms": T0 + 2000,
    }
    assert [(m["id"], m["sender"]) for m in messages] == [
        ("m1", "Ana"),
        ("m3", "Ana"),
        ("m5", "ANA"),
    ]
    assert [(r["direction"], r["id"], r["sender"], r["recipient"]) for r in recados] == [
        ("from", "r1", "Ana", "bob"),
        ("to", "r2", "bob", "ana"),
        ("to", "r3", "carla", "ana"),
    ]
    assert recados[0]["text"] == "para bob" and recados[0]["time_ms"] == T0 + 5000
    assert departure == {"type": "departure", "time": "2026-11-24T08:30:09Z", "time_ms": T0 + 9000}
    # UTF-8 on the wire, not \u escapes.
    assert "¡Olé, ñandú! 🎲" in exported.stdout

    before = await counts(admin_db)
    assert before == {
        "ana messages": 3,
        "bob messages": 2,
        "ana recados": 3,
        "other recados": 1,
        "ana login": 1,
        "bob login": 1,
        "ana departure": 1,
        "bob departure": 1,
        "ana account": 1,
        "bob account": 1,
    }

    erased = await run_admin("--db", db, "erase", "ANA")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout == (
        "erased ANA: 3 messages, 1 recado from, 2 recados to, 1 login, 1 departure, account kept\n"
    )
    after = await counts(admin_db)
    gone = ["ana messages", "ana recados", "ana login", "ana departure"]
    assert after == {**before, **dict.fromkeys(gone, 0)}

    erased = await run_admin("--db", db, "erase", "ana", "--account")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout == (
        "erased ana: 0 messages, 0 recados from, 0 recados to, 0 logins, 0 departures, "
        "account erased\n"
    )
    assert await counts(admin_db) == {**after, "ana account": 0}

    exported = await run_admin("--db", db, "export", "ana")
    assert (exported.returncode, exported.stdout) == (0, "")
    assert exported.stderr == "twisted-chat-admin: nothing stored for ana\n"
    if isinstance(admin_db, SqliteURL):  # the full-text index lost Ana's words too
        matches = await in_thread(
            lambda: count(admin_db, "SELECT COUNT(*) FROM mensajes_fts WHERE text MATCH 'olé'")
        )
        assert matches == 0


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    """``done`` failed with ``status`` and one stderr line holding ``text``, nothing on stdout."""
    assert done.returncode == status, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("twisted-chat-admin: "), done.stderr
    assert text in lines[0], lines[0]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """A bad URL, an invalid nickname, a missing or unknown argument: status 2, one line."""
    db = f"sqlite:{tmp_path / 'chat.sqlite3'}"
    assert_one_line_error(admin("--db", "postgres://x", "export", "ana"), 2, "bad --db")
    assert_one_line_error(admin("--db", "mysql://@host/db", "export", "ana"), 2, "needs a user")
    assert_one_line_error(admin("--db", db, "export", "a b"), 2, "invalid nickname 'a b'")
    assert_one_line_error(admin("--db", db, "erase", "9lives"), 2, "invalid nickname")
    assert_one_line_error(admin("export", "ana"), 2, "--db")
    assert_one_line_error(admin("--db", db, "purge", "ana"), 2, "invalid choice")
    assert_one_line_error(admin("--db", db, "export", "ana", "--account"), 2, "--account")
    assert_one_line_error(admin("--db", db, "export", "a b", module=True), 2, "invalid nickname")
    assert not (tmp_path / "chat.sqlite3").exists()


def test_database_errors_exit_1(tmp_path: Path) -> None:
    """A missing SQLite file (not created empty) and a MariaDB nobody answers at: status 1,
    one line."""
    missing = tmp_path / "nope.sqlite3"
    assert_one_line_error(admin("--db", f"sqlite:{missing}", "export", "ana"), 1, "no such")
    assert not missing.exists()
    pytest.importorskip("MySQLdb")
    nobody = f"mysql://root@127.0.0.1:{free_port()}/redes"
    for command in ("export", "erase"):
        done = admin("--db", nobody, command, "ana")
        assert_one_line_error(done, 1, "database error (mysql://root@127.0.0.1:")


def test_help_of_script_and_module() -> None:
    """``--help`` works, from the console script and from ``python -m twisted_chat.admin``."""
    for done in (admin("--help"), admin("--help", module=True), admin("erase", "--help")):
        assert done.returncode == 0, done.stderr
        assert "usage: twisted-chat-admin" in done.stdout
    assert "--account" in admin("erase", "--help").stdout
