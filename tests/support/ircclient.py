"""An IRC client for the in-process tests of ``--irc`` (real sockets, one reactor).

:class:`IrcClient` is the line-collecting :class:`~tests.support.chatclient.ChatClient` (every
wait bounded) with IRC's conversations: registration (with or without ``CAP``, SASL PLAIN or
``PASS``), and ``PING``/``PONG`` as the barrier that proves every earlier line was processed.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from twisted.internet import endpoints

from tests.support.chatclient import ChatClient, ChatServer
from tests.support.waits import get_reactor, wait
from twisted_chat.irc.protocol import IrcFactory

#: The server name of the test servers (``--server-name``).
SERVER = "irc.test"
#: The visit line that ends the lines of a login (a ``NOTICE`` of the server).
VISIT = re.compile(
    rf":{re.escape(SERVER)} NOTICE \S+ :(Es tu primera conexión\.|Tu última conexión fue el .*)"
)


def irc_arguments() -> list[str]:
    """The ``twistd chat`` options of an IRC listener on an ephemeral loopback port."""
    return ["--irc", "tcp:0:interface=127.0.0.1", "--server-name", SERVER]


def irc_port(server: ChatServer) -> int:
    """The port of ``server``'s ``--irc`` listener."""
    for listener in server.service.listeners():
        if isinstance(listener.factory, IrcFactory):
            assert listener.port is not None
            address: Any = listener.port.getHost()
            return int(address.port)
    raise AssertionError("the server has no --irc listener")


class IrcClient(ChatClient):
    """A raw IRC client: lines out, lines in, a few conversations."""

    def line_of(self, text: str) -> None:
        """Send ``text`` as one IRC line."""
        self.say(text)

    async def pong(self, token: str = "barrier") -> None:
        """Barrier: ``PING`` and its ``PONG``, which must be the very next line."""
        self.say(f"PING {token}")
        assert await self.line() == f":{SERVER} PONG {SERVER} {token}"

    async def until(self, pattern: str) -> list[str]:
        """The lines up to and including the first that matches the regex ``pattern``."""
        regex = re.compile(pattern)
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if regex.fullmatch(line):
                return lines

    async def register(
        self,
        nick: str,
        *,
        caps: tuple[str, ...] = (),
        sasl: tuple[str, str] | None = None,
        password: str | None = None,
    ) -> list[str]:
        """Register as ``nick`` (with ``caps``, SASL PLAIN ``(account, password)``, or
        ``PASS password``) and read the welcome up to the visit line; the lines read."""
        wanted = list(caps) + (["sasl"] if sasl is not None and "sasl" not in caps else [])
        if wanted:
            self.say("CAP LS 302")
            await self.expect(f":{SERVER} CAP * LS :")
            self.say(f"CAP REQ :{' '.join(wanted)}")
            assert await self.line() == f":{SERVER} CAP * ACK :{' '.join(wanted)}"
        if sasl is not None:
            self.authenticate(*sasl)
            assert await self.line() == "AUTHENTICATE +"
            await self.expect(f":{SERVER} 900 ")
            await self.expect(f":{SERVER} 903 ")
        if password is not None:
            self.say(f"PASS {password}")
        self.say(f"NICK {nick}")
        self.say(f"USER {nick} 0 * :{nick} real")
        if wanted:
            self.say("CAP END")
        lines = await self.until(VISIT.pattern)
        assert lines[0] == f":{SERVER} 001 {nick} :Welcome to the twisted-chat IRC network, {nick}"
        self.nickname = nick
        return lines

    def authenticate(self, account: str, password: str, authzid: str = "") -> None:
        """``AUTHENTICATE PLAIN`` and its payload."""
        payload = base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()
        self.say("AUTHENTICATE PLAIN")
        self.say(f"AUTHENTICATE {payload}")


async def connect_irc(server: ChatServer, name: str = "irc") -> IrcClient:
    """A new IRC client connected to ``server``'s ``--irc`` listener (nothing sent yet)."""
    client = IrcClient(name, server.texts)
    endpoint = endpoints.TCP4ClientEndpoint(get_reactor(), "127.0.0.1", irc_port(server), timeout=5)
    await wait(endpoints.connectProtocol(endpoint, client), f"{name} to connect")
    server.clients.append(client)
    return client


async def irc_user(server: ChatServer, nick: str, **kwargs: Any) -> IrcClient:
    """A new IRC client registered as ``nick`` (welcome read)."""
    client = await connect_irc(server, nick)
    await client.register(nick, **kwargs)
    return client
