"""IRC clients (``--irc``, issue 16) over real loopback sockets in one reactor, with line users.

The in-process server of :mod:`tests.support.chatclient`, built as ``twistd chat`` builds it,
with an ``--irc`` listener; IRC clients are :class:`~tests.support.ircclient.IrcClient`, line
users :class:`~tests.support.chatclient.ChatClient`. ``PING``/``PONG`` (IRC) and ``/username``
(v1) are the barriers that prove nothing else reached a client; no test sleeps.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.support.chatclient import ChatServer, start_server
from tests.support.expected import joined, left
from tests.support.ircclient import SERVER, connect_irc, irc_arguments, irc_user

pytestmark = pytest.mark.timeout(60, method="thread")


async def irc_server(*extra: str) -> ChatServer:
    """An in-process server with an ``--irc`` listener."""
    return await start_server(*irc_arguments(), *extra)


@pytest_twisted.ensureDeferred
async def test_registration_without_cap() -> None:
    async with await irc_server() as server:
        line_user = await server.login("lina")
        ana = await connect_irc(server, "ana")
        ana.say("NICK ana")
        ana.say("USER ana 0 * :Ana")
        lines = await ana.until(rf":{SERVER} 366 ana #general :.*")
        print(lines)
        assert await line_user.line() == joined("ana")
