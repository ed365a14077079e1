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

from tests.support.chatclient import (
    ChatClient,
    ChatServer,
    FactoryObserver,
    ServerSide,
    start_server,
)
from tests.support.waits import get_reactor, wait
from twisted_chat.irc.protocol import IrcFactory

#: The server name of the test servers (``--server-name``).
SERVER = "irc.test"
#: The end of the MOTD, which ends the lines of a login (``376``, or ``422`` without a database).
END_OF_MOTD = re.compile(rf":{re.escape(SERVER)} (376|422) \S+ :.*")


#: The ``--irc`` endpoint of the test servers: an ephemeral loopback port.
IRC_ENDPOINT = "tcp:0:interface=127.0.0.1"


def irc_arguments(endpoint: str = IRC_ENDPOINT) -> list[str]:
    """The ``twistd chat`` options of an IRC listener on ``endpoint``."""
    return ["--irc", endpoint, "--server-name", SERVER]


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
        ``PASS password``) and read the welcome up to the end of the MOTD; the lines read."""
        wanted = list(caps) + (["sasl"] if sasl is not None and "sasl" not in caps else [])
        if wanted:
            self.say("CAP LS 302")
            await self.expect(f":{SERVER} CAP * LS :")
            self.say(f"CAP REQ :{' '.join(wanted)}")
            ack = f":{SERVER} CAP * ACK "
            assert (await self.line()) in (ack + " ".join(wanted), ack + ":" + " ".join(wanted))
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
        lines = await self.until(END_OF_MOTD.pattern)
        assert lines[0] == f":{SERVER} 001 {nick} :Welcome to the twisted-chat IRC network, {nick}"
        self.nickname = nick
        return lines

    async def join(self, channel: str) -> list[str]:
        """``JOIN channel``, and its answer up to the end of the names."""
        self.say(f"JOIN {channel}")
        return await self.until(rf":{re.escape(SERVER)} 366 \S+ {re.escape(channel)} :.*")

    def authenticate(self, account: str, password: str, authzid: str = "") -> None:
        """``AUTHENTICATE PLAIN`` and its payload, in lines of 400 bytes (a last one of
        exactly 400 followed by ``AUTHENTICATE +``), as SASL's IRC framing says."""
        payload = base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()
        self.say("AUTHENTICATE PLAIN")
        chunks = [payload[i : i + 400] for i in range(0, len(payload), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        for chunk in chunks:
            self.say(f"AUTHENTICATE {chunk}")


class IrcServer:
    """An in-process chat server with an ``--irc`` listener (see :func:`start_irc_server`): its
    IRC clients, the server's side of their connections, and the line users' helpers."""

    def __init__(self, server: ChatServer) -> None:
        #: The server, with its line-protocol helpers (``login``, ``connect``...).
        self.chat = server
        self.port = irc_port(server)
        factory = next(
            listener.factory
            for listener in server.service.listeners()
            if isinstance(listener.factory, IrcFactory)
        )
        self._observer = FactoryObserver(factory)

    async def __aenter__(self) -> IrcServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.chat.stop()

    async def connect(self, name: str = "irc") -> IrcClient:
        """A new IRC client connected (nothing sent yet), once the server accepted it."""
        client = IrcClient(name, self.chat.texts)
        endpoint = endpoints.TCP4ClientEndpoint(get_reactor(), "127.0.0.1", self.port, timeout=5)
        await wait(endpoints.connectProtocol(endpoint, client), f"{name} to connect")
        self.chat.clients.append(client)
        await wait(self._observer.accepted(client.local_port), f"the server to accept {name}")
        return client

    async def user(self, nick: str, **kwargs: Any) -> IrcClient:
        """A new IRC client registered as ``nick`` (see :meth:`IrcClient.register`)."""
        client = await self.connect(nick)
        await client.register(nick, **kwargs)
        return client

    def side(self, client: ChatClient) -> ServerSide:
        """The server's side of ``client``'s connection."""
        return self._observer.by_peer_port[client.local_port]

    async def send_bytewise(self, client: ChatClient, data: bytes) -> None:
        """Send ``data`` one byte per segment, each read by the server on its own."""
        side = self.side(client)
        for i in range(len(data)):
            chunk = side.next_chunk()
            client.send(data[i : i + 1])
            got = await wait(chunk, f"the server to read byte {i} from {client}")
            assert got == data[i : i + 1], f"the server read {got!r}, not one byte"

    async def server_closed(self, client: ChatClient) -> None:
        """Wait until the server has finished with ``client``'s connection."""
        side = self.side(client)
        if not side.closed:
            await wait(side.lost, f"the server to drop {client}")


async def nothing_more(*clients: ChatClient) -> None:
    """Barriers: nothing more reached any of ``clients`` (an IRC client's next line is its
    ``PONG``, a line or WebSocket user's its ``/username`` answer)."""
    for client in clients:
        if isinstance(client, IrcClient):
            await client.pong()
        else:
            await client.sync()


async def start_irc_server(*extra: str, endpoint: str = IRC_ENDPOINT) -> IrcServer:
    """An in-process server built as ``twistd chat`` builds it, with an ``--irc`` listener on
    ``endpoint`` (server name :data:`SERVER`) besides its ``--port`` one; ``extra``: more
    options."""
    return IrcServer(await start_server(*irc_arguments(endpoint), *extra))


async def sala_with_messages(
    server: IrcServer, count: int, *, caps: tuple[str, ...]
) -> tuple[IrcClient, IrcClient]:
    """``ana`` (with ``caps``) and ``bob`` in ``#sala``, where ``bob`` said ``m0`` to
    ``m{count - 1}``: both registered, ``ana`` read ``bob``'s ``JOIN`` and every message, the
    ``PING`` barriers of both passed."""
    ana = await server.user("ana", caps=caps)
    bob = await server.user("bob")
    await ana.join("#sala")
    await bob.join("#sala")
    assert (await ana.line()).endswith(f" :bob!bob@{SERVER} JOIN #sala")
    for number in range(count):
        bob.say(f"PRIVMSG #sala :m{number}")
    await bob.pong()
    for _ in range(count):
        await ana.line()
    await ana.pong()
    return ana, bob
