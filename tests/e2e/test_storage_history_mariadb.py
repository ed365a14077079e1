"""The history and recado stores against a real MariaDB: every backend-neutral test of
``tests/inprocess/test_storage_history.py`` again (this level's ``db_url`` is a scratch MariaDB
database, ``tests/e2e/conftest.py``), then MariaDB's own cases.
"""

from __future__ import annotations

import json
import re

import pytest
import pytest_twisted

from tests.inprocess.test_storage import query
from tests.inprocess.test_storage_history import *  # noqa: F403  (collected again, on MariaDB)
from tests.inprocess.test_storage_history import T0, Stores, add_all, public
from tests.support import mariadb
from tests.support.waits import bounded, in_thread
from twisted_chat.storage.url import MysqlURL

pytestmark = pytest.mark.mysql


@pytest_twisted.ensureDeferred
async def test_mysql_tables_utf8mb4_with_fulltext(mysql_url: MysqlURL, stores: Stores) -> None:
    """``mensajes`` and ``recados`` are utf8mb4 InnoDB; ``mensajes.text`` has a FULLTEXT index."""
    _, _, database = stores
    await bounded(database.ensure_ready())
    (mensajes,) = await in_thread(lambda: query(mysql_url, "SHOW CREATE TABLE mensajes"))
    (recados,) = await in_thread(lambda: query(mysql_url, "SHOW CREATE TABLE recados"))
    for ddl in (mensajes[1], recados[1]):
        assert re.search(r"ENGINE=InnoDB", ddl), ddl
        assert re.search(r"DEFAULT CHARSET=utf8mb4\b", ddl), ddl
    assert re.search(r"FULLTEXT KEY `mensajes_texto` \(`text`\)", mensajes[1]), mensajes[1]
    assert re.search(r"KEY `mensajes_sala` \(`room_key`,`sent_at`,`id`\)", mensajes[1])
    assert re.search(r"KEY `recados_destino` \(`recipient_key`,`sent_at`\)", recados[1])


@pytest_twisted.ensureDeferred
async def test_mysql_search_short_words_and_stop_words_are_required(stores: Stores) -> None:
    """Words FULLTEXT does not index (shorter than 3 characters, stop words) still count."""
    history, _, _ = stores
    await add_all(
        history,
        [
            public(1, T0, text="el té de la tarde"),
            public(2, T0 + 1, text="la tarde sin nada"),
            public(3, T0 + 2, text="Té verde"),
        ],
    )

    async def ids(*words: str) -> list[str]:
        return [m.id for m in await bounded(history.search("general", list(words)))]

    assert await ids("te", "tarde") == ["m000001"]
    assert await ids("TE") == ["m000001", "m000003"]
    assert await ids("de") == ["m000001"]
    assert await ids("100%") == []


def _seed_room(url: MysqlURL, count: int) -> None:
    """``count`` messages of ``general``, one a millisecond, and as many of another room, in
    multi-row inserts (blocking)."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        for start in range(0, 2 * count, 1000):
            rows = [
                (f"s0x{n:x}", "general" if n % 2 else "otra", T0 + n // 2, "Ana", "ana", "hola")
                for n in range(start, min(2 * count, start + 1000))
            ]
            marks = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
            cursor.execute(
                "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) "
                f"VALUES {marks}",
                [v for row in rows for v in row],
            )
        conn.commit()
    finally:
        conn.close()


@pytest_twisted.ensureDeferred
async def test_mysql_page_before_is_a_range(mysql_url: MysqlURL, stores: Stores) -> None:
    """A page deep in a room reads the page's rows of ``mensajes_sala``, not every newer row
    of the room (MariaDB chose ``ref`` on the room key alone, without the index hint)."""
    history, _, database = stores
    await bounded(database.ensure_ready())
    await in_thread(lambda: _seed_room(mysql_url, 20_000), 120)
    await in_thread(lambda: query(mysql_url, "ANALYZE TABLE mensajes"))
    sql = history._page_before.replace("%s", "?")
    args = ("general", T0 + 5000, T0 + 5000, "s0x0", 51)
    ((plan,),) = await in_thread(lambda: query(mysql_url, "ANALYZE FORMAT=JSON " + sql, args))
    table = json.loads(plan)["query_block"]["nested_loop"][0]["table"]
    assert table["access_type"] == "range", table
    assert table["r_rows"] <= 52, table
