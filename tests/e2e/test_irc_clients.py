"""Real IRC clients (issue 16): irssi and WeeChat, the Debian packages, each driven in a
pseudo-terminal (:mod:`tests.support.pty_client`) against the real ``twistd -n chat --irc``.

Each client, with a throwaway home directory (its configuration, its logs; loopback only: no
other server, no TLS, no scripts, no plugins but IRC and its logger) connects, logs in with SASL
PLAIN as a registered nickname, joins ``#sala`` and talks there with a netcat-style user (the
line protocol) and a WebSocket user, exchanges private messages with both, parts and quits.

What the line and web users read is asserted line by line; what the IRC client shows, on the
client's own log files (irssi's autolog, WeeChat's logger plugin), which hold what its windows
show without depending on a screen's layout (the screen, rendered by ``pyte``, is in the message
of a failure). A raw IRC observer (:class:`IrcObserver`) checks with ``WHOIS`` that the server
took the login for a password login (``330``) and that the client is gone after ``QUIT``
(``401``). Every wait is bounded; lines typed into a client wait for their effect, seen by the
other users or in the client's log, before the next.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.expected import (
    joined,
    left,
    registered,
    room_joined,
    room_left,
    topic_set,
    username,
)
from tests.support.ircline import IrcUser
from tests.support.processes import SOCKET_TIMEOUT, LineSocket, free_port
from tests.support.pty_client import (
    CLIENT_STARTUP,
    CLIENT_TIMEOUT,
    PtyProgram,
    file_text,
    pty_program,
    require_program,
    wait_for_match,
)
from tests.support.webchat import WebChat, WebClient, tcp_login, web_chat

pytestmark = pytest.mark.timeout(60, method="thread")

#: The server's name (``--server-name``).
SERVER = "irc.test"
#: The password of the IRC client's registered nickname.
PASSWORD = "Secreto-irc1"
#: The room of the conversation, and its channel.
ROOM = "sala"
CHANNEL = f"#{ROOM}"


def irc_observer(port: int, nick: str) -> IrcUser:
    """A raw IRC connection registered as ``nick`` without any capability, which asks the
    server fixed-reply questions (:func:`whois`); it connects retrying (bounded) while the
    listener starts."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while True:
        try:
            observer = IrcUser(port)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    lines = observer.register(nick)
    assert f":{SERVER} 001 {nick} " in lines[0] + " ", lines
    return observer


def whois(observer: IrcUser, nick: str) -> list[str]:
    """``WHOIS nick`` from ``observer``: its reply, up to ``318``."""
    observer.say(f"WHOIS {nick}")
    return observer.until(rf":{SERVER} 318 {observer.nickname} {nick} :.*")


@dataclass
class Client(ABC):
    """A real IRC client program: how to start it, what to type, where it logs and how its log
    lines look."""

    #: Its nickname, registered with :data:`PASSWORD`.
    nick: str
    #: Its throwaway home (configuration and logs).
    home: Path

    #: The program's name.
    program = ""

    @abstractmethod
    def command(self, executable: str, port: int) -> list[str]:
        """Write its configuration into :attr:`home` (the server at ``127.0.0.1:port``, SASL
        PLAIN as :attr:`nick`, logs into :attr:`home`); the command line that starts it and
        connects."""

    @abstractmethod
    def channel_log(self, channel: str) -> Path:
        """The log file of ``channel``'s window."""

    @abstractmethod
    def query_log(self, nick: str) -> Path:
        """The log file of the private conversation with ``nick``."""

    @abstractmethod
    def said(self, nick: str, text: str, prefix: str | None = None) -> str:
        """The regex of a log line where ``nick`` says ``text``: in private, or in a channel
        with ``prefix`` (``"@"`` for the channel's operator, ``""`` for anyone else)."""

    @abstractmethod
    def topic(self, nick: str, channel: str, topic: str) -> str:
        """The regex of the log line of ``nick`` setting ``channel``'s topic to ``topic``."""

    @abstractmethod
    def joined(self, nick: str, channel: str) -> str:
        """The regex of the log line of ``nick`` joining ``channel``."""

    @abstractmethod
    def members(self, channel: str, count: int) -> str:
        """The regex of the log line that counts ``channel``'s members at the join."""

    @abstractmethod
    def parted(self, nick: str, channel: str, reason: str) -> str:
        """The regex of the log line of ``nick`` leaving ``channel`` with ``reason``."""

    def message(self, target: str, text: str) -> str:
        """What to type to send ``text`` to ``target`` (a channel or a nickname)."""
        return f"/msg {target} {text}"


class Irssi(Client):
    """irssi: a configuration file with one network (SASL PLAIN) and one server, autolog."""

    program = "irssi"

    def command(self, executable: str, port: int) -> list[str]:
        logs = self.home / "logs"
        (self.home / "config").write_text(
            f"""
servers = (
  {{ address = "127.0.0.1"; chatnet = "chat"; port = "{port}"; use_tls = "no";
     autoconnect = "no"; }}
);
chatnets = {{
  chat = {{ type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "{self.nick}";
           sasl_password = "{PASSWORD}"; }};
}};
settings = {{
  core = {{ real_name = "irssi de prueba"; user_name = "{self.nick}"; nick = "{self.nick}";
           settings_autosave = "no"; }};
  "irc/core" = {{ cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; }};
  "fe-common/core" = {{ autolog = "yes"; autolog_path = "{logs}/$tag/$0.log"; }};
}};
""",
            encoding="utf-8",
        )
        return [executable, f"--home={self.home}", "--connect=chat"]

    def channel_log(self, channel: str) -> Path:
        return self.home / "logs" / "chat" / f"{channel}.log"

    def query_log(self, nick: str) -> Path:
        return self.home / "logs" / "chat" / f"{nick}.log"

    def said(self, nick: str, text: str, prefix: str | None = None) -> str:
        shown = nick if prefix is None else f"{prefix or ' '}{nick}"
        return rf"^\d\d:\d\d <{re.escape(shown)}> {re.escape(text)}$"

    def topic(self, nick: str, channel: str, topic: str) -> str:
        return rf"^\d\d:\d\d -!- {nick} changed the topic of {channel} to: {re.escape(topic)}$"

    def joined(self, nick: str, channel: str) -> str:
        return rf"^\d\d:\d\d -!- {nick} \[{nick}@{SERVER}\] has joined {channel}$"

    def members(self, channel: str, count: int) -> str:
        return rf"^\d\d:\d\d -!- Irssi: {channel}: Total of {count} nicks "

    def parted(self, nick: str, channel: str, reason: str) -> str:
        return rf"^\d\d:\d\d -!- {nick} \[{nick}@{SERVER}\] has left {channel} \[{reason}\]$"


class WeeChat(Client):
    """WeeChat: only its IRC and logger plugins, the server added and connected by ``-r``
    commands, every line logged at once."""

    program = "weechat"

    def command(self, executable: str, port: int) -> list[str]:
        setup = [
            "/set weechat.look.paste_max_lines -1",  # two typed lines read at once: no question
            f"/set logger.file.path {self.home / 'logs'}",
            "/set logger.file.flush_delay 0",
            f"/server add chat 127.0.0.1/{port} -notls -noautoreconnect -sasl_mechanism=plain"
            f" -sasl_username={self.nick} -sasl_password={PASSWORD} -nicks={self.nick}"
            f" -username={self.nick} -realname=weechat"
            " -anti_flood_prio_high=0 -anti_flood_prio_low=0",
            "/connect chat",
        ]
        return [
            executable,
            f"--dir={self.home / 'weechat'}",
            "--no-connect",
            "--no-script",
            "--plugins=irc,logger",
            f"--run-command={';'.join(setup)}",
        ]

    def channel_log(self, channel: str) -> Path:
        return self.home / "logs" / f"irc.chat.{channel}.weechatlog"

    def query_log(self, nick: str) -> Path:
        return self.home / "logs" / f"irc.chat.{nick}.weechatlog"

    def said(self, nick: str, text: str, prefix: str | None = None) -> str:
        shown = (prefix or "") + nick
        return rf"^\S+ \S+\t{re.escape(shown)}\t{re.escape(text)}$"

    def topic(self, nick: str, channel: str, topic: str) -> str:
        return rf"^\S+ \S+\t--\t{nick} has changed topic for {channel} to \"{re.escape(topic)}\"$"

    def joined(self, nick: str, channel: str) -> str:
        return rf"^\S+ \S+\t-->\t{nick} \({nick}@{SERVER}\) has joined {channel}$"

    def members(self, channel: str, count: int) -> str:
        return rf"^\S+ \S+\t--\tChannel {channel}: {count} nicks "

    def parted(self, nick: str, channel: str, reason: str) -> str:
        return rf"^\S+ \S+\t<--\t{nick} \({nick}@{SERVER}\) has left {channel} \({reason}\)$"

    def message(self, target: str, text: str) -> str:
        return f"/msg -server chat {target} {text}"


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[tuple[WebChat, int]]:
    """A real ``twistd -n chat`` on SQLite with a line port, a web port and an ``--irc`` port
    (all on loopback); the server and its IRC port."""
    irc_port = free_port()
    options = ["--irc", f"tcp:{irc_port}:interface=127.0.0.1", "--server-name", SERVER]
    with web_chat(tmp_path, *options) as server:
        yield server, irc_port
    assert "Traceback" not in server.log(), server.log()


def register(server: WebChat, nick: str) -> None:
    """Register ``nick`` with :data:`PASSWORD`, through the line protocol."""
    user = server.tcp()
    tcp_login(user, nick)
    user.say(f"/registrar {PASSWORD}")
    assert user.line() == registered(nick)
    user.close()


def sync(user: LineSocket | WebClient, nick: str) -> list[str]:
    """``/username`` barrier: the lines before its reply (every one the server sent before)."""
    user.say("/username")
    lines = []
    while (line := user.line()) != username(nick):
        lines.append(line)
    return lines


@dataclass
class Checker:
    """Bounded waits on a client's log files, failing with its screen."""

    client: Client
    program: PtyProgram

    def channel(self, pattern: str, what: str) -> None:
        """Wait until the log of :data:`CHANNEL` has a line matching ``pattern``."""
        self._wait(self.client.channel_log(CHANNEL), pattern, what)

    def query(self, nick: str, pattern: str, what: str) -> None:
        """Wait until the log of the private conversation with ``nick`` has such a line."""
        self._wait(self.client.query_log(nick), pattern, what)

    def _wait(self, path: Path, pattern: str, what: str) -> None:
        wait_for_match(
            file_text(path),
            pattern,
            f"{self.client.program} to log {what} in {path.name}",
            diagnostics=lambda: f"{self.client.program}'s screen:\n{self.program.screen()}",
        )


@pytest.mark.parametrize("kind", [Irssi, WeeChat], ids=["irssi", "weechat"])
def test_real_client(kind: type[Client], chat: tuple[WebChat, int], tmp_path: Path) -> None:
    """Connect and log in with SASL, join a room (its replay shown), talk there and in private
    with a line user and a web user, part, quit."""
    server, irc_port = chat
    executable = require_program(kind.program)
    nick = kind.program[:4]  # irss, weec
    home = tmp_path / kind.program
    home.mkdir()
    client = kind(nick, home)
    register(server, nick)
    observer = irc_observer(irc_port, "obs")
    lina = server.tcp()
    tcp_login(lina, "lina")
    webi = server.client()
    webi.login("webi")
    assert lina.line() == joined("webi")

    with pty_program(client.command(executable, irc_port), home=home) as program:
        check = Checker(client, program)
        # logged in (the chat's own login: everyone in the default room reads it) with SASL
        assert lina.line_within(CLIENT_STARTUP) == joined(nick)
        assert webi.line() == joined(nick)
        assert f":{SERVER} 330 obs {nick} {nick} :is logged in as" in whois(observer, nick)

        # the room: lina creates it, webi and the client join it
        lina.say(f"/unirse {ROOM}")
        sync(lina, "lina")
        webi.say(f"/unirse {ROOM}")
        assert lina.line() == room_joined("webi", ROOM)
        sync(webi, "webi")
        lina.say("antes de que llegues")  # stored: the client's join replays it
        assert webi.line() == "<lina> antes de que llegues"
        program.type(f"/join {CHANNEL}")
        assert lina.line_within(CLIENT_TIMEOUT) == room_joined(nick, ROOM)
        assert webi.line() == room_joined(nick, ROOM)
        check.channel(client.joined(nick, CHANNEL), "its own join")
        check.channel(client.members(CHANNEL, 3), "the count of members")
        assert f":{SERVER} 319 obs {nick} :{CHANNEL}" in whois(observer, nick)
        check.channel(client.said("lina", "antes de que llegues", "@"), "the room's replay")

        # in the room, each way (UTF-8 on the way)
        text = f"¡hola desde {kind.program}! ñandú"
        program.type(client.message(CHANNEL, text))
        assert lina.line_within(CLIENT_TIMEOUT) == f"<{nick}> {text}"
        assert webi.line() == f"<{nick}> {text}"
        check.channel(client.said(nick, text, ""), "its own message")
        lina.say("hola desde nc, çà")
        assert webi.line() == "<lina> hola desde nc, çà"
        check.channel(client.said("lina", "hola desde nc, çà", "@"), "lina's message")
        webi.say("hola desde la web")
        assert lina.line() == "<webi> hola desde la web"
        check.channel(client.said("webi", "hola desde la web", ""), "webi's message")
        # actions: the client's /me is a CTCP ACTION, which line and web users read as
        # `** NICK TEXT`; a line user's /me shows in the client as an action
        program.type("/me baila un poco")
        assert lina.line_within(CLIENT_TIMEOUT) == f"** {nick} baila un poco"
        assert webi.line() == f"** {nick} baila un poco"
        lina.say("/me saluda a todos")
        assert webi.line() == "** lina saluda a todos"
        check.channel(r".*\blina saluda a todos$", "lina's action")
        lina.say("/tema Charla de prueba")
        assert lina.line() == topic_set("lina", "Charla de prueba")
        assert webi.line() == topic_set("lina", "Charla de prueba")
        check.channel(client.topic("lina", CHANNEL, "Charla de prueba"), "lina's topic")

        # in private, each way, with each
        lina.say(f"#{nick} un secreto de nc")
        assert lina.line() == f"-> *{nick}* un secreto de nc"
        check.query("lina", client.said("lina", "un secreto de nc"), "lina's private message")
        program.type(client.message("lina", "otro secreto"))
        assert lina.line_within(CLIENT_TIMEOUT) == f"*{nick}* otro secreto"
        check.query("lina", client.said(nick, "otro secreto"), "its private answer to lina")
        webi.say(f"#{nick} un secreto web")
        assert webi.line() == f"-> *{nick}* un secreto web"
        check.query("webi", client.said("webi", "un secreto web"), "webi's private message")
        program.type(client.message("webi", "secreto para la web"))
        assert webi.line_within(CLIENT_TIMEOUT) == f"*{nick}* secreto para la web"
        check.query("webi", client.said(nick, "secreto para la web"), "its answer to webi")

        # part: it stays in the chat, in no room
        program.type(f"/part {CHANNEL} hasta luego")
        assert lina.line_within(CLIENT_TIMEOUT) == room_left(nick, ROOM)
        assert webi.line() == room_left(nick, ROOM)
        check.channel(client.parted(nick, CHANNEL, "hasta luego"), "its own part")
        assert f":{SERVER} 319 obs {nick} :" not in "\n".join(whois(observer, nick))

        # quit: lina, back in the default room, reads it leave the chat; the client exits
        lina.say("/unirse general")
        assert webi.line() == room_left("lina", ROOM)
        sync(lina, "lina")
        program.type("/quit chao")
        assert lina.line_within(CLIENT_TIMEOUT) == left(nick)
        assert program.wait_exit() == 0
        assert whois(observer, nick)[0] == f":{SERVER} 401 obs {nick} :No such nick/channel"

    assert sync(lina, "lina") == []
    assert sync(webi, "webi") == []
    for user in (lina, webi, observer):
        user.close()
