"""The history and recado stores against a real database: the backend-neutral tests.

Here ``db_url`` (``tests/inprocess/conftest.py``) is an SQLite file;
``tests/e2e/test_storage_history_mariadb.py`` collects every test of this module again against a
real MariaDB. Through pytest-twisted with the real reactor; every wait is bounded. What the
stores wrote is read back with a plain connection, so the tests check the tables themselves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from tests.inprocess.test_storage import query
from tests.support.waits import bounded, in_thread
from twisted_chat.events import Public
from twisted_chat.history import BadCursor, make_cursor, parse_cursor
from twisted_chat.recados import MAX_PER_RECIPIENT, MAX_PER_SENDER, Stored
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for, schema_statements
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.recados import RecadoStore
from twisted_chat.storage.url import DatabaseURL

#: 2026-11-24 08:30:00 UTC in ms.
T0 = 1_795_509_000_000


def public(n: int, time: int, room: str = "general", sender: str = "Ana", text: str = "") -> Public:
    """A public message numbered ``n``."""
    return Public(f"m{n:06d}", time, room, sender, text or f"mensaje {n}")


async def count(url: DatabaseURL, sql: str, args: tuple[Any, ...] = ()) -> int:
    """The single number ``sql`` selects."""
    rows = await in_thread(lambda: query(url, sql, args))
    return int(rows[0][0])


class CountingDatabase(Database):
    """A database that counts the transactions run through it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions: list[str] = []

    def run_interaction(self, description: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Count, then run as usual."""
        self.transactions.append(description)
        return super().run_interaction(description, func, *args, **kwargs)


Stores = tuple[HistoryStore, RecadoStore, CountingDatabase]


@pytest.fixture
def open_stores(db_url: DatabaseURL) -> Iterator[Callable[..., Stores]]:
    """Opens history and recado stores on their own pool; all closed after the test."""
    opened: list[Stores] = []

    def open_(days: int = 30, queue_limit: int = 100_000) -> Stores:
        database = CountingDatabase(engine_for(db_url), reactor)
        stores = (
            HistoryStore(database, reactor, days=days, queue_limit=queue_limit),
            RecadoStore(database),
            database,
        )
        opened.append(stores)
        return stores

    yield open_
    for history, _, database in opened:
        history.stop()
        database.close()


@pytest.fixture
def stores(open_stores: Callable[..., Stores]) -> Stores:
    """History and recado stores on ``db_url``."""
    return open_stores()


async def add_all(history: HistoryStore, events: list[Public]) -> None:
    """Add ``events`` in one reactor turn and wait until all are written."""
    results = await bounded(defer.gatherResults([history.add(e) for e in events]), 60)
    assert all(results)


# -- schema ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_schema_applies_on_existing_database_of_current_schema(
    db_url: DatabaseURL, stores: Stores
) -> None:
    """A database made by the previous schema (the four old tables, with a row) gets the new
    tables and keeps its rows; applying the schema again is harmless."""
    history, _, database = stores
    old = [s for s in schema_statements(database.engine.schema_file)][:4]
    assert all(
        s.split("(")[0].split()[-1] in {"clientes", "cuentas", "baneos", "salas"} for s in old
    )

    def create_old(txn: Any) -> None:
        for statement in old:
            txn.execute(statement)
        txn.execute(
            database.engine.sql(
                "INSERT INTO clientes (nick_key, nickname, connected_at) VALUES (?, ?, ?)"
            ),
            ("ana", "Ana", "2026-11-24 08:30:00"),
        )

    await in_thread(database.engine.prepare)  # MySQL: create the (empty) database
    await bounded(database.run_interaction("old schema", create_old))
    await bounded(database.ensure_ready())
    await bounded(database.apply_schema())
    assert await count(db_url, "SELECT COUNT(*) FROM clientes") == 1
    await add_all(history, [public(1, T0, text="Café con leche")])
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 1
    assert await count(db_url, "SELECT COUNT(*) FROM recados") == 0
    assert [m.id for m in await bounded(history.search("general", ["cafe"]))] == ["m000001"]


# -- writing ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_adds_of_one_turn_are_one_transaction(db_url: DatabaseURL, stores: Stores) -> None:
    """1,000 messages added in one reactor turn are written by one transaction."""
    history, _, database = stores
    await bounded(database.ensure_ready())
    database.transactions.clear()
    await add_all(history, [public(n, T0 + n) for n in range(1000)])
    assert database.transactions == ["store history"]
    assert history.batches_written == 1
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 1000
    rows = await in_thread(
        lambda: query(
            db_url,
            "SELECT id, room_key, sent_at, nickname, nick_key, text FROM mensajes WHERE id = ?",
            ("m000007",),
        )
    )
    assert [tuple(r) for r in rows] == [("m000007", "general", T0 + 7, "Ana", "ana", "mensaje 7")]


@pytest_twisted.ensureDeferred
async def test_insert_is_idempotent_on_the_id(db_url: DatabaseURL, stores: Stores) -> None:
    """The same id added twice in a turn, again later, and a whole batch retried: one row
    each, and one entry each in the full-text index."""
    history, _, database = stores
    events = [public(n, T0 + n, text=f"palabra{n} única") for n in range(50)]
    await add_all(history, [*events, events[3]])
    await add_all(history, events[:10])
    rows = [(e.id, e.room, e.time, e.sender, "ana", e.text) for e in events]
    await bounded(database.run_interaction("retry", history._write_batch, rows))
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 50
    assert await count(db_url, "SELECT COUNT(DISTINCT id) FROM mensajes") == 50
    found = await bounded(history.search("general", ["palabra3"]))
    assert [m.id for m in found] == ["m000003"]
    assert len(await bounded(history.search("general", ["unica"]))) == 20


@pytest_twisted.ensureDeferred
async def test_history_off_stores_nothing(db_url: DatabaseURL, open_stores: Any) -> None:
    """``--history-days 0``: add answers False and writes nothing."""
    history, _, database = open_stores(days=0)
    assert not history.enabled
    assert await bounded(history.add(public(1, T0))) is False
    await bounded(database.ensure_ready())
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 0


# -- reading ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_paging_is_exact_through_messages_sharing_a_millisecond(
    db_url: DatabaseURL, stores: Stores
) -> None:
    """1,200 messages, a hundred of them in each millisecond, ids in no particular order: paging
    back by the cursor gives every message exactly once, in (time, id) order."""
    history, _, _ = stores
    rng = random.Random(7)
    numbers = list(range(1200))
    rng.shuffle(numbers)
    events = [public(n, T0 + (i // 100) * 1000) for i, n in enumerate(numbers)]
    other = [public(5000 + n, T0 + n, room="juegos") for n in range(30)]
    await add_all(history, events + other)
    expected = sorted((e.time, e.id) for e in events)
    for size in (500, 7, 100):
        seen: list[tuple[int, str]] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await bounded(history.page("general", size, cursor))
            pages += 1
            assert len(page.messages) <= size
            seen[:0] = [(m.time, m.id) for m in page.messages]
            cursor = page.before
            if cursor is None:
                break
        assert seen == expected, size
        assert pages == -(-1200 // size)
    last = await bounded(history.page("general", 3))
    assert [m.id for m in last.messages] == [i for _, i in expected[-3:]]
    assert last.messages[0].sender == "Ana"


@pytest_twisted.ensureDeferred
async def test_ranges_and_find(stores: Stores) -> None:
    """``between`` (IRC's ``CHATHISTORY``): the messages strictly between two positions, the
    oldest or the newest of them, exact through messages sharing a millisecond; ``find`` by id,
    in its own room only."""
    history, _, _ = stores
    rng = random.Random(3)
    numbers = list(range(60))
    rng.shuffle(numbers)
    events = [public(n, T0 + (i // 10) * 1000) for i, n in enumerate(numbers)]
    other = [public(500 + n, T0 + n, room="juegos") for n in range(5)]
    await add_all(history, events + other)
    order = sorted((e.time, e.id) for e in events)

    async def between(*args: Any) -> list[tuple[int, str]]:
        found = await bounded(history.between("general", *args))
        return [(m.time, m.id) for m in found]

    assert await between(None, None, 7, True) == order[-7:]
    assert await between(None, None, 7, False) == order[:7]
    lower, upper = order[12], order[40]
    assert await between(lower, upper, 100, False) == order[13:40]
    assert await between(lower, upper, 5, False) == order[13:18]
    assert await between(lower, upper, 5, True) == order[35:40]
    assert await between(lower, None, 5, False) == order[13:18]
    assert await between(None, upper, 5, True) == order[35:40]
    # a timestamp's bounds take or leave its whole millisecond
    assert await between((T0 + 2000, ""), (T0 + 3000, "\x7f"), 100, False) == order[20:40]
    assert await between((T0 + 2000, "\x7f"), None, 100, False) == order[30:]
    found = await bounded(history.find("general", order[5][1]))
    assert found is not None
    assert (found.time, found.id, found.sender) == (*order[5], "Ana")
    assert await bounded(history.find("juegos", order[5][1])) is None
    assert await bounded(history.find("general", "nada")) is None


def test_cursor_is_opaque_and_checked() -> None:
    """A cursor round-trips; anything else is a :class:`BadCursor`."""
    cursor = make_cursor(T0, "abc0x1f")
    assert parse_cursor(cursor) == (T0, "abc0x1f")
    assert ":" not in cursor
    for bad in ("", "!!!", "bm9wZQ", make_cursor(T0, "")):
        with pytest.raises(BadCursor):
            parse_cursor(bad)


@pytest_twisted.ensureDeferred
async def test_search_every_word_case_and_accent_insensitive(stores: Stores) -> None:
    """Every word is required; case and accents do not matter; only the room asked; the latest
    twenty, oldest first."""
    history, _, _ = stores
    texts = [
        "Café con LECHE para Ana",
        "el cafe solo, por favor",
        "CAFÉ y más café",
        "leche sin café? no",
        "nada que ver",
        "La canción del verano",
    ]
    events = [public(n, T0 + n, text=t) for n, t in enumerate(texts)]
    await add_all(history, [*events, public(99, T0, room="juegos", text="café con leche")])

    async def ids(*words: str) -> list[str]:
        return [m.id for m in await bounded(history.search("general", list(words)))]

    assert await ids("cafe", "leche") == ["m000000", "m000003"]
    assert await ids("CAFÉ") == ["m000000", "m000001", "m000002", "m000003"]
    assert await ids("cancion", "verano") == ["m000005"]
    assert await ids("cafe", "verano") == []
    assert await ids() == []
    assert await ids("!!", "  ") == []
    assert await ids('"café"', "leche*") == ["m000000", "m000003"]  # no query syntax
    assert await ids("con", "NEAR", "leche") == []
    assert await ids("-leche", "OR") == []
    many = [public(100 + n, T0 + 100 + n, text=f"repetido {n}") for n in range(30)]
    await add_all(history, many)
    found = await bounded(history.search("general", ["Repetido"]))
    assert [m.id for m in found] == [e.id for e in many[-20:]]


@pytest_twisted.ensureDeferred
async def test_search_reads_the_words_without_irc_codes(stores: Stores) -> None:
    """Stored as sent, found by the words its readers read: a word right after a colour code
    (which the full-text index may hold with the code's digits), in bold, in an action; an
    action's ``ACTION`` is no word of it."""
    history, _, _ = stores
    texts = [
        "\x0304rojo\x03 y \x0312,01verde\x03 \x02claro\x02",
        "\x01ACTION baila salsa\x01",
        "rojo04 no es rojo solo",
        "una action figure",
    ]
    await add_all(history, [public(n, T0 + n, text=t) for n, t in enumerate(texts)])

    async def ids(*words: str) -> list[str]:
        return [m.id for m in await bounded(history.search("general", list(words)))]

    assert await ids("rojo") == ["m000000", "m000002"]
    assert await ids("verde", "claro") == ["m000000"]
    assert await ids("baila") == ["m000001"]
    assert await ids("action") == ["m000003"]
    found = await bounded(history.search("general", ["salsa"]))
    assert [m.text for m in found] == ["\x01ACTION baila salsa\x01"]  # as sent


# -- deleting --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_purge_deletes_in_chunks(db_url: DatabaseURL, stores: Stores) -> None:
    """5,000 old messages go in chunks of 700, one transaction each; the newer stay, and the
    full-text index forgets the purged ones."""
    history, _, database = stores
    old = [public(n, T0 + n, text=f"viejo {n}") for n in range(5000)]
    new = [public(9000 + n, T0 + 10_000 + n, text=f"nuevo {n}") for n in range(10)]
    await add_all(history, old + new)
    database.transactions.clear()
    assert await bounded(history.purge(T0 + 10_000, chunk=700), 60) == 5000
    assert database.transactions == ["purge history"] * 8
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 10
    assert await bounded(history.search("general", ["viejo"])) == []
    assert len(await bounded(history.search("general", ["nuevo"]))) == 10
    assert await bounded(history.purge_expired(T0 + 10_000 + 30 * 86_400_000 + 5)) == 5


@pytest_twisted.ensureDeferred
async def test_forget_and_export_messages(db_url: DatabaseURL, stores: Stores) -> None:
    """``forget`` deletes every message of a nickname (in any case) and says how many."""
    history, _, _ = stores
    await add_all(
        history,
        [public(n, T0 + n, sender="Ana" if n % 3 else "Bea") for n in range(30)],
    )
    exported = await bounded(history.export("ana"))
    assert len(exported) == 20
    assert exported[0] == {
        "id": "m000001",
        "time": T0 + 1,
        "room": "general",
        "sender": "Ana",
        "text": "mensaje 1",
    }
    assert await bounded(history.forget("ana", chunk=6)) == 20
    assert await bounded(history.forget("ana")) == 0
    assert await count(db_url, "SELECT COUNT(*) FROM mensajes") == 10


# -- recados ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_recado_limits(db_url: DatabaseURL, stores: Stores) -> None:
    """Ten from one sender to one recipient, a hundred per recipient; the same id twice is
    stored once."""
    _, recados, _ = stores
    for n in range(MAX_PER_SENDER):
        assert await bounded(recados.store(f"r-a{n}", "Ana", "luis", f"hola {n}", T0 + n)) == (
            Stored.STORED
        )
    assert await bounded(recados.store("r-a-extra", "ANA", "luis", "otro", T0)) == (
        Stored.SENDER_LIMIT
    )
    assert await bounded(recados.store("r-a0", "Ana", "luis", "hola 0", T0)) == Stored.STORED
    assert await bounded(recados.store("r-a-bea", "Ana", "bea", "hola", T0)) == Stored.STORED
    for s in range(1, MAX_PER_RECIPIENT // MAX_PER_SENDER):
        for n in range(MAX_PER_SENDER):
            result = await bounded(recados.store(f"r{s}-{n}", f"Nick{s}", "luis", "x", T0 + n))
            assert result == Stored.STORED
    assert await bounded(recados.store("r-over", "Zoe", "luis", "x", T0)) == (
        Stored.RECIPIENT_LIMIT
    )
    assert await count(db_url, "SELECT COUNT(*) FROM recados WHERE recipient_key = 'luis'") == 100
    pending = await bounded(recados.pending("luis"))
    assert len(pending) == 100
    assert (pending[0].sender, pending[0].text, pending[0].time) == ("Ana", "hola 0", T0)


@pytest_twisted.ensureDeferred
async def test_take_is_exactly_once_between_two_nodes(
    db_url: DatabaseURL, open_stores: Any
) -> None:
    """Two stores on two pools (two nodes) claim the same recados at once: each recado is
    taken by exactly one of them."""
    _, first, _ = open_stores()
    _, second, _ = open_stores()
    for n in range(40):
        await bounded(first.store(f"r{n}", "Ana", "luis", f"hola {n}", T0 + n))
    pending = await bounded(second.pending("luis"))
    claims = [store.take(r.id) for r in pending for store in (first, second)]
    results = await bounded(defer.gatherResults(claims), 30)
    pairs = list(zip(results[::2], results[1::2], strict=True))
    assert all(sorted(pair) == [False, True] for pair in pairs), pairs
    assert await count(db_url, "SELECT COUNT(*) FROM recados") == 0
    assert await bounded(first.take("r0")) is False


@pytest_twisted.ensureDeferred
async def test_concurrent_stores_never_pass_the_recipient_limit(
    db_url: DatabaseURL, open_stores: Any
) -> None:
    """Three nodes storing 150 recados for one recipient at once store exactly 100."""
    nodes = [open_stores()[1] for _ in range(3)]
    for node in nodes:  # one at a time: SQLite's WAL pragma is refused while another opens
        await bounded(node.database.ensure_ready())
    calls = [
        nodes[n % 3].store(f"r{n}", f"Nick{n // 10}", "luis", "hola", T0 + n) for n in range(150)
    ]
    results = await bounded(defer.gatherResults(calls), 60)
    assert results.count(Stored.STORED) == MAX_PER_RECIPIENT
    assert results.count(Stored.RECIPIENT_LIMIT) == 150 - MAX_PER_RECIPIENT
    assert await count(db_url, "SELECT COUNT(*) FROM recados") == MAX_PER_RECIPIENT


@pytest_twisted.ensureDeferred
async def test_recado_forget_export_erase_purge(db_url: DatabaseURL, stores: Stores) -> None:
    """``forget_sender``, ``export`` and ``erase`` count what they touch; ``purge`` by age."""
    _, recados, _ = stores
    await bounded(recados.store("r1", "Ana", "luis", "a luis", T0))
    await bounded(recados.store("r2", "Ana", "bea", "a bea", T0 + 1))
    await bounded(recados.store("r3", "Luis", "ana", "a ana", T0 + 2))
    await bounded(recados.store("r4", "Bea", "luis", "de bea", T0 + 3))
    exported = await bounded(recados.export("ana"))
    assert [r["id"] for r in exported] == ["r1", "r2", "r3"]
    assert exported[2]["recipient_key"] == "ana"
    assert await bounded(recados.erase("ana")) == {"from": 2, "to": 1}
    assert await bounded(recados.forget_sender("bea")) == 1
    assert await count(db_url, "SELECT COUNT(*) FROM recados") == 0
    await bounded(recados.store("r5", "Ana", "luis", "viejo", T0))
    await bounded(recados.store("r6", "Ana", "luis", "nuevo", T0 + 86_400_000))
    assert await bounded(recados.purge(T0 + 1, chunk=1)) == 1
    assert [r.id for r in await bounded(recados.pending("luis"))] == ["r6"]
