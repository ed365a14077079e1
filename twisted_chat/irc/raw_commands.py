"""The chat's v1 commands from IRC: every ``/command`` of the command table, under its own name
(or an alias) as a raw IRC command, answered as the chat's events render for IRC (``NOTICE``s).

An IRC client sends what it does not know as a raw line (irssi's ``/historial 50`` is
``HISTORIAL 50``): the IRC dispatcher gives every command it has no entry for to
:meth:`RawCommands.run`, which looks the name up, in any case, in a table built from the chat's
own :class:`~twisted_chat.commands.CommandTable` (never ``getattr`` on wire input), and runs it
with the rest of the line as its arguments (the parameters joined by spaces, the trailing one
as sent). IRC's own commands come first: where a v1 name or alias is one (``LIST``, ``JOIN``,
``QUIT``, ``TOPIC``, ``PING``, ``NICK``), the IRC command runs; docs/IRC.md has the mapping.

A line user is always in one room; an IRC user may be in several or none, so the commands of
"your room" (``SALA``, ``TEMA``, ``HISTORIAL``, ``BUSCAR``) take a channel first
(``HISTORIAL #juegos 50``), which may be left out by a user in exactly one channel. Reading a
room's history needs being in it, as ``/historial`` reads only the user's own room.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from twisted_chat import formatting, roomnames
from twisted_chat.commands import CommandSpec
from twisted_chat.events import ByLang, Event
from twisted_chat.history import HistoryCommands
from twisted_chat.irc.message import Message
from twisted_chat.irc.render import channel
from twisted_chat.irc.session import IrcSession
from twisted_chat.lines import is_blank, split_first_word
from twisted_chat.room import ChatRoom

if TYPE_CHECKING:
    from twisted_chat.irc.commands import IrcCommands

#: IRC's own form of a v1 command (by its name), shown by ``HELP``.
IRC_FORMS: Final = {
    "listar": ByLang({"es": "WHO *", "en": "WHO *"}),
    "salir": ByLang({"es": "QUIT [:motivo]", "en": "QUIT [:reason]"}),
    "ayuda": ByLang({"es": "HELP", "en": "HELP"}),
    "hora": ByLang({"es": "TIME", "en": "TIME"}),
    "ping": ByLang({"es": "PING texto", "en": "PING token"}),
    "salas": ByLang({"es": "LIST", "en": "LIST"}),
    "unirse": ByLang({"es": "JOIN #sala", "en": "JOIN #room"}),
    "sala": ByLang({"es": "NAMES #sala", "en": "NAMES #room"}),
    "tema": ByLang({"es": "TOPIC #sala [:texto]", "en": "TOPIC #room [:text]"}),
    "expulsar": ByLang({"es": "KILL nick [:motivo]", "en": "KILL nick [:reason]"}),
    "nick": ByLang({"es": "NICK nuevo", "en": "NICK new"}),
    "me": ByLang({"es": "/me texto", "en": "/me text"}),
}
#: The commands of "your room", which take a channel first from IRC.
ROOM_COMMANDS: Final = frozenset({"sala", "tema", "historial", "buscar", "me"})
_CHANNEL_USAGE: Final = ByLang({"es": "[#sala] ", "en": "[#room] "})

#: A handler of a raw command: the session, the word it was typed as, its arguments.
RawHandler = Callable[[IrcSession, str, str], None]


class RawCommands:
    """The v1 commands of one chat for its IRC sessions: ``HISTORIAL 50``,
    ``RECADO nick texto``, ``BANEAR ...``, ``HELP``, ``TIME``."""

    def __init__(self, irc: IrcCommands, owned: Collection[str]) -> None:
        """``owned``: IRC's own command names (they are never taken for v1 ones)."""
        self.irc = irc
        self.room = irc.room
        self.events = irc.events
        self.table = irc.chat.commands
        # v1 commands that IRC users say differently (a channel to name, a JOIN, a QUIT).
        own: dict[str, RawHandler] = {
            "ayuda": self.ayuda,
            "salir": self.salir,
            "unirse": self.unirse,
            "sala": self.sala,
            "tema": self.tema,
            "historial": self.historial,
            "buscar": self.buscar,
            "me": self.me,
        }
        #: Upper-case word -> (its command, the word as the table knows it, a handler).
        self.commands: dict[str, tuple[CommandSpec, str, RawHandler]] = {}
        for spec in self.table.specs():
            handler = own.get(spec.name, self.dispatch)
            for word in (spec.name, *spec.aliases):
                upper = word.upper()
                if upper not in owned and upper not in self.commands:
                    self.commands[upper] = (spec, word, handler)
        # IRC's TIME (391), where the v1 alias /time is a notice.
        self._irc: dict[str, Callable[[IrcSession], None]] = {}
        if "TIME" not in owned:
            self._irc["TIME"] = self.time

    def run(self, session: IrcSession, message: Message) -> bool:
        """Run ``message`` if it is a v1 command (``False``: it is not one)."""
        irc_command = self._irc.get(message.command)
        if irc_command is not None:
            irc_command(session)
            return True
        entry = self.commands.get(message.command)
        if entry is None:
            return False
        _, word, handler = entry
        handler(session, word, " ".join(message.params).strip(" \t"))
        return True

    # -- the commands -------------------------------------------------------------------------

    def dispatch(self, session: IrcSession, word: str, args: str) -> None:
        """A command IRC users say as line users do: the chat's own table runs it (its rules,
        such as operators only, included)."""
        self.table.dispatch(session, f"{word} {args}" if args else word)

    def ayuda(self, session: IrcSession, word: str, args: str) -> None:
        """``HELP``/``AYUDA``: one ``NOTICE`` per command the user may use, with the words an
        IRC user types for it and, in brackets, IRC's own form where IRC has one."""
        events = self.events
        operator = self.table.is_operator(session)
        lines: list[Event] = [events.notice("irc_help_header")]
        for spec in self.table.specs():
            if spec.operator_only and not operator:
                continue
            words = ", ".join(
                upper
                for upper in (w.upper() for w in (spec.name, *spec.aliases))
                if self.commands.get(upper, (None,))[0] is spec
            )
            form = IRC_FORMS.get(spec.name)
            usage_words = dict(spec.usage)
            if spec.name in ROOM_COMMANDS:
                usage_words = {
                    lang: _CHANNEL_USAGE.texts[lang] + text for lang, text in spec.usage.items()
                }
            usage = ByLang({lang: f" {text}" if text else "" for lang, text in usage_words.items()})
            if not words:  # only IRC's own form reaches it
                words_arg: str | ByLang = form or spec.name.upper()
                irc: str | ByLang = ""
                usage = ByLang({lang: "" for lang in spec.usage})
            else:
                words_arg = words
                irc = ""
                if form is not None:
                    irc = ByLang({lang: f" ({text})" for lang, text in form.texts.items()})
            lines.append(
                events.notice(
                    "irc_help_line", words=words_arg, usage=usage, help=ByLang(spec.help), irc=irc
                )
            )
        session.deliver_all(lines)

    def time(self, session: IrcSession) -> None:
        """IRC's ``TIME``: ``391`` with the server's local time (as ``/hora`` says it)."""
        now = datetime.fromtimestamp(self.irc.chat.clock.seconds(), tz=UTC).astimezone()
        session.reply("391", self.irc.server_name, now.isoformat(timespec="seconds"))

    def salir(self, session: IrcSession, word: str, args: str) -> None:
        """``SALIR [motivo]``: IRC's ``QUIT``."""
        session.quit_reason = args
        session.close()

    def unirse(self, session: IrcSession, word: str, args: str) -> None:
        """``UNIRSE sala``: IRC's ``JOIN #sala`` (an IRC user stays in its other rooms)."""
        name = roomnames.normalize(args)
        if not name or " " in name:
            session.deliver(self.events.error("room_usage"))
            return
        self.irc.join(session, Message("JOIN", ("#" + name,)))

    def sala(self, session: IrcSession, word: str, args: str) -> None:
        """``SALA [#sala]``: the room line and the topic line of a room (as ``NAMES`` and
        ``TOPIC``, anyone may ask)."""
        found = self._room(session, word, args)
        if found is not None:
            session.deliver_all(self.irc.rooms.room_lines(found[0]))

    def tema(self, session: IrcSession, word: str, args: str) -> None:
        """``TEMA [#sala] [texto]``: show a room's topic; with a text, set it by ``/tema``'s
        rules (and, as ``TOPIC``, only from inside the room)."""
        found = self._room(session, word, args)
        if found is None:
            return
        chatroom, text = found
        text = text.strip(" \t")
        if not text:
            session.deliver(self.irc.rooms.room_lines(chatroom)[1])
            return
        if not self._member(session, chatroom):
            return
        refusal = self.irc.rooms.set_topic(session, chatroom, text)
        if refusal is not None:
            session.deliver(refusal)

    def historial(self, session: IrcSession, word: str, args: str) -> None:
        """``HISTORIAL [#sala] [N] [antes CURSOR]``: ``/historial`` of a room the user is in."""
        found = self._room(session, word, args)
        commands = self.table.group(HistoryCommands)
        if found is not None and commands is not None and self._member(session, found[0]):
            commands.show_page(session, found[0], found[1])

    def buscar(self, session: IrcSession, word: str, args: str) -> None:
        """``BUSCAR [#sala] TEXTO``: ``/buscar`` in a room the user is in."""
        found = self._room(session, word, args)
        commands = self.table.group(HistoryCommands)
        if found is not None and commands is not None and self._member(session, found[0]):
            commands.search_in(session, found[0], found[1])

    def me(self, session: IrcSession, word: str, args: str) -> None:
        """``ME [#sala] texto``: ``/me`` in a room the user is in, as its client's ``/me`` (a
        CTCP ``ACTION`` to the channel: ``404`` outside it)."""
        found = self._room(session, word, args)
        if found is None:
            return
        chatroom, text = found
        if is_blank(text):
            session.deliver(self.events.error("usage_me"))
            return
        action = Message("PRIVMSG", (channel(chatroom.key), formatting.action(text)))
        self.irc.privmsg(session, action)

    # -- which room -----------------------------------------------------------------------------

    def _room(self, session: IrcSession, word: str, args: str) -> tuple[ChatRoom, str] | None:
        """The room a command of "your room" is about, and the rest of its arguments: the
        channel named first, else the user's one channel; ``403`` for no such channel, a
        ``NOTICE`` for a user in no channel or in several."""
        first, rest = split_first_word(args)
        if first.startswith("#"):
            chatroom = self.room.find_room(roomnames.normalize(first))
            if chatroom is None:
                session.reply("403", first, "No such channel")
                return None
            return chatroom, rest.strip(" \t")
        rooms = self.room.rooms_of(session)
        if len(rooms) == 1:
            return rooms[0], args
        command = word.upper()
        if not rooms:
            session.deliver(self.events.error("irc_no_room", command=command))
        else:
            names = ", ".join(channel(chatroom.key) for chatroom in rooms)
            session.deliver(self.events.error("irc_which_room", command=command, rooms=names))
        return None

    def _member(self, session: IrcSession, chatroom: ChatRoom) -> bool:
        """Whether ``session`` is in ``chatroom``; if not, ``442``."""
        if chatroom in self.room.rooms_of(session):
            return True
        session.reply("442", channel(chatroom.key), "You're not on that channel")
        return False
