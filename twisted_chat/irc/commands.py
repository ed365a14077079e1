"""What IRC clients say, and what the chat does with it: IRC's command table.

In the manner of Ergo's ``irc/commands.go``: an explicit table (:data:`COMMANDS`) of
:class:`IrcCommand` entries, each with its handler, its least number of parameters and whether
it may come before registration and after it; the dispatcher (:meth:`IrcCommands.line_received`)
checks those rules once (``451``, ``462``, ``461``, ``421``) and the handlers only do their job.
Nothing is looked up by name on the object (``getattr`` on wire input would make every method a
command).

Registration (``NICK``, ``USER``, ``PASS``, ``CAP``, ``AUTHENTICATE``) ends in the chat core's own
login (:meth:`twisted_chat.chat.ChatCore.login`), so an IRC user gets the nickname rules, bans,
passwords and the room's claim of every other user; its errors come back as numerics
(:data:`twisted_chat.irc.render.NUMERICS`). After registration, messages and rooms go through the
same :class:`~twisted_chat.room.Room` as the other transports'. docs/IRC.md says what maps to what.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import __version__, formatting, nicknames, roomnames, userinfo
from twisted_chat.accounts import LoginCheck
from twisted_chat.chat import ChatCore
from twisted_chat.events import Tagged, Text
from twisted_chat.irc import chathistory, labels
from twisted_chat.irc.chathistory import ChatHistory
from twisted_chat.irc.message import Message, TooLong, client_tags, codes_in_place, parse
from twisted_chat.irc.raw_commands import RawCommands
from twisted_chat.irc.render import IrcRenderer, channel
from twisted_chat.irc.session import IrcSession
from twisted_chat.operators import remaining
from twisted_chat.room import ChatRoom, Entered, Member, Move
from twisted_chat.rooms import RoomCommands
from twisted_chat.session import Session
from twisted_chat.text import Language
from twisted_chat.userinfo import NONE as NO_INFO
from twisted_chat.userinfo import UserInfo

#: The capabilities offered (``CAP LS``), with their values for ``CAP LS 302``.
CAPABILITIES: Final = {
    "batch": "",
    "draft/chathistory": "",
    "echo-message": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": "PLAIN",
    "server-time": "",
    "userhost-in-names": "",
}
#: Most bytes of one SASL payload (several ``AUTHENTICATE`` lines of 400).
MAX_SASL: Final = 2000
#: Seconds the MOTD (the chat's lines of a login) may wait for the last visit's line.
WELCOME_WAIT: Final = 5.0
#: Seconds between tries of a registration made while the server is starting up.
REGISTER_RETRY: Final = 0.2
#: Most bytes of names in one ``353`` line (and of channels in one ``319``).
NAMES_CHUNK: Final = 400
#: Most characters of an away message (``AWAY``) and of a kick's reason (``KICK``).
AWAYLEN: Final = 300
KICKLEN: Final = 300
#: Most characters of a quit reason passed on (``QUIT :REASON``).
QUITLEN: Final = 300
#: The channel modes a room has: no messages from outside (``n``: members only, ``404``) and
#: the topic set by operators (``t``: ``482``), always; secret (``s``) and moderated (``m``),
#: which its operator sets (:meth:`IrcCommands.mode`).
CHANNEL_MODES: Final = "nt"
#: The flag modes a room's operator may set and unset.
SETTABLE_MODES: Final = "ms"
#: Most characters of a user name shown (``USER``'s, after ``~``), and the characters dropped
#: from it (a user name is a plain word: nothing that could pass for ``!``, ``@`` or a mask).
USERLEN: Final = 10
USER_DROPPED: Final = re.compile(r"[^A-Za-z0-9_.-]")
#: The fields of a WHOX reply (``354``), in the order they are written.
WHOX_FIELDS: Final = "tcuihsnfdlaor"
#: Most tokens of one ``005`` line (irctest's isupport checks: 13, and the text).
ISUPPORT_PER_LINE: Final = 13


def _mode_changes(
    modes: str, args: list[str], lists: Collection[str]
) -> tuple[list[tuple[bool, str, str | None]], list[str]]:
    """The changes a room's ``MODE`` asks for: ``(adding, letter, nickname)`` for each ``s``,
    ``m`` (no nickname) and ``v NICK`` (a ``v`` without one is nothing), in order, taking
    ``args`` as the letters need them; and the letters refused (``-n``, ``-t``, ``o`` and the
    lists, unknown ones), each once, the parameters of ``o`` and the lists consumed."""
    wanted: list[tuple[bool, str, str | None]] = []
    refused: list[str] = []
    adding = True
    for char in modes:
        if char in "+-":
            adding = char == "+"
        elif char in SETTABLE_MODES:
            wanted.append((adding, char, None))
        elif char == "v":
            if args:
                wanted.append((adding, char, args.pop(0)))
        elif char in CHANNEL_MODES and adding:
            continue  # set already
        else:
            if (char in "o" or char in lists) and args:
                args.pop(0)  # its parameter goes with it
            if char not in refused:
                refused.append(char)
    return wanted, refused


def _mode_text(applied: Sequence[tuple[bool, str, str | None]]) -> str:
    """The changes ``applied`` as IRC writes them: the letters, each sign once per run, then
    the nicknames (``+mv-s bob``)."""
    letters = ""
    sign = ""
    params: list[str] = []
    for adding, char, param in applied:
        wanted = "+" if adding else "-"
        if wanted != sign:
            letters += wanted
            sign = wanted
        letters += char
        if param is not None:
            params.append(param)
    return " ".join([letters, *params])


def prefix(chatroom: ChatRoom, nick_key: str, multi: bool) -> str:
    """The member ``nick_key``'s prefixes in ``chatroom`` (``@`` its operator, ``+`` voiced):
    all of them with ``multi-prefix``, else the highest."""
    found = ("@" if chatroom.operator == nick_key else "") + (
        "+" if nick_key in chatroom.voiced else ""
    )
    return found if multi else found[:1]


@dataclass(frozen=True, slots=True)
class IrcCommand:
    """One entry of the command table."""

    name: str
    handler: Callable[[IrcCommands, IrcSession, Message], None]
    #: Parameters it needs (fewer get ``461``).
    min_params: int = 0
    #: Whether it may come before registration (else ``451``).
    before: bool = False
    #: Whether it may come after registration (else ``462``).
    after: bool = True


#: The command table: IRC's command name -> entry.
COMMANDS: dict[str, IrcCommand] = {}


def irc_command(
    name: str, min_params: int = 0, before: bool = False, after: bool = True
) -> Callable[
    [Callable[[IrcCommands, IrcSession, Message], None]],
    Callable[[IrcCommands, IrcSession, Message], None],
]:
    """Register the decorated method as IRC's command ``name`` in :data:`COMMANDS`."""

    def register(
        handler: Callable[[IrcCommands, IrcSession, Message], None],
    ) -> Callable[[IrcCommands, IrcSession, Message], None]:
        COMMANDS[name] = IrcCommand(name, handler, min_params, before, after)
        return handler

    return register


class IrcCommands:
    """The IRC interpreter of every IRC session of one chat: registration, then commands."""

    log = Logger()

    def __init__(
        self,
        chat: ChatCore,
        rooms: RoomCommands,
        language: Language,
        server_name: str,
        motd: Sequence[str] = (),
        max_channels: int = roomnames.DEFAULT_MAX_CHANNELS,
        server_password: str | None = None,
    ) -> None:
        self.chat = chat
        #: The server password (``--irc-password``): without it, ``PASS`` is an account's
        #: password; with it, ``PASS`` must be it before registration, and accounts log in
        #: with SASL.
        self._server_password = (
            server_password.encode("utf-8") if server_password is not None else None
        )
        self.room = chat.room
        self.events = chat.events
        #: The rooms' commands (the topic rules).
        self.rooms = rooms
        self.language = language
        #: The server's name: the source of its replies.
        self.server_name = server_name
        #: The lines of the message of the day (``--motd``), if any.
        self.motd_lines = tuple(motd)
        #: Most rooms one IRC user may be in at once (``CHANLIMIT``, ``--irc-max-channels``;
        #: more get ``405``), so that one client cannot create every room ``--max-rooms`` allows.
        self.max_channels = max_channels
        self._created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        # An operator on another node of a cluster sends a user of this node out of a room.
        self.room.room_kick = self._kicked_from_elsewhere
        # Another node changed a room's modes: its members here are told.
        self.room.modes_told = self._modes_from_elsewhere
        # The most users of the whole chat seen at once by LUSERS (in a cluster, every node's).
        self._most_global = 0
        # One renderer per set of rendering capabilities (a handful at most).
        self._renderers: dict[frozenset[str], IrcRenderer] = {}
        #: ``CHATHISTORY`` and the JOIN replay (:mod:`twisted_chat.irc.chathistory`).
        self.chathistory = ChatHistory(self)
        self._raw: RawCommands | None = None

    @property
    def raw(self) -> RawCommands:
        """The chat's v1 commands as raw IRC commands (:mod:`twisted_chat.irc.raw_commands`),
        made from the chat's command table when first needed."""
        if self._raw is None:
            self._raw = RawCommands(self, COMMANDS)
        return self._raw

    def renderer_for(self, caps: Collection[str]) -> IrcRenderer:
        """The one renderer of the connections that enabled ``caps``."""
        renderer = IrcRenderer(self.language, self.server_name, caps, self.is_member)
        return self._renderers.setdefault(renderer.caps, renderer)

    def is_member(self, room_key: str, nick: str) -> bool:
        """Whether ``nick`` is in the room ``room_key`` now."""
        chatroom = self.room.rooms.get(room_key)
        return chatroom is not None and nicknames.key(nick) in chatroom.users

    def isupport(self) -> list[str]:
        """The ``005`` tokens."""
        return [
            f"AWAYLEN={AWAYLEN}",
            "CASEMAPPING=ascii",
            f"CHANLIMIT=#:{self.max_channels}",
            "CHANMODES=,,,mnst",
            "CHANNELLEN=33",
            "CHANTYPES=#",
            f"CHATHISTORY={chathistory.MAX_LIMIT}",
            f"KICKLEN={KICKLEN}",
            f"MSGREFTYPES={chathistory.MSGREFTYPES}",
            "NETWORK=twisted-chat",
            f"NICKLEN={nicknames.MAX_NICKNAME_LENGTH}",
            "PREFIX=(ov)@+",
            "TARGMAX=PRIVMSG:1,NOTICE:1,JOIN:,PART:,NAMES:,WHOIS:1,KICK:,LIST:",
            f"TOPICLEN={roomnames.MAX_TOPIC_LENGTH}",
            "UTF8ONLY",
            "WHOX",
        ]

    def send_isupport(self, session: IrcSession) -> None:
        """The ``005`` lines: the tokens, :data:`ISUPPORT_PER_LINE` at most on each."""
        tokens = self.isupport()
        for start in range(0, len(tokens), ISUPPORT_PER_LINE):
            chunk = tokens[start : start + ISUPPORT_PER_LINE]
            session.reply("005", *chunk, "are supported by this server")

    # -- the dispatcher ---------------------------------------------------------------------

    def line_received(self, session: IrcSession, text: str) -> None:
        """One decoded line of ``session`` (the session's limits passed): parse it, check the
        command's rules, run it."""
        session.lines_in += 1  # a sign of life for the keepalive
        try:
            message = parse(text)
        except TooLong:
            session.reply("417", "Input line was too long")
            return
        if message is None or self._misplaced_codes(session, text, message):
            return
        room = self.room
        if room.has_notices:
            room.flush_notices()  # whatever this line causes comes after pending notices
        recados = self.chat.recados
        if recados is not None and session.nickname is not None and session in recados.unread:
            recados.read(session)
        label = labels.label_of(session, message.tags)
        if label is not None:  # IRCv3 labeled-response: its answer is kept, then labeled
            session.labeled(label, lambda: self.dispatch(session, message))
        else:
            self.dispatch(session, message)

    def dispatch(self, session: IrcSession, message: Message) -> None:
        """Check the rules of ``message``'s command, run it."""
        command = COMMANDS.get(message.command)
        registered = session.nickname is not None
        if command is None:
            self._not_irc(session, message, registered)
            return
        if not registered and not command.before:
            session.reply("451", "You have not registered")
        elif registered and not command.after:
            session.reply("462", "You may not reregister")
        elif len(message.params) < command.min_params:
            session.reply("461", message.command, "Not enough parameters")
        else:
            command.handler(self, session, message)

    def _not_irc(self, session: IrcSession, message: Message, registered: bool) -> None:
        """A command IRC's table has not: one of the chat's v1 commands
        (:mod:`twisted_chat.irc.raw_commands`), else ``421`` (``451`` before registration)."""
        if not registered:
            session.reply("451", "You have not registered")
        elif not self.raw.run(session, message):
            session.reply("421", message.command, "Unknown command")

    @staticmethod
    def _misplaced_codes(session: IrcSession, text: str, message: Message) -> bool:
        """Whether the line ``text`` holds formatting codes or CTCP out of a message's text:
        then refused as any line with control characters."""
        if text.isprintable() or codes_in_place(text, message):
            return False
        session.refuse(Text("control_chars"))
        return True

    # -- registration -----------------------------------------------------------------------

    @irc_command("PASS", 1, before=True, after=False)
    def pass_(self, session: IrcSession, message: Message) -> None:
        """``PASS PASSWORD``: the server password with ``--irc-password`` (checked at
        registration), else the password of the nickname to come (a registered one's)."""
        session.password = message.params[0]

    def server_password_ok(self, session: IrcSession) -> bool:
        """Whether ``session`` may register as far as the server password goes: there is
        none, or its ``PASS`` was it (compared in constant time)."""
        if self._server_password is None:
            return True
        given = session.password
        return given is not None and hmac.compare_digest(
            given.encode("utf-8"), self._server_password
        )

    @irc_command("NICK", before=True)
    def nick(self, session: IrcSession, message: Message) -> None:
        """``NICK NICKNAME``: before registration, the nickname to log in with; after it, a
        change by the chat's rules (:meth:`twisted_chat.chat.ChatCore.rename`): ``432``,
        ``433``, ``438`` (too soon), or ``NICK`` from the old nickname to the user and once
        to everyone sharing a channel with it; the same spelling is nothing."""
        if not message.params or not message.params[0]:
            session.reply("431", "No nickname given")
            return
        wanted = message.params[0]
        if any(c in wanted for c in " \t,*?!@#:"):
            session.reply("432", wanted, "Erroneous nickname")
            return
        if session.nickname is not None:
            self.chat.rename(session, wanted)
            return
        session.wanted_nick = wanted
        self._try_register(session)

    @irc_command("USER", 4, before=True, after=False)
    def user(self, session: IrcSession, message: Message) -> None:
        """``USER NAME 0 * :REAL NAME``: the user name (shown nowhere yet)."""
        if not message.params[0] or not message.params[3]:
            session.reply("461", "USER", "Not enough parameters")
        elif session.user is None:
            session.user = message.params[0]
            session.realname = message.params[3]
            self._try_register(session)

    @irc_command("CAP", 1, before=True)
    def cap(self, session: IrcSession, message: Message) -> None:
        """``CAP LS [302]``, ``CAP LIST``, ``CAP REQ :CAPS``, ``CAP END``."""
        sub = message.params[0].upper()
        registered = session.nickname is not None
        if sub == "LS":
            if not registered:
                session.cap_negotiating = True
            v302 = len(message.params) > 1 and message.params[1].isdigit()
            v302 = v302 and int(message.params[1]) >= 302
            offered = " ".join(
                f"{name}={value}" if value and v302 else name
                for name, value in CAPABILITIES.items()
            )
            self._cap_reply(session, "LS", offered)
        elif sub == "LIST":
            self._cap_reply(session, "LIST", " ".join(sorted(session.caps)))
        elif sub == "REQ":
            if not registered:
                session.cap_negotiating = True
            wanted = message.params[1] if len(message.params) > 1 else ""
            self._cap_req(session, wanted)
        elif sub == "END":
            if not registered and session.cap_negotiating:
                session.cap_negotiating = False
                self._try_register(session)
        else:
            session.reply("410", message.params[0], "Invalid CAP command")

    def _cap_reply(self, session: IrcSession, sub: str, text: str) -> None:
        session.send(
            session.renderer.line(
                "CAP", session.target(), sub, text, source=self.server_name, trailing=True
            )
        )

    def _cap_req(self, session: IrcSession, wanted: str) -> None:
        """Enable and disable the capabilities of ``wanted`` all together, or none (``NAK``)."""
        changes = [(name.startswith("-"), name.lstrip("-")) for name in wanted.split()]
        caps = set(session.caps)
        for off, name in changes:
            if name not in CAPABILITIES:
                self._cap_reply(session, "NAK", wanted)
                return
            if off:
                caps.discard(name)
            else:
                caps.add(name)
        renderer = self.renderer_for(caps)
        session.caps = caps
        if renderer is not session.renderer:
            session.use_renderer(renderer)
        self._cap_reply(session, "ACK", wanted)

    @irc_command("AUTHENTICATE", 1, before=True)
    def authenticate(self, session: IrcSession, message: Message) -> None:
        """SASL PLAIN (``AUTHENTICATE PLAIN``, then the payload): checked against the accounts
        as a password login is; ``903`` or ``904`` (``905`` for one line over 400 bytes,
        ``904`` for a payload over :data:`MAX_SASL`)."""
        arg = message.params[0]
        if self._sasl_refused(session):
            return
        if not self.server_password_ok(session):
            # No account is checked for a client that has not given the server password.
            self._sasl_reset(session)
            session.reply("904", "SASL authentication failed")
            return
        if arg == "*":
            self._sasl_reset(session)
            session.reply("906", "SASL authentication aborted")
            return
        if session.sasl_mechanism is None:
            if arg.upper() != "PLAIN":
                session.reply("908", "PLAIN", "are available SASL mechanisms")
                session.reply("904", "SASL authentication failed")
                return
            session.sasl_mechanism = "PLAIN"
            session.send(session.renderer.line("AUTHENTICATE", "+"))
            return
        if len(arg) > 400:
            self._sasl_reset(session)
            session.reply("905", "SASL message too long")
            return
        if arg != "+":
            session.sasl_buffer += arg
        if len(session.sasl_buffer) > MAX_SASL:  # 905 is for one line over 400 bytes
            self._sasl_reset(session)
            session.reply("904", "SASL authentication failed")
            return
        if len(arg) == 400:
            return  # more to come
        payload, session.sasl_buffer = session.sasl_buffer, ""
        self._sasl_plain(session, payload)

    @staticmethod
    def _sasl_refused(session: IrcSession) -> bool:
        """Whether ``session`` may not use SASL now, said: ``462`` after registration (no
        SASL then: an account is its nickname), ``907`` once authenticated, ``904`` without
        ``CAP REQ sasl``."""
        if session.nickname is not None:
            session.reply("462", "You may not reregister")
        elif session.sasl_account is not None:
            session.reply("907", "You have already authenticated using SASL")
        elif "sasl" not in session.caps:
            session.reply("904", "SASL authentication failed")
        else:
            return False
        return True

    @staticmethod
    def _sasl_reset(session: IrcSession) -> None:
        session.sasl_mechanism = None
        session.sasl_buffer = ""

    def _sasl_plain(self, session: IrcSession, payload: str) -> None:
        """Check the PLAIN ``payload`` (base64 of ``authzid NUL authcid NUL password``)."""
        session.sasl_mechanism = None
        try:
            fields = base64.b64decode(payload, validate=True).decode("utf-8").split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            fields = []
        accounts = self.chat.accounts
        if len(fields) != 3 or accounts is None or not fields[1] or not fields[2]:
            session.reply("904", "SASL authentication failed")
            return
        authzid, authcid, password = fields
        account = nicknames.normalize(authcid)
        if authzid and nicknames.key(authzid) != nicknames.key(account):
            session.reply("904", "SASL authentication failed")
            return

        def checked(ok: bool) -> None:
            if ok:
                session.sasl_account = account
                session.sasl_password = password
                mask = f"{session.wanted_nick or account}!{session.user or account}@{session.host}"
                session.reply("900", mask, account, f"You are now logged in as {account}")
                session.reply("903", "SASL authentication successful")
            else:
                session.reply("904", "SASL authentication failed")

        self._check_password(session, "SASL", account, password, checked)

    def _check_password(
        self,
        session: IrcSession,
        what: str,
        account: str,
        password: str,
        done: Callable[[bool], None],
    ) -> None:
        """Check ``password`` for ``account`` as a login is checked (and rate limited), for
        ``what`` (``SASL``, ``OPER``), with ``session``'s input held meanwhile: ``done(ok)``
        then, unless the connection is closing (a failed check is logged and is a refusal)."""
        accounts = self.chat.accounts
        assert accounts is not None
        session.hold()

        def checked(result: object) -> None:
            if session.closing:
                return
            done(result is LoginCheck.OK)
            session.release()

        def failed(failure: Failure) -> None:
            self.log.failure("checking {what} for {nick} failed", failure, what=what, nick=account)
            checked(LoginCheck.REFUSED)

        check = defer.maybeDeferred(accounts.check_login, account, password, session.host)
        check.addCallbacks(checked, failed)

    def _try_register(self, session: IrcSession) -> None:
        """Log in once ``NICK`` and ``USER`` came and capability negotiation ended: the chat's
        own login, with the password SASL accepted for that nickname, else ``PASS``'s."""
        nick = session.wanted_nick
        if (
            session.nickname is not None
            or nick is None
            or session.user is None
            or session.cap_negotiating
        ):
            return
        if not self.server_password_ok(session):
            session.reply("464", "Password incorrect")
            session.disconnect("bad_server_password")  # ERROR, then the close
            return
        if not self.chat.taking_logins:
            # The server is starting up: an IRC client does not try again by itself, so the
            # registration is tried again here until the chat takes logins (or the login
            # timeout closes the connection).
            if not session.registration_waiting:
                session.registration_waiting = True
                self.chat.clock.callLater(REGISTER_RETRY, self._register_later, session)
            return
        password = None
        if session.sasl_account is not None and nicknames.key(session.sasl_account) == (
            nicknames.key(nicknames.normalize(nick))
        ):
            password = session.sasl_password
        elif session.password and self._server_password is None:
            password = session.password
        self.chat.login(session, nick if password is None else f"{nick} {password}")

    def _register_later(self, session: IrcSession) -> None:
        """Try the registration again (the server was starting up)."""
        session.registration_waiting = False
        if not session.closing:
            self._try_register(session)

    def registered(self, session: IrcSession) -> None:
        """The chat accepted the login: ``001`` to ``005``, ``LUSERS``'s lines, then the MOTD,
        made of the chat's lines of a login (the retention line, the last visit: see
        :meth:`IrcSession.start_welcome`), or ``422`` when there are none. The login put the
        user in the default room: an IRC user is taken out of it, in no room until it joins one."""
        self.room.part_now(session, self.room.default, quiet=True)
        operators = self.chat.operators
        if session.sasl_account is not None and operators.account_of(session) is None:
            # SASL proved this account although the nickname is another: a NICK to it later
            # is this connection's to make (see ChatCore.rename).
            operators.logged_in_by_password(session, session.sasl_account)
        nick = session.nickname or ""
        server = self.server_name
        version = f"twisted-chat-{__version__}"
        reply = session.reply
        reply("001", f"Welcome to the twisted-chat IRC network, {nick}")
        reply("002", f"Your host is {server}, running version {version}")
        reply("003", f"This server was created {self._created}")
        self._plain(session, "004", server, version, "io", "mnostv", "ov")
        self.send_isupport(session)
        self._lusers(session)
        account = session.sasl_account
        if account is not None and nicknames.key(account) != nicknames.key(nick):
            # SASL said 900 for an account that is not this nickname: an account is its
            # nickname, so the login is without it (WHOIS: no 330; WHOX: account 0)
            mask = f"{nick}!{session.user or nick}@{session.host}"
            reply("901", mask, f"You are now logged out: the account {account} is its nickname's")
        if self.chat.logins is None and not self.motd_lines:  # no visit line will come
            reply("422", "MOTD File is missing")
            return
        reply("375", f"- {server} Message of the day -")
        for line in self.motd_lines:
            reply("372", f"- {line}")
        if self.chat.logins is None:
            reply("376", "End of /MOTD command.")
            return
        session.start_welcome(WELCOME_WAIT)

    # -- after registration -----------------------------------------------------------------

    @irc_command("PING", 1, before=True)
    def ping(self, session: IrcSession, message: Message) -> None:
        """``PING TOKEN``: ``PONG SERVER TOKEN``, before registration too."""
        session.send(
            session.renderer.line(
                "PONG", self.server_name, message.params[0], source=self.server_name
            )
        )

    @irc_command("PONG", before=True)
    def pong(self, session: IrcSession, message: Message) -> None:
        """A client's answer to a ``PING``: nothing to do (every line is a sign of life for
        the keepalive and resets the idle timer)."""

    @irc_command("QUIT", before=True)
    def quit(self, session: IrcSession, message: Message) -> None:
        """``QUIT [:REASON]``: ``ERROR``, and the connection closes."""
        session.quit_reason = message.params[0].strip(" \t")[:QUITLEN] if message.params else ""
        session.close()

    @irc_command("MOTD", before=False)
    def motd(self, session: IrcSession, message: Message) -> None:
        """``MOTD``: the lines of ``--motd`` (``375``, ``372``..., ``376``), else ``422``."""
        if not self.motd_lines:
            session.reply("422", "MOTD File is missing")
            return
        session.reply("375", f"- {self.server_name} Message of the day -")
        for line in self.motd_lines:
            session.reply("372", f"- {line}")
        session.reply("376", "End of /MOTD command.")

    @irc_command("CHATHISTORY")
    def chathistory_(self, session: IrcSession, message: Message) -> None:
        """IRCv3 ``CHATHISTORY`` (:mod:`twisted_chat.irc.chathistory`)."""
        self.chathistory.command(session, message)

    @irc_command("TAGMSG", 1)
    def tagmsg(self, session: IrcSession, message: Message) -> None:
        """IRCv3 ``TAGMSG TARGET`` (https://ircv3.net/specs/extensions/message-tags): the
        sender's client-only tags (``+typing``...) to a room (its members only, with voice in
        a moderated one: ``403``, ``404`` as ``PRIVMSG``) or a nickname of this node
        (``401``), relayed to the IRC readers with ``message-tags`` alone, never kept.
        Ignored from a client without ``message-tags``, and without client-only tags
        (nothing to relay)."""
        renderer = session.renderer
        if not renderer.client_tags:
            return
        tags = client_tags(message.tags)
        if tags is None:
            return
        target = message.params[0]
        if "," in target:
            session.reply("407", target, "Too many targets")
            return
        if self.room.mutes and self._muted(session, notice=True):
            return
        if target.startswith("#"):
            event = self._tags_to_room(session, target, tags)
        else:
            event = self._tags_to_nick(session, target, tags)
        if event is not None and renderer.echo:
            session.send(renderer.render(event))

    def _tags_to_room(
        self, session: IrcSession, target: str, tags: dict[str, str]
    ) -> Tagged | None:
        """A ``TAGMSG`` to the channel ``target`` (``None``: refused)."""
        chatroom = self._find(target)
        if chatroom is None:
            session.reply("403", target, "No such channel")
            return None
        room = self.room
        if chatroom not in room.rooms_of(session):
            session.reply("404", target, "Cannot send to channel")
            return None
        if chatroom.moderated and not self.chat.may_speak(session, chatroom):
            session.reply("404", target, "Cannot send to channel (+m)")
            return None
        event = self.events.tagged(chatroom.key, session.nickname or "", None, tags)
        room.broadcast_room_to(event, _reads_tags, exclude=session)
        return event

    def _tags_to_nick(
        self, session: IrcSession, target: str, tags: dict[str, str]
    ) -> Tagged | None:
        """A ``TAGMSG`` to the user ``target`` (``None``: no such user)."""
        room = self.room
        recipient = room.find(target)
        if recipient is None:
            session.reply("401", target, "No such nick/channel")
            return None
        event = self.events.tagged(None, session.nickname or "", recipient.nickname or target, tags)
        # a user of another node, or of another transport, reads no tags: not sent
        if isinstance(recipient, IrcSession) and recipient.renderer.client_tags:
            room.deliver(recipient, event)
        return event

    @irc_command("JOIN", 1)
    def join(self, session: IrcSession, message: Message) -> None:
        """``JOIN #ROOM[,#ROOM...]``: enter rooms (each created as ``/unirse`` creates one),
        staying in the others; ``JOIN 0`` leaves them all."""
        if message.params[0] == "0":
            for chatroom in self.room.rooms_of(session):
                self._part(session, chatroom)
            return
        self._join_all(session, message.params[0].split(","))

    def _join_all(self, session: IrcSession, names: list[str], held: bool = False) -> None:
        """Join the rooms ``names`` in order; while the cluster is asked who creates a room,
        the session's later lines wait (``held``: they are waiting already)."""
        while names and not session.closing:
            joining = self._join(session, names.pop(0))
            if joining is not None and not joining.called:
                if not held:
                    session.hold()
                joining.addBoth(
                    session.as_answer(lambda _: self._join_all(session, names, held=True))
                )
                return
        if held:
            session.release()

    def _join(self, session: IrcSession, name: str) -> defer.Deferred[None] | None:
        """Join the room of the channel ``name``: what it answers comes when the room (in a
        cluster: its creation claim) answers."""
        if not name.startswith("#"):
            session.reply("403", name, "No such channel")
            return None
        room_name = roomnames.normalize(name)
        if not roomnames.is_valid(room_name):
            session.reply("479", name, "Illegal channel name")
            return None
        mine = self.room.rooms_of(session)
        if len(mine) >= self.max_channels and all(r.key != roomnames.key(room_name) for r in mine):
            session.reply("405", name, "You have joined too many channels")
            return None

        def joined(move: Move) -> None:
            if not session.closing:
                self._joined(session, name, move)

        def failed(failure: Failure) -> None:
            self.log.failure("joining {room} failed", failure, room=room_name)

        return self.room.join(session, room_name).addCallbacks(session.as_answer(joined), failed)

    def _joined(self, session: IrcSession, name: str, move: Move) -> None:
        """What a ``JOIN`` is answered with, once the room answered."""
        chatroom = move.room
        if move.entered is Entered.FULL or chatroom is None:
            text = self.language.texts.rooms_full.format(max=self.room.max_rooms)
            session.reply("405", name, text)
            return
        if move.entered is Entered.ALREADY:
            return
        nick = session.nickname or ""
        event = self.events.joined(chatroom.key, nick, chatroom.name)
        session.send(session.renderer.render(event))
        self.room.announce(event, joined=session)
        self._show_channel(session, chatroom)
        self.chathistory.replay(session, chatroom)

    def _show_channel(self, session: IrcSession, chatroom: ChatRoom) -> None:
        """What a ``JOIN`` is answered with: the topic (if any) and the names."""
        if chatroom.topic is not None:
            session.reply("332", channel(chatroom.key), chatroom.topic)
        self._names(session, chatroom)

    def _names(self, session: IrcSession, chatroom: ChatRoom, end: bool = True) -> None:
        """``353`` lines (at most :data:`NAMES_CHUNK` bytes of names each), then ``366``
        (unless not ``end``)."""
        name = channel(chatroom.key)
        chunk: list[str] = []
        size = 0
        multi = "multi-prefix" in session.caps
        source = session.renderer.source if "userhost-in-names" in session.caps else None
        users = chatroom.users
        names = [
            prefix(chatroom, nick_key, multi)
            + (source(users[nick_key]) if source else users[nick_key])
            for nick_key in sorted(users)
        ]
        symbol = "@" if chatroom.secret else "="
        for nick in names:
            if chunk and size + len(nick.encode()) + 1 > NAMES_CHUNK:
                session.reply("353", symbol, name, " ".join(chunk))
                chunk, size = [], 0
            chunk.append(nick)
            size += len(nick.encode()) + 1
        if chunk:
            session.reply("353", symbol, name, " ".join(chunk))
        if end:
            session.reply("366", name, "End of /NAMES list")

    @irc_command("PART", 1)
    def part(self, session: IrcSession, message: Message) -> None:
        """``PART #ROOM[,#ROOM...] [:REASON]``: leave rooms, staying in the chat."""
        reason = message.params[1] if len(message.params) > 1 else None
        for name in message.params[0].split(","):
            chatroom = self._find(name)
            if chatroom is None:
                session.reply("403", name, "No such channel")
            elif chatroom not in self.room.rooms_of(session):
                session.reply("442", name, "You're not on that channel")
            else:
                self._part(session, chatroom, reason)

    def _part(self, session: IrcSession, chatroom: ChatRoom, reason: str | None = None) -> None:
        event = self.events.left(chatroom.key, session.nickname or "", chatroom.name)
        event.reason = reason
        session.send(session.renderer.render(event))
        if self.room.part_now(session, chatroom, reason=reason):
            self.room.announce(event)

    def _find(self, name: str) -> ChatRoom | None:
        """The room of the channel ``name`` (``#`` and all), if it exists."""
        if not name.startswith("#"):
            return None
        return self.room.find_room(roomnames.normalize(name))

    @irc_command("PRIVMSG")
    def privmsg(self, session: IrcSession, message: Message) -> None:
        """``PRIVMSG TARGET :TEXT`` to a room (its members only) or to a nickname."""
        self._message(session, message, notice=False)

    @irc_command("NOTICE")
    def notice(self, session: IrcSession, message: Message) -> None:
        """``NOTICE TARGET :TEXT``: as ``PRIVMSG``, but never answered with an error."""
        self._message(session, message, notice=True)

    def _message(self, session: IrcSession, message: Message, notice: bool) -> None:
        params = message.params
        command = message.command
        if not params:
            if not notice:
                session.reply("411", f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[1].strip(" \t"):
            if not notice:
                session.reply("412", "No text to send")
            return
        target, text = params[0], params[1]
        if not text.isprintable() and not (text := self._formatted(session, text, notice)):
            return
        if "," in target:
            if not notice:
                session.reply("407", target, "Too many targets")
            return
        if self.room.mutes and self._muted(session, notice):
            return
        # the sender's client-only tags, for readers with message-tags (rarely any)
        tags = client_tags(message.tags) if message.tags and session.renderer.client_tags else None
        if target.startswith("#"):
            self._to_room(session, target, text, notice, tags)
        else:
            self._to_nick(session, target, text, notice, tags)

    def _formatted(self, session: IrcSession, text: str, notice: bool) -> str:
        """A message's ``text`` with formatting codes or CTCP, as the chat keeps it (a CTCP
        message whole: ``\x01ACTION baila\x01``), or ``""`` once refused: a ``\x01`` out of
        place (refused as any control character), nothing to read but codes (``412``)."""
        if not formatting.valid_message(text):
            session.refuse(Text("control_chars"))
            return ""
        if text.startswith(formatting.CTCP):
            text = formatting.normalise_ctcp(text)
            if formatting.is_ctcp_query(text):
                return text
        if not formatting.plain_text(text).strip(" \t"):
            if not notice:
                session.reply("412", "No text to send")
            return ""
        return text

    def _muted(self, session: IrcSession, notice: bool) -> bool:
        """Whether ``session`` is muted; if so, a ``PRIVMSG`` gets the chat's error."""
        now = self.chat.clock.seconds()
        until = self.room.muted_until(session.nickname or "", now)
        if until is None:
            return False
        if not notice:
            session.deliver(self.events.error("muted", remaining=remaining(until - now)))
        return True

    def _to_room(
        self,
        session: IrcSession,
        target: str,
        text: str,
        notice: bool,
        tags: dict[str, str] | None = None,
    ) -> None:
        """A message to the channel ``target``: its members but the sender get it (``tags``:
        the sender's client-only tags, for readers with ``message-tags``)."""
        chatroom = self._find(target)
        if chatroom is None:
            if not notice:
                session.reply("403", target, "No such channel")
            return
        room = self.room
        if chatroom not in room.rooms_of(session):
            if not notice:
                session.reply("404", target, "Cannot send to channel")
            return
        if chatroom.moderated and not self.chat.may_speak(session, chatroom):
            if not notice:
                session.reply("404", target, "Cannot send to channel (+m)")
            return
        self.chat.public_messages += 1
        public = self.events.public(chatroom.key, session.nickname or "", text)
        public.notice = notice
        public.irc = True
        public.tags = tags
        room.say(public, session)
        if self.chat.history is not None and not formatting.is_ctcp_query(text):
            self.chat.history.said(public)  # a CTCP query is no conversation: not kept
        if session.renderer.echo:
            session.send(session.renderer.render(public))

    def _to_nick(
        self,
        session: IrcSession,
        target: str,
        text: str,
        notice: bool,
        tags: dict[str, str] | None = None,
    ) -> None:
        """A message to the user ``target``, wherever it is in the chat (``tags``: as
        :meth:`_to_room`'s; a user of another node gets the message without them)."""
        room = self.room
        nick = session.nickname or ""
        recipient = room.find(target)
        if recipient is None:
            if not notice:
                session.reply("401", target, "No such nick/channel")
            return
        if (
            isinstance(recipient, Session)
            and not isinstance(recipient, IrcSession)
            and formatting.is_ctcp_query(text)
        ):
            # only IRC clients answer CTCP: a query to a line or web user of this node gets a
            # NOTICE back, a reply nothing (a user of another node: its node renders nothing
            # for a line user, as for a CTCP query to a room)
            if not notice:
                command = formatting.ctcp_command(text) or ""
                nick_to = recipient.nickname or target
                notice_ = self.events.notice("ctcp_not_delivered", nick=nick_to, command=command)
                session.deliver(notice_)
            return
        self.chat.private_messages += 1
        private = self.events.private(nick, recipient.nickname or "", text)
        private.notice = notice
        private.irc = True
        private.tags = tags
        room.deliver(recipient, private)
        if session.renderer.echo:
            session.echo(private)
        away = None if notice else self._away(None, recipient.nickname or target)
        if away is not None:
            session.reply("301", recipient.nickname or target, away)

    @irc_command("TOPIC", 1)
    def topic(self, session: IrcSession, message: Message) -> None:
        """``TOPIC #ROOM``: show it (``331``/``332``); ``TOPIC #ROOM :TEXT``: set it, by the
        chat's rules (the room's operator or a server operator; ``482`` otherwise)."""
        name = message.params[0]
        chatroom = self._find(name)
        if chatroom is None:
            session.reply("403", name, "No such channel")
            return
        text = message.params[1].strip(" \t") if len(message.params) > 1 else ""
        if not text:
            if chatroom.topic is None:
                session.reply("331", channel(chatroom.key), "No topic is set")
            else:
                session.reply("332", channel(chatroom.key), chatroom.topic)
            return
        if chatroom not in self.room.rooms_of(session):
            session.reply("442", name, "You're not on that channel")
            return
        refusal = self.rooms.set_topic(session, chatroom, text)
        if refusal is not None:
            session.deliver(refusal)

    @irc_command("NAMES")
    def names(self, session: IrcSession, message: Message) -> None:
        """``NAMES #ROOM[,#ROOM...]``: the members of each room that exists (``353``), then
        one ``366`` naming what was asked."""
        if not message.params:
            session.reply("366", "*", "End of /NAMES list")
            return
        wanted = message.params[0]
        for name in wanted.split(","):
            chatroom = self._find(name)
            if chatroom is not None and self.room.visible_to(chatroom, session):
                self._names(session, chatroom, end=False)
        # what was asked, unless that would make the line too long for IRC's 512 bytes
        session.reply("366", wanted if len(wanted.encode()) <= 300 else "*", "End of /NAMES list")

    # -- who is who ---------------------------------------------------------------------------

    def _plain(self, session: IrcSession, code: str, *params: str) -> None:
        """The numeric ``code`` with ``params``, none of them after `` :``."""
        session.send(session.renderer.numeric(code, session.target(), *params, trailing=False))

    def _user(self, nick: str) -> Session | None:
        """The session logged in as ``nick`` (any case), if any."""
        member = self.room.member(nick)
        return member if isinstance(member, Session) else None

    def _is_operator(self, user: Session) -> bool:
        """Whether ``user`` is a server operator (``--operator``, logged in with its password)."""
        return self.chat.operators.is_operator(user)

    @staticmethod
    def _username(user: Session | None, nick: str = "") -> str:
        """The user name ``WHO`` and ``WHOIS`` show: ``~`` and ``USER``'s name (letters,
        digits, ``_``, ``.`` and ``-`` only, at most :data:`USERLEN`; ``~``: no ident check) for
        an IRC user, the nickname for anyone else (``nick`` for a user of another node)."""
        if user is None:
            return nick
        name = user.user if isinstance(user, IrcSession) else None
        name = USER_DROPPED.sub("", name or "")[:USERLEN]
        return f"~{name}" if name else user.nickname or ""

    def user_info(self, nick: str, user: Session | None = None) -> UserInfo:
        """What ``WHO``, ``WHOIS``, ``USERHOST`` and a ``PRIVMSG``'s ``301`` tell of a user
        beyond its nickname and rooms (real name, away message, account, server operator,
        ``+i``), the same for ``user``, a session of this node, read off it, as for ``nick``, a
        user of another node of a cluster, as its own node told (nothing known: for nobody)."""
        if user is None:
            user = self._user(nick)
        if user is not None:
            return userinfo.describe(user, self.chat.operators)
        return self.room.remote_info(nick) or NO_INFO

    def _away(self, user: Session | None, nick: str = "") -> str | None:
        """The away message of ``user`` (``None``: of ``nick``, anywhere), if away."""
        return self.user_info(nick, user).away

    def _realname(self, user: Session | None, nick: str = "") -> str:
        """The real name of ``user`` (``None``: of ``nick``, anywhere): ``USER``'s, or its
        nickname (a line user's)."""
        if user is not None:
            nick = user.nickname or ""
        return self.user_info(nick, user).realname or nick

    def _flags(self, user: Session | None, chatroom: ChatRoom | None, nick: str = "") -> str:
        """``WHO``'s flags of ``user`` (``None``: ``nick``, a user of another node): ``H``
        here or ``G`` away, ``*`` for a server operator, ``@`` for the operator of
        ``chatroom``."""
        if user is not None:
            nick = user.nickname or ""
        info = self.user_info(nick, user)
        flags = "H" if info.away is None else "G"
        if info.is_operator(nick):
            flags += "*"
        if chatroom is not None:
            flags += prefix(chatroom, nicknames.key(nick), multi=True)
        return flags

    def _remote(self, nick: str) -> str | None:
        """The nickname, as spelled, of ``nick`` when it is a user of another node of the
        cluster (``None`` for nobody, or a user of this node)."""
        if self.room.member(nick) is not None:
            return None
        found = self.room.find(nick)
        return None if found is None else found.nickname

    @irc_command("WHO")
    def who(self, session: IrcSession, message: Message) -> None:
        """``WHO #ROOM`` (its members), ``WHO MASK`` (the users whose nickname or real name
        match, ``*`` and ``?`` as wildcards), ``o`` for server operators only, and WHOX's
        ``%FIELDS[,TOKEN]``: one ``352`` (``354``) per user, then ``315``."""
        params = message.params
        mask = params[0] if params and params[0] else "*"
        flags, whox, fields = params[1].partition("%") if len(params) > 1 else ("", "", "")
        fields, _, token = fields.partition(",")
        chatroom = self._find(mask)
        rows: list[tuple[str, Session | None, ChatRoom | None]] = []
        if chatroom is not None and self.room.visible_to(chatroom, session):
            users = chatroom.users
            for nick_key in sorted(users):
                user = self._user(users[nick_key])
                if user is not None or self.room.member(users[nick_key]) is None:
                    rows.append((users[nick_key], user, chatroom))  # None: another node's
        elif not mask.startswith("#"):
            rows = [(nick, user, None) for nick, user in self._matching(mask)]
        if chatroom is not None or "*" in mask or "?" in mask:  # not for one nickname
            rows = [row for row in rows if self._sees(session, row[1], row[0])]
        for nick, user, where in rows:
            if "o" in flags and not self.user_info(nick, user).is_operator(
                user.nickname or "" if user is not None else nick
            ):
                continue
            if whox:
                self._whox_row(session, user, nick, where, fields, token)
            else:
                nick = user.nickname or "" if user is not None else nick
                session.reply(
                    "352",
                    channel(where.key) if where is not None else "*",
                    self._username(user, nick),
                    self.server_name,
                    self.server_name,
                    nick,
                    self._flags(user, where, nick),
                    f"0 {self._realname(user, nick)}",
                )
        session.reply("315", mask, "End of WHO list")

    def _matching(self, mask: str) -> list[tuple[str, Session | None]]:
        """The users whose nickname or real name match ``mask`` (any case), by nickname: each
        its nickname and its session (``None`` for a user of another node, matched by its
        nickname alone)."""
        if "*" not in mask and "?" not in mask:
            user = self._user(mask)
            if user is not None:
                return [(user.nickname or "", user)]
            remote = self._remote(mask)
            return [] if remote is None else [(remote, None)]
        pattern = re.escape(mask.casefold()).replace(r"\*", ".*").replace(r"\?", ".")
        regex = re.compile(pattern, re.DOTALL)
        found: list[tuple[str, Session | None]] = []
        for member in self.room.members():
            if isinstance(member, Session) and (
                regex.fullmatch((member.nickname or "").casefold())
                or regex.fullmatch(self._realname(member).casefold())
            ):
                found.append((member.nickname or "", member))
        for nick in self.room.nicknames():
            if self.room.member(nick) is None and (
                regex.fullmatch(nick.casefold())
                or regex.fullmatch(self._realname(None, nick).casefold())
            ):
                found.append((nick, None))
        found.sort(key=lambda row: nicknames.key(row[0]))
        return found

    def _whox_row(
        self,
        session: IrcSession,
        user: Session | None,
        nick: str,
        where: ChatRoom | None,
        fields: str,
        token: str,
    ) -> None:
        """One WHOX reply (``354``): the ``fields`` asked for, in WHOX's order (``user``
        ``None``: ``nick``, a user of another node)."""
        if user is not None:
            nick = user.nickname or ""
        values = {
            "t": token if token.isdigit() and len(token) <= 3 else "0",
            "c": channel(where.key) if where is not None else "*",
            "u": self._username(user, nick),
            "i": "255.255.255.255",  # nobody's address is shown
            "h": self.server_name,
            "s": self.server_name,
            "n": nick,
            "f": self._flags(user, where, nick),
            "d": "0",
            "l": "0",
            "a": nick if self.user_info(nick, user).logged_in(nick) else "0",
            "o": "n/a",
            "r": self._realname(user, nick),
        }
        params = [values[field] for field in WHOX_FIELDS if field in fields]
        if "r" in fields:
            session.reply("354", *params)
        else:
            self._plain(session, "354", *params)

    @irc_command("WHOIS")
    def whois(self, session: IrcSession, message: Message) -> None:
        """``WHOIS [SERVER] NICK``: ``311``, ``319`` (its channels, ``@`` where it is the
        operator), ``312``, ``313`` (a server operator), ``301`` (away), ``330`` (logged in
        with its password), ``318``; ``401`` for nobody."""
        params = message.params
        if not params or not params[-1]:
            session.reply("431", "No nickname given")
            return
        wanted = params[-1]
        user = self._user(wanted)
        remote = self._remote(wanted) if user is None else None
        if remote is not None:
            self._whois_remote(session, remote)
            return
        if user is None:
            session.reply("401", wanted, "No such nick/channel")
            session.reply("318", wanted, "End of /WHOIS list")
            return
        nick = user.nickname or wanted
        session.reply(
            "311", nick, self._username(user), self.server_name, "*", self._realname(user)
        )
        nick_key = nicknames.key(nick)
        names = [
            prefix(chatroom, nick_key, multi="multi-prefix" in session.caps) + channel(chatroom.key)
            for chatroom in self.room.rooms_of(user)
            if self.room.visible_to(chatroom, session)
        ]
        for chunk in _chunks(names, NAMES_CHUNK):
            session.reply("319", nick, chunk)
        session.reply("312", nick, self.server_name, "twisted-chat")
        if self._is_operator(user):
            session.reply("313", nick, "is an IRC operator")
        away = self._away(user)
        if away is not None:
            session.reply("301", nick, away)
        if self.chat.operators.has_password(user):
            session.reply("330", nick, nick, "is logged in as")
        session.reply("318", nick, "End of /WHOIS list")

    def _whois_remote(self, session: IrcSession, nick: str) -> None:
        """``WHOIS`` of ``nick``, a user of another node: its rooms as this node knows them,
        the rest (:meth:`user_info`) as its own node told."""
        info = self.user_info(nick)
        session.reply("311", nick, nick, self.server_name, "*", info.realname or nick)
        nick_key = nicknames.key(nick)
        names = [
            prefix(chatroom, nick_key, multi="multi-prefix" in session.caps) + channel(chatroom.key)
            for chatroom in self.room.room_list()
            if nick_key in chatroom.users and self.room.visible_to(chatroom, session)
        ]
        for chunk in _chunks(names, NAMES_CHUNK):
            session.reply("319", nick, chunk)
        session.reply("312", nick, self.server_name, "twisted-chat")
        if info.is_operator(nick):
            session.reply("313", nick, "is an IRC operator")
        if info.away is not None:
            session.reply("301", nick, info.away)
        if info.logged_in(nick):
            session.reply("330", nick, nick, "is logged in as")
        session.reply("318", nick, "End of /WHOIS list")

    @irc_command("LIST")
    def list_(self, session: IrcSession, message: Message) -> None:
        """``LIST [#ROOM[,#ROOM...]]``: ``321``, a ``322`` per room (members, topic), ``323``."""
        if message.params and message.params[0].startswith("#"):
            found = (self._find(name) for name in message.params[0].split(","))
            rooms = list({chatroom.key: chatroom for chatroom in found if chatroom}.values())
        else:
            rooms = self.room.room_list()
        session.reply("321", "Channel", "Users  Name")
        for chatroom in rooms:
            if chatroom.secret and not self.room.visible_to(chatroom, session):
                continue  # a secret room is not listed to outsiders
            session.reply("322", channel(chatroom.key), str(len(chatroom)), chatroom.topic or "")
        session.reply("323", "End of /LIST")

    @irc_command("AWAY")
    def away(self, session: IrcSession, message: Message) -> None:
        """``AWAY :TEXT``: away (``306``; a ``PRIVMSG`` to it gets ``301``); ``AWAY``: back
        (``305``)."""
        text = message.params[0].strip(" \t")[:AWAYLEN] if message.params else ""
        if text:
            session.away = text
            session.reply("306", "You have been marked as being away")
        else:
            session.away = None
            session.reply("305", "You are no longer marked as being away")
        self.room.info_changed(session)

    @irc_command("LUSERS")
    def lusers(self, session: IrcSession, message: Message) -> None:
        """``LUSERS`` (also said in the welcome): users of every node (``251``) and of this one
        (``255``), server operators of this node (``252``), rooms (``254``), now and the most at
        once on this node (``265``) and in the whole chat (``266``; one server: the same)."""
        self._lusers(session)

    def _lusers(self, session: IrcSession) -> None:
        room = self.room
        users = len(room)
        most = max(room.most_users, users)
        everyone = len(room.nicknames())  # in a cluster: every node's users
        self._most_global = most_global = max(self._most_global, everyone, most)
        servers = room.node_count()
        operators = sum(
            1
            for member in room.members()
            if isinstance(member, Session) and self._is_operator(member)
        )
        invisible = sum(
            1 for member in room.members() if isinstance(member, IrcSession) and member.invisible
        ) + sum(1 for nick in room.nicknames() if (room.remote_info(nick) or NO_INFO).invisible)
        visible = everyone - invisible
        session.reply(
            "251", f"There are {visible} users and {invisible} invisible on {servers} servers"
        )
        session.reply("252", str(operators), "operator(s) online")
        session.reply("254", str(len(room.rooms)), "channels formed")
        session.reply("255", f"I have {users} clients and {servers - 1} servers")
        session.reply("265", str(users), str(most), f"Current local users {users}, max {most}")
        session.reply(
            "266",
            str(everyone),
            str(most_global),
            f"Current global users {everyone}, max {most_global}",
        )

    # -- modes --------------------------------------------------------------------------------

    @irc_command("MODE", 1)
    def mode(self, session: IrcSession, message: Message) -> None:
        """``MODE NICK`` (``221``) and ``MODE #ROOM`` (``324``): what they are; nothing can be
        changed (``501``, ``472``; ``482`` for a non-operator, ``502`` for someone else)."""
        target, changes = message.params[0], message.params[1:]
        if target.startswith("#"):
            self._channel_mode(session, target, changes)
        else:
            self._user_mode(session, target, changes)

    def _user_mode(self, session: IrcSession, target: str, changes: Sequence[str]) -> None:
        user = self.room.find(target)
        if user is None:
            session.reply("401", target, "No such nick/channel")
        elif user is not session:
            session.reply("502", "Can't view or change the modes of other users")
        elif changes and changes[0].strip("+-"):
            self._change_user_modes(session, changes[0])
        else:
            modes = ("i" if session.invisible else "") + ("o" if self._is_operator(session) else "")
            self._plain(session, "221", "+" + modes)

    def _change_user_modes(self, session: IrcSession, modes: str) -> None:
        """``MODE NICK +i`` / ``-i``: invisible (hidden from ``WHO`` masks, see :meth:`_sees`)
        or not, the change said back as a ``MODE`` line; any other flag gets ``501`` (once),
        the ``i`` of the same change still applied."""
        before = session.invisible
        adding = True
        unknown = False
        for char in modes:
            if char in "+-":
                adding = char == "+"
            elif char == "i":
                session.invisible = adding
            else:
                unknown = True
        if unknown:
            session.reply("501", "Unknown MODE flag")
        if session.invisible != before:
            self.room.info_changed(session)
            nick = session.nickname or ""
            change = "+i" if session.invisible else "-i"
            source = session.renderer.source(nick)
            session.send(session.renderer.line("MODE", nick, change, source=source, trailing=True))

    def _sees(self, session: IrcSession, user: Session | None, nick: str = "") -> bool:
        """Whether ``WHO`` by mask or by room shows ``user`` (``None``: ``nick``, a user of
        another node) to ``session``: not if it is invisible (``+i``) and shares no room with
        ``session``, unless ``session`` is itself or a server operator."""
        if user is session or not self.user_info(nick, user).invisible:
            return True
        if self._is_operator(session):
            return True
        nick_key = nicknames.key(user.nickname or "" if user is not None else nick)
        return any(nick_key in chatroom.users for chatroom in self.room.rooms_of(session))

    def _channel_mode(self, session: IrcSession, name: str, changes: Sequence[str]) -> None:
        """``MODE #ROOM``: ``324``; the lists ``b``, ``e``, ``I``: empty; a change: see
        :meth:`_change_channel_modes`."""
        chatroom = self._find(name)
        if chatroom is None:
            session.reply("403", name, "No such channel")
            return
        chan = channel(chatroom.key)
        modes = changes[0] if changes else ""
        if not modes.strip("+-"):
            self._plain(session, "324", chan, chatroom.modes())
            return
        lists = {"b": ("368", "ban"), "e": ("349", "exception"), "I": ("347", "invite")}
        if modes.lstrip("+") in lists and len(changes) == 1:  # a list: always empty
            code, kind = lists[modes.lstrip("+")]
            session.reply(code, chan, f"End of channel {kind} list")
            return
        if not self._room_operator(session, chatroom):
            session.reply("482", chan, "You're not channel operator")
            return
        self._change_channel_modes(session, chatroom, modes, list(changes[1:]), lists)

    def _change_channel_modes(
        self,
        session: IrcSession,
        chatroom: ChatRoom,
        modes: str,
        args: list[str],
        lists: Collection[str],
    ) -> None:
        """A change by the room's operator or a server operator: ``s`` and ``m`` set or unset,
        ``v NICK`` given or taken (a member: ``441`` otherwise, ``401`` for nobody); ``n`` and
        ``t`` are always set, ``o`` (the creator's) and the lists cannot be changed (``472``,
        once each). What changed is told to the room's members: a ``MODE`` line to IRC users,
        a ``* `` notice to the others."""
        chan = channel(chatroom.key)
        wanted, refused = _mode_changes(modes, args, lists)
        for char in refused:
            known = char in CHANNEL_MODES or char in "o" or char in lists
            why = "cannot be changed on this server" if known else "is unknown mode char to me"
            session.reply("472", char, why)
        secret, moderated = chatroom.secret, chatroom.moderated
        voiced = set(chatroom.voiced)
        applied: list[tuple[bool, str, str | None]] = []
        for adding, char, nick in wanted:
            if nick is not None:
                self._voice(session, chatroom, nick, adding, voiced, applied)
            elif (secret if char == "s" else moderated) != adding:
                if char == "s":
                    secret = adding
                else:
                    moderated = adding
                applied.append((adding, char, None))
        if not applied:
            return
        change = _mode_text(applied)
        by = session.nickname or ""
        self.log.info(
            "{by} set the modes {modes} of {room}", by=by, modes=change, room=chatroom.key
        )
        self.room.set_modes(chatroom, secret, moderated, voiced, by, change)
        self._tell_modes(chatroom, by, change)
        if chatroom not in self.room.rooms_of(session):  # a server operator from outside
            source = session.renderer.source(by)
            session.send(session.renderer.line("MODE", chan, *change.split(" "), source=source))

    def _voice(
        self,
        session: IrcSession,
        chatroom: ChatRoom,
        nick: str,
        adding: bool,
        voiced: set[str],
        applied: list[tuple[bool, str, str | None]],
    ) -> None:
        """Give (or take) ``nick`` voice in ``chatroom``, in ``voiced``, noted in ``applied``."""
        nick_key = nicknames.key(nick)
        spelling = chatroom.users.get(nick_key)
        if spelling is None:
            if self.room.find(nick) is None:
                session.reply("401", nick, "No such nick/channel")
            else:
                session.reply("441", nick, channel(chatroom.key), "They aren't on that channel")
            return
        if (nick_key in voiced) != adding:
            if adding:
                voiced.add(nick_key)
            else:
                voiced.discard(nick_key)
            applied.append((adding, "v", spelling))

    def _tell_modes(self, chatroom: ChatRoom, by: str, change: str) -> None:
        """Tell ``chatroom``'s members of this node that ``by`` changed its modes
        (``change``, as IRC writes it: ``+mv-s bob``): ``:by!by@S MODE #room +mv-s bob`` to IRC
        users, the chat's notice to the others."""
        room = self.room
        if room.has_notices:
            room.flush_notices()
        chan = channel(chatroom.key)
        notice = self.events.notice("room_modes", nick=by, modes=change, room=chatroom.name)
        for renderer, group in list(chatroom.groups.items()):
            if isinstance(renderer, IrcRenderer):
                source = renderer.source(by)
                data = renderer.line("MODE", chan, *change.split(" "), source=source)
            else:
                data = renderer.render(notice)
            for member in list(group):
                member.send(data)

    def _modes_from_elsewhere(self, chatroom: ChatRoom, by: str, change: str) -> None:
        """Another node's ``MODE`` (already applied): told to the room's members here."""
        self._tell_modes(chatroom, by, change)

    def _room_operator(self, session: Session, chatroom: ChatRoom) -> bool:
        """Whether ``session`` may run ``chatroom``: its operator (``@``), or a server
        operator."""
        nick_key = nicknames.key(session.nickname or "")
        return chatroom.operator == nick_key or self._is_operator(session)

    # -- kicks ----------------------------------------------------------------------------------

    @irc_command("KICK", 2)
    def kick(self, session: IrcSession, message: Message) -> None:
        """``KICK #ROOM NICK[,NICK...] [:REASON]`` by the room's operator or a server operator
        (``482`` otherwise): the user leaves the room (a line user goes back to the default
        room) and every member reads why."""
        name, targets = message.params[0], message.params[1]
        reason = message.params[2].strip(" \t")[:KICKLEN] if len(message.params) > 2 else ""
        chatroom = self._find(name)
        if chatroom is None:
            session.reply("403", name, "No such channel")
            return
        chan = channel(chatroom.key)
        if chatroom not in self.room.rooms_of(session):
            session.reply("442", chan, "You're not on that channel")
            return
        if not self._room_operator(session, chatroom):
            session.reply("482", chan, "You're not channel operator")
            return
        for nick in targets.split(","):
            if nick:
                self._kick(session, chatroom, nick, reason)

    def _kick(self, session: IrcSession, chatroom: ChatRoom, nick: str, reason: str) -> None:
        """Send ``nick`` out of ``chatroom`` (a user of another node: its node does, and every
        node's members read the ``KICK`` when it tells them)."""
        room = self.room
        target = self._user(nick)
        by = session.nickname or ""
        if target is None and room.kick_from(nick, chatroom, reason, by):
            return
        if target is None or chatroom not in room.rooms_of(target):
            session.reply("441", nick, channel(chatroom.key), "They aren't on that channel")
            return
        default = room.default
        if not isinstance(target, IrcSession) and chatroom is default:
            spelling = target.nickname or nick
            session.deliver(self.events.notice("kick_default", nick=spelling, room=default.name))
            return
        self._send_out(target, chatroom, reason, by)

    def _kicked_from_elsewhere(
        self, member: Member, chatroom: ChatRoom, reason: str, by: str
    ) -> None:
        """An operator on another node sent ``member`` out of ``chatroom`` (it checked who may,
        as :meth:`kick` does)."""
        if not isinstance(member, Session):
            return
        if not isinstance(member, IrcSession) and chatroom is self.room.default:
            return  # a line user is not sent out of the default room
        self._send_out(member, chatroom, reason, by)

    def _send_out(self, target: Session, chatroom: ChatRoom, reason: str, by: str) -> None:
        """Send ``target`` out of ``chatroom`` (by ``by``, for ``reason``): every member reads
        the ``KICK``; an IRC user leaves the room, a line user goes back to the default room."""
        room = self.room
        spelling = target.nickname or ""
        default = room.default
        moves = not isinstance(target, IrcSession)  # a line user is always in one room
        self.log.info(
            "{by} sent {nick} out of {room}: {reason}",
            by=by,
            nick=spelling,
            room=chatroom.key,
            reason=reason,
        )
        event = self.events.left(chatroom.key, spelling, chatroom.name)
        event.by = by
        event.reason = reason or None
        if room.has_notices:
            room.flush_notices()
        room.broadcast_room(event)  # the kicked user reads it too
        if not moves:
            room.part_now(target, chatroom, by=by, reason=reason or None)
            return
        room.send_back(target, by, reason or None)
        room.announce(self.events.joined(default.key, spelling, default.name), joined=target)
        lines = self.rooms.room_lines(default)
        target.deliver_all(lines if default.topic is not None else lines[:1])
        if self.rooms.after_enter is not None:
            self.rooms.after_enter(target, default)

    @irc_command("OPER", 2)
    def oper(self, session: IrcSession, message: Message) -> None:
        """``OPER NAME PASSWORD``: a server operator's rights for this connection, given the
        password of ``NAME``, an ``--operator`` nickname's account (checked, and rate limited,
        as a login is): ``381`` and ``MODE NICK +o``; ``464`` for anything else (which names
        are operators is not told)."""
        name, password = message.params[0], message.params[1]
        accounts = self.chat.accounts
        operators = self.chat.operators
        if accounts is None or self._is_operator(session):
            if accounts is not None:
                session.reply("381", "You are now an IRC operator")
            else:
                session.reply("464", "Password incorrect")
            return
        account = nicknames.normalize(name)

        def checked(ok: bool) -> None:
            if ok and nicknames.key(account) in operators.keys:
                operators.act_as(session, account)
                self.room.info_changed(session)
                nick = session.nickname or ""
                self.log.info(
                    "{nick} is a server operator as {account}", nick=nick, account=account
                )
                session.reply("381", "You are now an IRC operator")
                renderer = session.renderer
                session.send(
                    renderer.line("MODE", nick, "+o", source=renderer.source(nick), trailing=True)
                )
            else:
                session.reply("464", "Password incorrect")

        self._check_password(session, "OPER", account, password, checked)

    @irc_command("KILL", 1)
    def kill(self, session: IrcSession, message: Message) -> None:
        """``KILL NICK [:REASON]``: a server operator's ``/expulsar`` (``481`` for anyone
        else); the user is disconnected with the reason."""
        if not self._is_operator(session):
            session.reply("481", "Permission Denied- You're not an IRC operator")
            return
        nick = message.params[0]
        if self.room.find(nick) is None:
            session.reply("401", nick, "No such nick/channel")
            return
        reason = message.params[1].strip(" \t") if len(message.params) > 1 else ""
        self.chat.commands.dispatch(session, f"expulsar {nick} {reason}".rstrip())


def _chunks(words: Iterable[str], limit: int) -> list[str]:
    """``words`` joined by spaces into lines of at most ``limit`` bytes (one word at least)."""
    lines: list[str] = []
    chunk: list[str] = []
    size = 0
    for word in words:
        length = len(word.encode()) + 1
        if chunk and size + length > limit:
            lines.append(" ".join(chunk))
            chunk, size = [], 0
        chunk.append(word)
        size += length
    if chunk:
        lines.append(" ".join(chunk))
    return lines


def _reads_tags(renderer: object) -> bool:
    """Whether the readers of ``renderer`` get ``TAGMSG``: IRC clients with ``message-tags``."""
    return isinstance(renderer, IrcRenderer) and renderer.client_tags
