"""Issue 16's "done when", end to end: an IRC client, a netcat user, the terminal client and a
browser talk in the same room, on one node and across the cluster.

Four real clients of real ``twistd -n --pidfile= chat`` processes, each in the room
``cuatro`` (``#cuatro`` on IRC), each saying one line with non-ASCII characters, and each
seeing the other three's lines in its own view:

- ``iris``, a raw IRC client (:class:`tests.support.ircline.IrcUser`): the ``PRIVMSG`` lines
  it receives;
- ``nico``, a netcat user of the line protocol (:class:`tests.support.processes.LineSocket`):
  the lines it reads;
- ``teo``, the terminal client (``python -m twisted_chat.client``) in a pseudo-terminal
  (:class:`tests.support.pty_client.PtyProgram`): its screen, as ``pyte`` renders it;
- ``bea``, the web page in a headless chromium (:mod:`tests.support.browser`): the ``#log``
  lines of the page, by their classes (``li.public``, ``li.private``; ``.nick``, ``.text``),
  read as ``textContent``.

And private messages both ways: between the IRC user and the browser user, between the
browser and the netcat user, and between the IRC user and the terminal client (the last two
pairs across nodes in the cluster).

Scenario A is one node (SQLite, a line port, ``--web`` and ``--irc``); scenario B two cluster
nodes on a Redis and a MariaDB database of the test's own, no proxy in front: the IRC user and
the browser on node 1, the netcat user and the terminal client on node 2.

Every wait is bounded (a read with a timeout, or a poll with a deadline); only the processes
the test started are killed, by their PIDs (the fixtures and context managers used here).
Nothing is skipped under ``CI=true``: a missing chromium, Redis or MariaDB fails the test.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import mariadb
from tests.support.browser import log_entries, log_in, log_texts, type_line, users
from tests.support.cluster import Cluster, poll, running_cluster
from tests.support.ircline import IrcUser, irc_options, source
from tests.support.processes import SOCKET_TIMEOUT, LineSocket, free_port
from tests.support.pty_client import PtyProgram, pty_program, wait_for_match
from tests.support.redis_server import RedisServer
from tests.support.webchat import tcp_login, web_chat
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.timeout(120, method="thread")]

#: The room of the conversation, and its channel.
ROOM = "cuatro"
CHANNEL = f"#{ROOM}"
#: Longest wait for a line to reach a client (also across nodes, on a loaded 2-core machine).
ARRIVAL = 10.0
#: What each user says in the room: every line has characters outside ASCII.
SAID = {
    "iris": "¡hola desde IRC, señores!",
    "nico": "qué tal desde netcat, año nuevo",
    "teo": "saludos desde la terminal: ñandú über alles",
    "bea": "el navegador dice: ¿café o té? 5 €",
}
#: The private messages between the IRC user and the browser user.
IRIS_TO_BEA = "psst, ¿me oyes, Beatriz?"
BEA_TO_IRIS = "sí, te oigo: ¡olé!"
#: The private messages between the two places' users (across nodes in a cluster).
BEA_TO_NICO = "¿vienes mañana?"
NICO_TO_BEA = "sí, a las ocho en punto ✓"
IRIS_TO_TEO = "teo, ¿ves los acentos? áéíóú"
TEO_TO_IRIS = "los veo todos: ÁÉÍÓÚ"


class Member(Protocol):
    """One of the four users, as the scenario sees it."""

    nick: str

    def join_room(self) -> None:
        """Go into :data:`ROOM` and wait for the answer."""

    def say(self, text: str) -> None:
        """Say ``text`` in the room."""

    def sees(self, nick: str, text: str) -> None:
        """Wait (bounded) until this user's own view shows ``nick`` saying ``text`` in the
        room."""


def wait_listening(port: int, what: str) -> None:
    """Poll (bounded) until loopback ``port`` accepts connections."""

    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT).close()
        except OSError:
            return False
        return True

    poll(accepts, f"{what} on port {port}", SOCKET_TIMEOUT, 0.1)


class IrcMember:
    """``iris``: a raw IRC client."""

    nick = "iris"

    def __init__(self, port: int) -> None:
        self.client = IrcUser(port)
        #: Every line read so far, for failure messages.
        self.transcript: list[str] = []
        lines = self.client.register(self.nick)
        assert f" 001 {self.nick} " in lines[0], lines

    def join_room(self) -> None:
        self.client.say(f"JOIN {CHANNEL}")
        self.transcript += self.client.expect(
            f":irc.test 366 {self.nick} {CHANNEL} :End of /NAMES list", ARRIVAL
        )

    def say(self, text: str) -> None:
        self.client.say(f"PRIVMSG {CHANNEL} :{text}")

    def sees(self, nick: str, text: str) -> None:
        self.receives(f"{source(nick)} PRIVMSG {CHANNEL} :{text}")

    def receives(self, line: str) -> None:
        """Read until the line ``line`` (bounded)."""
        try:
            self.transcript += [*self.client.expect(line, ARRIVAL), line]
        except (AssertionError, TimeoutError) as e:
            raise AssertionError(f"iris: no {line!r}; read {self.transcript[-20:]}") from e

    def names(self) -> set[str]:
        """The nicknames ``NAMES #cuatro`` lists, without their prefixes."""
        return {name.lstrip("@+") for name in self.client.names(CHANNEL)}


class LineMember:
    """``nico``: a netcat user of the line protocol."""

    nick = "nico"

    def __init__(self, port: int) -> None:
        self.client = LineSocket(port)
        tcp_login(self.client, self.nick)
        self.transcript: list[str] = []

    def read_until(self, matches: Callable[[str], bool], what: str) -> str:
        """Read lines until one ``matches`` (bounded); that line."""
        deadline = time.monotonic() + ARRIVAL
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                line = self.client.line_within(remaining)
            except TimeoutError:
                raise AssertionError(
                    f"nico: no {what} within {ARRIVAL}s; read {self.transcript[-20:]}"
                ) from None
            self.transcript.append(line)
            if matches(line):
                return line

    def join_room(self) -> None:
        self.client.say(f"/unirse {ROOM}")
        self.read_until(lambda line: line.startswith(f"* Sala {ROOM} ("), "the room's listing")

    def say(self, text: str) -> None:
        self.client.say(text)

    def names(self) -> set[str]:
        """The nicknames ``/sala`` lists in the room, without the operator's ``@`` (its topic
        line is left to later reads)."""
        self.client.say("/sala")
        line = self.read_until(lambda line: line.startswith(f"* Sala {ROOM} ("), "/sala's line")
        return {name.lstrip("@") for name in line.split("): ", 1)[1].split(", ")}

    def sees(self, nick: str, text: str) -> None:
        wanted = f"<{nick}> {text}"
        self.read_until(lambda line: line == wanted, repr(wanted))


class TerminalMember:
    """``teo``: the terminal client in a pseudo-terminal; what it shows is its screen."""

    nick = "teo"

    def __init__(self, program: PtyProgram) -> None:
        self.program = program
        self.wait_row(rf"\* Bienvenido, {self.nick}\. .*", "the welcome")
        # The client asks for its room itself after the login; its prompt then names it.
        self.wait_row(rf"\[general\] {self.nick}>", "the prompt with the default room")

    def wait_row(self, pattern: str, what: str) -> None:
        """Wait (bounded) until a row of the screen is all of the regex ``pattern``."""
        wait_for_match(
            self.program.screen, rf"^{pattern}$", f"teo's screen to show {what}", timeout=ARRIVAL
        )

    def join_room(self) -> None:
        self.program.type(f"/unirse {ROOM}")
        self.wait_row(rf"\* Sala {ROOM} \(\d\): .*", "the room's listing")
        self.wait_row(rf"\[{ROOM}\] {self.nick}>", "the prompt with the new room")

    def say(self, text: str) -> None:
        self.program.type(text)

    def sees(self, nick: str, text: str) -> None:
        self.wait_row(re.escape(f"<{nick}> {text}"), f"{nick}'s line")


class BrowserMember:
    """``bea``: the web page in a headless chromium; what it shows is its ``#log``."""

    nick = "bea"

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        log_in(driver, _Page(url), self.nick)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (bounded) until ``condition()``; fail with the page's log."""
        try:
            WebDriverWait(self.driver, ARRIVAL, poll_frequency=0.05).until(lambda _: condition())
        except Exception as e:
            log = log_entries(self.driver, "public") + log_entries(self.driver, "private")
            notices = log_texts(self.driver, "notice")
            raise AssertionError(f"bea: no {what}; lines {log}; notices {notices}") from e

    def join_room(self) -> None:
        type_line(self.driver, f"/unirse {ROOM}")
        self.wait_for(
            lambda: any(
                text.startswith(f"Sala {ROOM} (") for text in log_texts(self.driver, "notice")
            ),
            "room listing",
        )

    def say(self, text: str) -> None:
        type_line(self.driver, text)

    def sees(self, nick: str, text: str) -> None:
        self.shows("public", nick, text)

    def shows(self, kind: str, nick: str, text: str) -> None:
        """Wait (bounded) until ``#log`` has a line of ``kind`` from ``nick`` saying ``text``
        (its ``textContent``)."""
        self.wait_for(lambda: (nick, text) in log_entries(self.driver, kind), f"{kind} {text!r}")


@dataclass
class _Page:
    """The page at ``url`` (for :func:`tests.support.browser.log_in`)."""

    url: str


@dataclass
class Access:
    """Where a node listens: its line port, its web page and its IRC port."""

    line_port: int
    web_port: int
    irc_port: int

    @property
    def url(self) -> str:
        """The web page's URL."""
        return f"http://127.0.0.1:{self.web_port}/"


def four_in_a_room(
    stack: ExitStack, browser: WebDriver, home: Path, first: Access, second: Access
) -> None:
    """The scenario: ``iris`` (IRC) and ``bea`` (browser) on ``first``, ``nico`` (netcat) and
    ``teo`` (terminal client) on ``second``; all four go into the room, each says its line and
    each sees the other three's; then private messages both ways: iris and bea, bea and nico,
    iris and teo."""
    for access in (first, second):
        wait_listening(access.web_port, "the web listener")
        wait_listening(access.irc_port, "the IRC listener")
    iris = IrcMember(first.irc_port)
    stack.callback(iris.client.close)
    nico = LineMember(second.line_port)
    stack.callback(nico.client.close)
    program = stack.enter_context(
        pty_program(
            [
                sys.executable,
                "-m",
                "twisted_chat.client",
                f"127.0.0.1:{second.line_port}",
                "--nick",
                "teo",
            ],
            home=home,
        )
    )
    teo = TerminalMember(program)
    bea = BrowserMember(browser, first.url)
    members: list[Member] = [iris, nico, teo, bea]

    for member in members:
        member.join_room()
    everyone = {member.nick for member in members}
    # Both places know all four in the room before anyone talks (in a cluster a node learns of
    # a member elsewhere when that member's room event arrives: what is said before may miss
    # it, as docs/SCALING.md says).
    poll(lambda: iris.names() == everyone, f"NAMES {CHANNEL} to list {everyone}", ARRIVAL, 0.1)
    poll(lambda: set(users(browser)) == everyone, f"bea's #users to be {everyone}", ARRIVAL, 0.1)
    poll(lambda: nico.names() == everyone, f"nico's /sala to list {everyone}", ARRIVAL, 0.1)

    for speaker in members:
        speaker.say(SAID[speaker.nick])
        for listener in members:
            if listener is not speaker:
                listener.sees(speaker.nick, SAID[speaker.nick])

    # Private, both ways, between the IRC user and the browser user.
    iris.client.say(f"PRIVMSG bea :{IRIS_TO_BEA}")
    bea.shows("private", "iris", IRIS_TO_BEA)
    type_line(browser, f"#iris {BEA_TO_IRIS}")
    iris.receives(f"{source('bea')} PRIVMSG iris :{BEA_TO_IRIS}")
    bea.shows("echo", "iris", BEA_TO_IRIS)

    # Nobody else heard them (each barrier: every earlier line was read).
    nico.client.say("/username")
    nico.read_until(lambda line: line == "* Tu nickname es nico.", "the /username reply")
    assert not any(IRIS_TO_BEA in line or BEA_TO_IRIS in line for line in nico.transcript)
    teo.program.type("/username")
    teo.wait_row(r"\* Tu nickname es teo\.", "the /username reply")
    screen = teo.program.screen()
    assert IRIS_TO_BEA not in screen and BEA_TO_IRIS not in screen, screen

    # Private between the first place's users and the second's (across nodes in a cluster):
    # the browser and netcat, the IRC user and the terminal client, both ways.
    type_line(browser, f"#nico {BEA_TO_NICO}")
    nico.read_until(lambda line: line == f"*bea* {BEA_TO_NICO}", "bea's private message")
    nico.client.say(f"#bea {NICO_TO_BEA}")
    nico.read_until(lambda line: line == f"-> *bea* {NICO_TO_BEA}", "the echo")
    bea.shows("private", "nico", NICO_TO_BEA)
    iris.client.say(f"PRIVMSG teo :{IRIS_TO_TEO}")
    teo.wait_row(re.escape(f"*iris* {IRIS_TO_TEO}"), "iris's private message")
    teo.program.type(f"#iris {TEO_TO_IRIS}")
    iris.receives(f"{source('teo')} PRIVMSG iris :{TEO_TO_IRIS}")


def test_four_clients_on_one_node(tmp_path: Path, browsers: Callable[[], WebDriver]) -> None:
    irc_port = free_port()
    home = tmp_path / "teo"
    home.mkdir()
    with web_chat(tmp_path, *irc_options(irc_port)) as server, ExitStack() as stack:
        access = Access(server.port, server.web_port, irc_port)
        try:
            four_in_a_room(stack, browsers(), home, access, access)
        except BaseException:
            print(server.log()[-4000:])
            raise
        assert server.process.poll() is None, server.log()[-3000:]


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and MariaDB database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as nodes:
        yield nodes


@pytest.mark.mysql
def test_four_clients_across_two_cluster_nodes(
    tmp_path: Path, browsers: Callable[[], WebDriver], cluster: Cluster
) -> None:
    accesses: list[Access] = []
    for node_id in ("n1", "n2"):
        web_port, irc_port = free_port(), free_port()
        node = cluster.start(
            node_id, "--web", f"tcp:{web_port}:interface=127.0.0.1", *irc_options(irc_port)
        )
        accesses.append(Access(node.port, web_port, irc_port))
    home = tmp_path / "teo"
    home.mkdir()
    with ExitStack() as stack:
        try:
            four_in_a_room(stack, browsers(), home, accesses[0], accesses[1])
        except BaseException:
            print(cluster.logs())
            raise
    for node in cluster.nodes:
        assert node.running(), node.log()[-3000:]
