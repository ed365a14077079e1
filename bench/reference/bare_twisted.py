"""The textbook Twisted chat server: a bare ``LineReceiver`` broadcast loop (a benchmark reference).

This is the chat server of Twisted's own documentation ("Writing Servers") and of every tutorial,
kept deliberately naive so that ``bench/`` can measure ours against it side by side:

- the factory holds a dict of users; on connect the client gets a ``* `` prompt, its first line is
  its nickname (``* welcome NICK``), and every later line is broadcast with ``self.sendLine(...)``
  in a ``for`` loop to every other client as ``<NICK> TEXT``;
- ``#NICK TEXT`` goes to that one user as ``*SENDER* TEXT``, and the sender gets
  ``-> *NICK* TEXT`` (so the load generator's private scenario runs against it too);
- nothing is persisted, nothing is validated, no join/leave notices, no limits, default Nagle,
  Twisted's default (buffered) write path and ``listenTCP``'s default backlog.

Usage: ``python bench/reference/bare_twisted.py PORT`` (listens on 127.0.0.1).
"""

from __future__ import annotations

import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure


class Chat(LineReceiver):
    """One client: ``GETNAME`` until it has a nickname, then ``CHAT``."""

    def __init__(self, users: dict[str, Chat]) -> None:
        self.users = users
        self.name: str | None = None
        self.state = "GETNAME"

    def connectionMade(self) -> None:
        """Ask for a nickname."""
        self.sendLine(b"* What's your name?")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Forget the user."""
        if self.name in self.users:
            del self.users[self.name]

    def lineReceived(self, line: bytes) -> None:
        """Dispatch on the state, as the tutorial does."""
        if self.state == "GETNAME":
            self.handle_GETNAME(line.decode("utf-8"))
        else:
            self.handle_CHAT(line.decode("utf-8"))

    def handle_GETNAME(self, name: str) -> None:
        """The first line is the nickname."""
        if name in self.users:
            self.sendLine(b"! Name taken, please choose another.")
            return
        self.sendLine(f"* welcome {name}".encode())
        self.name = name
        self.users[name] = self
        self.state = "CHAT"

    def handle_CHAT(self, message: str) -> None:
        """``#NICK TEXT`` to one user; anything else to everybody else."""
        if message.startswith("#"):
            nick, _, text = message[1:].partition(" ")
            target = self.users.get(nick)
            if target is None:
                self.sendLine(f"! {nick} is not connected".encode())
                return
            target.sendLine(f"*{self.name}* {text}".encode())
            self.sendLine(f"-> *{nick}* {text}".encode())
            return
        data = f"<{self.name}> {message}".encode()
        for _name, proto in self.users.items():
            if proto != self:
                proto.sendLine(data)


class ChatFactory(protocol.ServerFactory):
    """Owns the dict of users."""

    def __init__(self) -> None:
        self.users: dict[str, Chat] = {}

    def buildProtocol(self, addr: object) -> Chat:
        """One :class:`Chat` per connection, sharing the users."""
        return Chat(self.users)


def main() -> None:
    """Listen on 127.0.0.1:PORT and run the reactor."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8123
    reactor.listenTCP(port, ChatFactory(), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
