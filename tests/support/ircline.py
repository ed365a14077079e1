"""A blocking IRC client of a real ``twistd chat --irc`` process, for the end-to-end tests
(``tests/e2e/test_cluster_irc.py``, ``tests/e2e/test_four_clients.py``).

:class:`IrcUser` is a :class:`tests.support.processes.LineSocket` (CRLF lines, every read with
a timeout) that registers with ``NICK``/``USER``, reads up to a line matching a pattern
(bounded), and uses ``PING``/``PONG`` as its barrier. The in-process tests' IRC client, on the
test's own reactor, is :class:`tests.support.ircclient.IrcClient`. :func:`irc_nodes` starts two
cluster nodes with an ``--irc`` listener each.
"""

from __future__ import annotations

import re
import time

from tests.support.cluster import Cluster, Node, poll
from tests.support.processes import SOCKET_TIMEOUT, LineSocket, free_port

#: The ``--server-name`` of the test nodes (the host part of every source).
SERVER = "irc.test"
#: What "on the other node within a moment" is given (a loaded 2-core machine).
REPLICATION = 3.0


def irc_options(port: int) -> list[str]:
    """The ``twistd chat`` options of an IRC listener on loopback port ``port``, named
    :data:`SERVER`."""
    return ["--irc", f"tcp:{port}:interface=127.0.0.1", "--server-name", SERVER]


def source(nick: str) -> str:
    """The source of ``nick`` in every line."""
    return f":{nick}!{nick}@{SERVER}"


class IrcUser(LineSocket):
    """A blocking IRC client of one node (CRLF lines, every read with a timeout)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.nickname = ""

    def register(self, nick: str) -> list[str]:
        """``NICK`` and ``USER``; the lines up to the end of the MOTD (``376``/``422``), or
        up to the refusal (``433``, ``432``)."""
        self.say(f"NICK {nick}")
        self.say(f"USER {nick} 0 * :{nick} real")
        lines = self.until(rf":{SERVER} (376|422|433|432) .*")
        if f":{SERVER} 001 {nick} " in lines[0] + " ":
            self.nickname = nick
        return lines

    def until(self, pattern: str, timeout: float = SOCKET_TIMEOUT) -> list[str]:
        """The lines up to and including the first that matches the regex ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self.line_within(max(0.1, deadline - time.monotonic()))
            lines.append(line)
            if regex.fullmatch(line):
                return lines
            assert time.monotonic() < deadline, f"{self.nickname}: no {pattern!r} in {lines}"

    def join(self, channel: str) -> list[str]:
        """``JOIN channel``; the lines before the end of its names (``366``)."""
        self.say(f"JOIN {channel}")
        return self.expect(f":{SERVER} 366 {self.nickname} {channel} :End of /NAMES list")

    def sync(self) -> list[str]:
        """Barrier: ``PING``; every line before its ``PONG``."""
        self.say("PING barrera")
        return self.until(rf":{SERVER} PONG {SERVER} barrera")[:-1]

    def names(self, channel: str) -> list[str]:
        """``NAMES channel``: its names (sorted as the server sends them); lines before the
        reply that are not part of it are kept for later reads."""
        self.say(f"NAMES {channel}")
        found: list[str] = []
        for line in self.until(rf":{SERVER} 366 \S+ {re.escape(channel)} :.*"):
            if f" 353 {self.nickname} = {channel} :" in line:
                found += line.split(" :", 1)[1].split()
            elif " 366 " not in line:
                self._ahead.append(line)
        return found

    def wait_names(self, channel: str, expected: list[str], timeout: float) -> None:
        """``NAMES`` until it is ``expected`` (bounded)."""
        seen: list[list[str]] = []

        def listed() -> bool:
            seen.append(self.names(channel))
            return seen[-1] == expected

        try:
            poll(listed, f"{self.nickname}: NAMES {channel} to be {expected}", timeout, 0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; last {seen[-3:]}") from None

    def expect(self, wanted: str, timeout: float = REPLICATION) -> list[str]:
        """Read until the line ``wanted`` (bounded); the lines before it."""
        return self.until(re.escape(wanted), timeout)[:-1]


def irc_nodes(cluster: Cluster) -> tuple[list[Node], dict[str, int]]:
    """Nodes ``ia`` and ``ib`` with an ``--irc`` listener each; their IRC ports by node id."""
    irc_ports = {"ia": free_port(), "ib": free_port()}
    nodes = [
        cluster.start(
            node_id,
            "--irc",
            f"tcp:{irc_ports[node_id]}:interface=127.0.0.1",
            "--server-name",
            SERVER,
        )
        for node_id in ("ia", "ib")
    ]
    return nodes, irc_ports
