"""Several real ``twistd -n chat`` nodes joined through one Redis, and the clients that talk to
them (issue 8).

:class:`Cluster` starts nodes (each ``twistd -n --pidfile= chat --redis URL --node-id ID``, on a
free loopback port, in a directory of its own with its own ``twistd.log``), several at once, and
kills those still running at the end, only those, by their PIDs. :class:`Client` is a
:class:`tests.support.processes.LineSocket` that knows its nickname and the cluster's barriers;
:func:`poll` waits for a condition, bounded. Nothing here sleeps for a fixed time to let
something happen: every wait polls for what it waits for, and fails after its bound.
"""

from __future__ import annotations

import os
import subprocess
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.expected import PROMPT, conectados, joined, username, welcome
from tests.support.processes import (
    SOCKET_TIMEOUT,
    STARTUP_TIMEOUT,
    LineSocket,
    Twistd,
    chat_command,
    free_port,
    is_presence,
    wait_until_serving,
)

#: The ``--cluster-ttl`` of the test nodes, in seconds (a heartbeat every second).
TTL = 3.0
#: A PROXY protocol v1 header, for probing a node that listens behind HAProxy directly.
PROXY_HEADER = b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 40001\r\n"
#: The nicknames of the helpers' own probes start with this (see :meth:`Client.line`).
PROBE_PREFIX = "probe-"
#: The line that starts every reply to ``/listar``.
LISTING_PREFIX = "* Conectados ("


def spelling(nick_line: str) -> str:
    """The nickname a nickname line (``NICK`` or ``NICK PASSWORD``) logs in as: NFC."""
    return unicodedata.normalize("NFC", nick_line.split()[0])


def poll(condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.05) -> float:
    """Call ``condition`` every ``interval`` seconds until it holds; fail with ``what`` after
    ``timeout`` seconds. Returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


@dataclass
class Node(Twistd):
    """A running cluster node: a ``twistd -n chat`` process with its id and directory."""

    node_id: str = ""
    directory: Path = field(default_factory=Path)
    preamble: bytes = b""

    def log_count(self, text: str) -> int:
        """How many lines of the node's ``twistd.log`` contain ``text``."""
        return sum(text in line for line in self.log().splitlines())

    def connect(self, *, source: str | None = None) -> Client:
        """A new client connected to this node directly (prompt not read yet)."""
        return Client(self.port, source=source, preamble=self.preamble)

    def running(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None


def node_command(
    port: int,
    db: str,
    redis: str | None,
    node_id: str | None,
    extra: Sequence[str] = (),
    *,
    listen: str | None = None,
    ttl: float = TTL,
) -> list[str]:
    """The command line of a cluster node (``--redis`` etc. left out when ``redis`` is None)."""
    command = chat_command(port, db, listen=listen)
    if redis is not None:
        command += ["--redis", redis, "--cluster-ttl", f"{ttl:g}"]
    if node_id is not None:
        command += ["--node-id", node_id]
    return [*command, *extra]


class Cluster:
    """The nodes a test (or a test module) started; :meth:`close` kills those still running.

    Every node shares ``db`` and ``redis`` (a ``--redis`` URL) and gets ``--redis-prefix
    prefix`` and ``common`` (more ``twistd chat`` options) before its own options.
    """

    def __init__(
        self,
        directory: Path,
        db: str,
        redis: str,
        *,
        prefix: str | None = None,
        common: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.db = db
        self.redis = redis
        self.prefix = prefix
        self.common = list(common)
        self.env = env
        self.nodes: list[Node] = []

    def _options(self, extra: Sequence[str]) -> list[str]:
        """The ``twistd chat`` options of a node: ``common``, ``--redis-prefix``, then ``extra``."""
        options = [*self.common]
        if self.prefix is not None:
            options += ["--redis-prefix", self.prefix]
        return [*options, *extra]

    def _launch(
        self,
        node_id: str,
        extra: Sequence[str],
        *,
        listen: str | None,
        behind_proxy: bool,
        pass_id: bool = True,
    ) -> Node:
        directory = self.directory / node_id
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        if listen is not None:
            listen = listen.format(port=port)
        command = node_command(
            port,
            self.db,
            self.redis,
            node_id if pass_id else None,
            self._options(extra),
            listen=listen,
        )
        output = directory / "twistd.log"
        env = None if self.env is None else {**os.environ, **self.env}
        with output.open("ab") as out:
            process = subprocess.Popen(
                command, cwd=directory, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        node = Node(
            process,
            port,
            output,
            node_id=node_id,
            directory=directory,
            preamble=PROXY_HEADER if behind_proxy else b"",
        )
        self.nodes.append(node)
        return node

    def start(
        self,
        node_id: str,
        *extra: str,
        listen: str | None = None,
        behind_proxy: bool = False,
        ready: bool = True,
    ) -> Node:
        """Start node ``node_id`` and wait until it serves the prompt.

        ``listen`` replaces the ``--port`` endpoint (``{port}`` in it becomes a free port);
        ``behind_proxy``: it expects a PROXY protocol header first (``haproxy:`` endpoints).
        """
        return self.start_many(
            [node_id], *extra, listen=listen, behind_proxy=behind_proxy, ready=ready
        )[0]

    def start_many(
        self,
        node_ids: Iterable[str],
        *extra: str,
        listen: str | None = None,
        behind_proxy: bool = False,
        pass_id: bool = True,
        ready: bool = True,
    ) -> list[Node]:
        """Start several nodes at once (they start in parallel), then wait until each serves.

        ``node_ids`` name their directories, and are their ``--node-id`` unless ``pass_id`` is
        false (then each node picks its default id). With ``ready``, also wait until each takes
        new users (:func:`wait_until_accepting`); without, only until it serves the prompt.
        """
        nodes = [
            self._launch(node_id, extra, listen=listen, behind_proxy=behind_proxy, pass_id=pass_id)
            for node_id in node_ids
        ]
        for node in nodes:
            wait_until_serving(node, preamble=node.preamble)
        if ready:
            for node in nodes:
                wait_until_accepting(node)
        return nodes

    def run(
        self, node_id: str, *extra: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a node to completion (bounded), capturing its output: one that should not start."""
        directory = self.directory / f"{node_id}-run"
        directory.mkdir(parents=True, exist_ok=True)
        command = node_command(free_port(), self.db, self.redis, node_id, self._options(extra))
        return subprocess.run(
            command, cwd=directory, capture_output=True, text=True, timeout=timeout, check=False
        )

    def close(self) -> None:
        """Kill every node still running (only the processes we started, by PID)."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.kill()
        for node in self.nodes:
            node.process.wait(timeout=10)

    def logs(self) -> str:
        """Every node's log, for a failure message."""
        return "\n".join(f"--- {node.node_id} ---\n{node.log()[-3000:]}" for node in self.nodes)


@contextmanager
def running_cluster(
    directory: Path,
    db: str,
    redis: str,
    *,
    prefix: str | None = None,
    common: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """A :class:`Cluster` whose nodes are killed at the end of the ``with`` block."""
    cluster = Cluster(directory, db, redis, prefix=prefix, common=common, env=env)
    try:
        yield cluster
    finally:
        cluster.close()


class Client(LineSocket):
    """A client of one node: a blocking line socket that remembers its nickname."""

    def __init__(self, port: int, *, source: str | None = None, preamble: bytes = b"") -> None:
        super().__init__(port, source=source, preamble=preamble)
        self.nickname: str | None = None

    def line(self) -> str:
        """The next server line, leaving out join and leave notices of the helpers' probes
        (:data:`PROBE_PREFIX`), whose leave may reach a node a moment after a test's users do."""
        while is_probe_notice(line := super().line()):
            pass
        return line

    def rest(self) -> list[str]:
        """Every line left until EOF (bounded), without the probes' notices."""
        return [line for line in super().rest() if not is_probe_notice(line)]

    def prompt(self) -> Client:
        """Read the nickname prompt (which must be the first line)."""
        assert self.line() == PROMPT
        return self

    def try_nick(self, nick: str) -> str:
        """Send the nickname line ``nick`` (at the prompt) and return the one reply line; on a
        welcome, also read the lines that follow up to the visit line (the database is up in
        these tests): the retention line and the room's replay, kept in :attr:`replayed` (see
        :meth:`LineSocket.after_welcome`; join and leave notices of other nodes' users that
        come meanwhile are kept, in order, for the next reads)."""
        self.say(nick)
        reply = self.line()
        if reply == welcome(spelling(nick)):
            self.nickname = spelling(nick)
            self.after_welcome()
        return reply

    def enter(self, nick: str) -> Client:
        """At the prompt: log in as ``nick`` (``NICK`` or ``NICK PASSWORD``), which must work."""
        reply = self.try_nick(nick)
        assert reply == welcome(spelling(nick)), reply
        return self

    def sync(self) -> None:
        """Barrier: ``/username``, whose fixed reply must be the very next line."""
        assert self.nickname is not None, "sync() needs a logged-in client"
        self.say("/username")
        assert self.line() == username(self.nickname)

    def lines_until_sync(self) -> list[str]:
        """``/username``, and every line that arrives before its reply."""
        assert self.nickname is not None, "needs a logged-in client"
        self.say("/username")
        lines: list[str] = []
        while (line := self.line()) != username(self.nickname):
            lines.append(line)
        return lines

    def listing(self) -> str:
        """``/listar`` and its reply, which must be the next line."""
        self.say("/listar")
        line = self.line()
        assert line.startswith(LISTING_PREFIX), line
        return line

    def wait_for_listing(self, *nicks: str, timeout: float) -> tuple[float, list[str]]:
        """Send ``/listar`` until the reply lists exactly ``nicks`` (in this order), at most
        ``timeout`` seconds. Returns the seconds it took and the other lines received meanwhile
        (join and leave notices, say)."""
        expected = conectados(*nicks)
        started = time.monotonic()
        others: list[str] = []
        replies: list[str] = []
        while True:
            self.say("/listar")
            while not (line := self.line()).startswith(LISTING_PREFIX):
                others.append(line)
            replies.append(line)
            if line == expected:
                return time.monotonic() - started, others
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"{self.nickname}: /listar was not {expected!r} within {timeout}s; "
                    f"last {replies[-3:]}; other lines {others}"
                )
            time.sleep(0.1)

    def leave(self) -> None:
        """``/salir``: the goodbye line, then EOF."""
        self.say("/salir")
        assert self.rest()[-1:] == [f"* Hasta pronto, {self.nickname}."]
        self.close()


def login(node: Node, nick: str) -> Client:
    """A new client of ``node`` logged in as ``nick`` (welcome and visit lines read)."""
    return node.connect().prompt().enter(nick)


def wait_until_accepting(node: Node) -> None:
    """Poll (bounded) until ``node`` takes new users: a node that serves the prompt may still be
    joining the cluster, and refuses nicknames until it has. The probe, ``probe-NODE_ID``, then
    leaves with ``/salir`` (:meth:`Client.line` leaves out its notices)."""
    probe_nick = f"{PROBE_PREFIX}{node.node_id}"[:20]
    probe, _ = take_nickname(node, probe_nick, STARTUP_TIMEOUT)
    probe.leave()


def take_nickname(node: Node, nick: str, timeout: float) -> tuple[Client, float]:
    """Log in as ``nick`` on ``node``, trying again while it is refused (each refusal exactly one
    ``! `` line), at most ``timeout`` seconds. Returns the client and the seconds it took."""
    client = node.connect().prompt()
    started = time.monotonic()
    refusals: list[str] = []
    while True:
        reply = client.try_nick(nick)
        if reply == welcome(spelling(nick)):
            return client, time.monotonic() - started
        assert reply.startswith("! "), reply
        refusals.append(reply)
        if time.monotonic() - started > timeout:
            client.close()
            raise AssertionError(f"{nick} not free on {node.node_id} within {timeout}s: {refusals}")
        time.sleep(0.05)


def join(node: Node, nick: str, *watchers: Client) -> Client:
    """Log in as ``nick`` on ``node``; each of ``watchers`` must get the join notice next."""
    client = login(node, nick)
    for watcher in watchers:
        assert watcher.line() == joined(spelling(nick)), watcher.nickname
    return client


def is_probe_notice(line: str) -> bool:
    """Whether ``line`` is the join or leave notice of one of the helpers' probes."""
    return line.startswith(f"* {PROBE_PREFIX}") and is_presence(line)


def next_message(client: Client, timeout: float = SOCKET_TIMEOUT) -> tuple[str, list[str]]:
    """The next line that is not a join or leave notice, and the notices skipped before it.

    For the moments when the cluster's membership is in flux (a Redis outage and its end), when
    which notices arrive is not specified but messages must still arrive.
    """
    skipped: list[str] = []
    while is_presence(line := client.line_within(timeout)):
        skipped.append(line)
    return line, skipped


def running_nodes(nodes: Sequence[Node]) -> list[Node]:
    """``nodes``, after checking that each is still running (else fail with its log's end)."""
    for node in nodes:
        assert node.running(), f"{node.node_id} died:\n{node.log()[-3000:]}"
    return list(nodes)


@contextmanager
def client_pool(nodes: Sequence[Node]) -> Iterator[ClientPool]:
    """A :class:`ClientPool` on ``nodes``, closed at the end of the ``with`` block."""
    clients = ClientPool(nodes)
    try:
        yield clients
    finally:
        clients.close()


class ClientPool:
    """The clients a test opened on a shared cluster: :meth:`close` closes them and waits until
    the cluster lists nobody, so that the next test starts in an empty room."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = list(nodes)
        self.clients: list[Client] = []

    def connect(self, node: Node, *, source: str | None = None) -> Client:
        """A new client of ``node`` (prompt not read), closed at the end."""
        client = node.connect(source=source)
        self.clients.append(client)
        return client

    def login(self, node: Node, nick: str, *watchers: Client) -> Client:
        """Log in as ``nick`` on ``node``; ``watchers`` must each get the join notice next."""
        client = self.connect(node).prompt().enter(nick)
        for watcher in watchers:
            assert watcher.line() == joined(spelling(nick)), watcher.nickname
        return client

    def close(self, timeout: float = 3.0) -> None:
        """Close every client, then wait (bounded, best effort) until a probe on each node is
        alone in ``/listar``."""
        for client in self.clients:
            client.close()
        self.clients.clear()
        deadline = time.monotonic() + timeout
        for i, node in enumerate(self.nodes):
            if not node.running():
                continue
            try:
                probe = node.connect().prompt()
                if not probe.try_nick(f"{PROBE_PREFIX}{i}").startswith("* "):
                    probe.close()
                    continue
                while probe.listing() != conectados(f"{PROBE_PREFIX}{i}"):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                probe.close()
            except (OSError, AssertionError):
                continue
