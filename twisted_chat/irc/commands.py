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
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import __version__, nicknames, roomnames
from twisted_chat.accounts import LoginCheck
from twisted_chat.chat import ChatCore
from twisted_chat.irc.message import Message, TooLong, parse
from twisted_chat.irc.render import IrcRenderer, channel
from twisted_chat.irc.session import IrcSession
from twisted_chat.operators import remaining
from twisted_chat.room import ChatRoom, Entered
from twisted_chat.rooms import RoomCommands
from twisted_chat.text import Language

#: The capabilities offered (``CAP LS``), with their values for ``CAP LS 302``.
CAPABILITIES: Final = {
    "echo-message": "",
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
#: Most bytes of names in one ``353`` line.
NAMES_CHUNK: Final = 400


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
    ) -> None:
        self.chat = chat
        self.room = chat.room
        self.events = chat.events
        #: The rooms' commands (the topic rules).
        self.rooms = rooms
        self.language = language
        #: The server's name: the source of its replies.
        self.server_name = server_name
        self._created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        # One renderer per set of rendering capabilities (a handful at most).
        self._renderers: dict[frozenset[str], IrcRenderer] = {}

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
            "CASEMAPPING=ascii",
            "CHANMODES=,,,",
            "CHANNELLEN=33",
            "CHANTYPES=#",
            "NETWORK=twisted-chat",
            f"NICKLEN={nicknames.MAX_NICKNAME_LENGTH}",
            "PREFIX=(o)@",
            "TARGMAX=PRIVMSG:1,NOTICE:1,JOIN:,PART:,NAMES:1",
            f"TOPICLEN={roomnames.MAX_TOPIC_LENGTH}",
            "UTF8ONLY",
        ]

    # -- the dispatcher ---------------------------------------------------------------------

    def line_received(self, session: IrcSession, text: str) -> None:
        """One decoded line of ``session`` (the session's limits passed): parse it, check the
        command's rules, run it."""
        try:
            message = parse(text)
        except TooLong:
            session.reply("417", "Input line was too long")
            return
        if message is None:
            return
        room = self.room
        if room.has_notices:
            room.flush_notices()  # whatever this line causes comes after pending notices
        recados = self.chat.recados
        if recados is not None and session.nickname is not None and session in recados.unread:
            recados.read(session)
        command = COMMANDS.get(message.command)
        registered = session.nickname is not None
        if command is None:
            if registered:
                session.reply("421", message.command, "Unknown command")
            else:
                session.reply("451", "You have not registered")
            return
        if not registered and not command.before:
            session.reply("451", "You have not registered")
        elif registered and not command.after:
            session.reply("462", "You may not reregister")
        elif len(message.params) < command.min_params:
            session.reply("461", message.command, "Not enough parameters")
        else:
            command.handler(self, session, message)

    # -- registration -----------------------------------------------------------------------

    @irc_command("PASS", 1, before=True, after=False)
    def pass_(self, session: IrcSession, message: Message) -> None:
        """``PASS PASSWORD``: the password of the nickname to come (a registered one's)."""
        session.password = message.params[0]

    @irc_command("NICK", before=True)
    def nick(self, session: IrcSession, message: Message) -> None:
        """``NICK NICKNAME``: before registration, the nickname to log in with; after it, a
        change (not supported yet: ``400``)."""
        if not message.params or not message.params[0]:
            session.reply("431", "No nickname given")
            return
        wanted = message.params[0]
        if session.nickname is not None:
            if nicknames.key(wanted) != nicknames.key(session.nickname):
                session.reply("400", "NICK", "Nickname changes are not supported yet")
            return
        if any(c in wanted for c in " \t,*?!@#:"):
            session.reply("432", wanted, "Erroneous nickname")
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
        if renderer is not session.renderer and session.nickname is not None:
            # the room groups its members by renderer: fixed once logged in
            self._cap_reply(session, "NAK", wanted)
            return
        session.caps = caps
        if renderer is not session.renderer:
            session.use_renderer(renderer)
        self._cap_reply(session, "ACK", wanted)

    @irc_command("AUTHENTICATE", 1, before=True)
    def authenticate(self, session: IrcSession, message: Message) -> None:
        """SASL PLAIN (``AUTHENTICATE PLAIN``, then the payload): checked against the accounts
        as a password login is; ``903`` or ``904``."""
        arg = message.params[0]
        if session.nickname is not None or session.sasl_account is not None:
            session.reply("907", "You have already authenticated using SASL")
            return
        if "sasl" not in session.caps:
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
        if len(session.sasl_buffer) > MAX_SASL:
            self._sasl_reset(session)
            session.reply("905", "SASL message too long")
            return
        if len(arg) == 400:
            return  # more to come
        payload, session.sasl_buffer = session.sasl_buffer, ""
        self._sasl_plain(session, payload)

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
        session.hold()

        def checked(result: object) -> None:
            if session.closing:
                return
            if result is LoginCheck.OK:
                session.sasl_account = account
                session.sasl_password = password
                mask = f"{session.wanted_nick or account}!{session.user or account}@{session.host}"
                session.reply("900", mask, account, f"You are now logged in as {account}")
                session.reply("903", "SASL authentication successful")
            else:
                session.reply("904", "SASL authentication failed")
            session.release()

        def failed(failure: Failure) -> None:
            self.log.failure("checking SASL for {nick} failed", failure, nick=account)
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
        password = None
        if session.sasl_account is not None and nicknames.key(session.sasl_account) == (
            nicknames.key(nicknames.normalize(nick))
        ):
            password = session.sasl_password
        elif session.password:
            password = session.password
        self.chat.login(session, nick if password is None else f"{nick} {password}")

    def registered(self, session: IrcSession) -> None:
        """The chat accepted the login: ``001`` to ``005``, then the MOTD, made of the chat's
        lines of a login (the retention line, the last visit: see
        :meth:`IrcSession.start_welcome`), or ``422`` when there are none. The login put the
        user in the default room: an IRC user is taken out of it, in no room until it joins one."""
        self.room.part_now(session, self.room.default)
        nick = session.nickname or ""
        server = self.server_name
        version = f"twisted-chat-{__version__}"
        reply = session.reply
        reply("001", f"Welcome to the twisted-chat IRC network, {nick}")
        reply("002", f"Your host is {server}, running version {version}")
        reply("003", f"This server was created {self._created}")
        session.send(
            session.renderer.numeric("004", nick, server, version, "i", "o", trailing=False)
        )
        reply("005", *self.isupport(), "are supported by this server")
        if self.chat.logins is None:  # no visit line will come
            reply("422", "MOTD File is missing")
            return
        reply("375", f"- {server} Message of the day -")
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
        """A client's answer to a ``PING``: nothing to do (every line resets the idle timer)."""

    @irc_command("QUIT", before=True)
    def quit(self, session: IrcSession, message: Message) -> None:
        """``QUIT [:REASON]``: ``ERROR``, and the connection closes."""
        session.quit_reason = message.params[0] if message.params else ""
        session.close()

    @irc_command("MOTD", before=False)
    def motd(self, session: IrcSession, message: Message) -> None:
        """``MOTD``: there is none (``422``)."""
        session.reply("422", "MOTD File is missing")

    @irc_command("TAGMSG")
    def tagmsg(self, session: IrcSession, message: Message) -> None:
        """Client-only tags (typing notifications...): not relayed yet."""

    @irc_command("JOIN", 1)
    def join(self, session: IrcSession, message: Message) -> None:
        """``JOIN #ROOM[,#ROOM...]``: enter rooms (each created as ``/unirse`` creates one),
        staying in the others; ``JOIN 0`` leaves them all."""
        if message.params[0] == "0":
            for chatroom in self.room.rooms_of(session):
                self._part(session, chatroom)
            return
        for name in message.params[0].split(","):
            self._join(session, name)

    def _join(self, session: IrcSession, name: str) -> None:
        if not name.startswith("#"):
            session.reply("403", name, "No such channel")
            return
        room_name = roomnames.normalize(name)
        if not roomnames.is_valid(room_name):
            session.reply("479", name, "Illegal channel name")
            return
        move = self.room.join_now(session, room_name)
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
        history = self.chat.history
        if history is not None:
            history.replay(session, chatroom.key)

    def _show_channel(self, session: IrcSession, chatroom: ChatRoom) -> None:
        """What a ``JOIN`` is answered with: the topic (if any) and the names."""
        if chatroom.topic is not None:
            session.reply("332", channel(chatroom.key), chatroom.topic)
        self._names(session, chatroom)

    def _names(self, session: IrcSession, chatroom: ChatRoom) -> None:
        """``353`` lines (at most :data:`NAMES_CHUNK` bytes of names each), then ``366``."""
        name = channel(chatroom.key)
        chunk: list[str] = []
        size = 0
        names = chatroom.nicknames()
        if "userhost-in-names" in session.caps:
            source = session.renderer.source
            names = [n[0] + source(n[1:]) if n[0] == "@" else source(n) for n in names]
        for nick in names:
            if chunk and size + len(nick.encode()) + 1 > NAMES_CHUNK:
                session.reply("353", "=", name, " ".join(chunk))
                chunk, size = [], 0
            chunk.append(nick)
            size += len(nick.encode()) + 1
        if chunk:
            session.reply("353", "=", name, " ".join(chunk))
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
        if self.room.part_now(session, chatroom):
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
        if "," in target:
            if not notice:
                session.reply("407", target, "Too many targets")
            return
        if self.room.mutes and self._muted(session, notice):
            return
        if target.startswith("#"):
            self._to_room(session, target, text, notice)
        else:
            self._to_nick(session, target, text, notice)

    def _muted(self, session: IrcSession, notice: bool) -> bool:
        """Whether ``session`` is muted; if so, a ``PRIVMSG`` gets the chat's error."""
        now = self.chat.clock.seconds()
        until = self.room.muted_until(session.nickname or "", now)
        if until is None:
            return False
        if not notice:
            session.deliver(self.events.error("muted", remaining=remaining(until - now)))
        return True

    def _to_room(self, session: IrcSession, target: str, text: str, notice: bool) -> None:
        """A message to the channel ``target``: its members but the sender get it."""
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
        self.chat.public_messages += 1
        public = self.events.public(chatroom.key, session.nickname or "", text)
        public.notice = notice
        room.say(public, session)
        if self.chat.history is not None:
            self.chat.history.said(public)
        if session.renderer.echo:
            session.send(session.renderer.render(public))

    def _to_nick(self, session: IrcSession, target: str, text: str, notice: bool) -> None:
        """A message to the user ``target``, wherever it is in the chat."""
        room = self.room
        nick = session.nickname or ""
        recipient = room.find(target)
        if recipient is None:
            if not notice:
                session.reply("401", target, "No such nick/channel")
            return
        self.chat.private_messages += 1
        private = self.events.private(nick, recipient.nickname or "", text)
        private.notice = notice
        room.deliver(recipient, private)
        if session.renderer.echo:
            session.echo(private)

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
        """``NAMES #ROOM``: its members (``353``, ``366``)."""
        if not message.params:
            session.reply("366", "*", "End of /NAMES list")
            return
        for name in message.params[0].split(","):
            chatroom = self._find(name)
            if chatroom is None:
                session.reply("366", name, "End of /NAMES list")
            else:
                self._names(session, chatroom)
