"""A WebSocket client for the in-process tests (real sockets, one reactor): the line-collecting
:class:`~tests.support.chatclient.ChatClient` over ``--web``'s WebSocket, framed by wsproto's
client side."""

from __future__ import annotations

from typing import Any

from twisted.internet import endpoints
from twisted.web.server import Site
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, TextMessage
from wsproto.events import Request as Handshake

from tests.support.chatclient import ChatClient, ChatServer
from tests.support.waits import get_reactor, wait


class WebChatClient(ChatClient):
    """A :class:`ChatClient` over the WebSocket: each text message one line, each line said
    one text message (wsproto's client side does the framing and the handshake)."""

    def __init__(self, name: str, server: ChatServer) -> None:
        super().__init__(name, server.texts)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.accepted = False
        self._partial = ""

    def connectionMade(self) -> None:
        """Send the upgrade request."""
        super().connectionMade()
        self._transport.write(self.ws.send(Handshake(host="127.0.0.1", target="/ws")))

    def dataReceived(self, data: bytes) -> None:
        """Unframe: every complete text message is one line for :class:`ChatClient`."""
        self.ws.receive_data(data)
        lines = []
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    lines.append(self._partial.encode("utf-8") + b"\r\n")
                    self._partial = ""
            elif isinstance(event, Ping):
                self._transport.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._transport.loseConnection()
        if lines:
            super().dataReceived(b"".join(lines))

    def say(self, text: str) -> None:
        """One text message."""
        self._transport.write(self.ws.send(TextMessage(text)))


def web_port(server: ChatServer) -> int:
    """The port of the server's ``--web`` listener."""
    for listener in server.service.listeners():
        if isinstance(listener.factory, Site) and listener.port is not None:
            address: Any = listener.port.getHost()
            return int(address.port)
    raise AssertionError("the server has no --web listener")


async def web_client(server: ChatServer, name: str, endpoint: Any = None) -> WebChatClient:
    """A WebSocket client of ``server``'s web listener (upgraded, prompt not read yet)."""
    client = WebChatClient(name, server)
    if endpoint is None:
        endpoint = endpoints.TCP4ClientEndpoint(
            get_reactor(), "127.0.0.1", web_port(server), timeout=5
        )
    await wait(endpoints.connectProtocol(endpoint, client), f"{name} to connect")
    server.clients.append(client)  # aborted and waited for at teardown
    return client
