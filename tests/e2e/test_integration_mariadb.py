"""The returning user of ``tests/inprocess/test_integration.py`` (the same scenario over real
loopback TCP, the server in process) with its logins stored on a real MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted

from tests.inprocess.test_integration import returning_user_scenario
from tests.support import mariadb
from tests.support.chatclient import start_server
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(60, method="thread")]


@pytest_twisted.ensureDeferred
async def test_returning_user_mysql(mysql_url: MysqlURL) -> None:
    async with await start_server(db=mariadb.mysql_option(mysql_url)) as server:

        def rows() -> list[tuple[str, str, datetime]]:
            conn = mariadb.connect(mysql_url, mysql_url.database)
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT nick_key, nickname, connected_at FROM clientes")
                found = cursor.fetchall()
            finally:
                conn.close()
            result = []
            for key, nick, when in found:
                assert isinstance(when, datetime), when
                result.append((key, nick, when.replace(tzinfo=UTC)))
            return result

        await returning_user_scenario(server, rows)
