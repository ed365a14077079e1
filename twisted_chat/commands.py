"""The command table: one method per command, registered explicitly with :func:`command`.

Wire input never reaches ``getattr``: only methods decorated with :func:`command` are commands
(the trap of ``twisted.words.protocols.irc``, where every ``irc_*`` attribute is reachable from
the wire). ``/ayuda`` is generated from the table, so adding a command is adding one method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from twisted_chat.accounts import AccountError, Accounts
from twisted_chat.events import ByLang, Event, EventSource, Text
from twisted_chat.lines import is_blank, split_first_word
from twisted_chat.room import ChatSession, Room

Handler = Callable[[Any, ChatSession, str], None]
H = TypeVar("H", bound=Handler)
G = TypeVar("G")

_SPEC_ATTRIBUTE = "_chat_command"


@dataclass(frozen=True)
class CommandSpec:
    """How a command is typed and described: its name, aliases and one line of help per language."""

    name: str
    aliases: tuple[str, ...]
    help: dict[str, str]
    usage: dict[str, str]
    #: Only operators may use it (and only they see it in ``/ayuda``).
    operator_only: bool = False


def command(
    name: str,
    *aliases: str,
    es: str,
    en: str,
    usage: tuple[str, str] = ("", ""),
    operator_only: bool = False,
) -> Callable[[H], H]:
    """Register the decorated method as the command ``/name`` (and ``/alias`` for each alias).

    ``es`` and ``en`` are its one-line help texts; ``usage`` names its arguments, if any, in
    Spanish and English. An ``operator_only`` command is refused to everyone else, with one
    ``! `` line, by the dispatcher (its handler never runs for them).
    """

    def register(method: H) -> H:
        spec = CommandSpec(
            name,
            aliases,
            {"es": es, "en": en},
            {"es": usage[0], "en": usage[1]},
            operator_only,
        )
        setattr(method, _SPEC_ATTRIBUTE, spec)
        return method

    return register


@dataclass(frozen=True)
class _Entry:
    spec: CommandSpec
    handler: Callable[[ChatSession, str], None]


def _commands_of(group: object) -> list[tuple[CommandSpec, Any]]:
    """The decorated methods of ``group`` (bound), in the order they are defined (a subclass
    inherits its bases' commands and may override them by method name)."""
    methods: dict[str, Any] = {}
    for klass in reversed(type(group).__mro__):
        methods.update(vars(klass))
    found = []
    for attribute in methods.values():
        spec = getattr(attribute, _SPEC_ATTRIBUTE, None)
        if isinstance(spec, CommandSpec):
            found.append((spec, attribute.__get__(group)))
    return found


class CommandTable:
    """The commands of a logged-in user, dispatched through an explicit table.

    The table is composed from groups of commands (objects whose methods are decorated with
    :func:`command`: :class:`UserCommands`, the operators' commands, ...), in order; its
    :meth:`help` is what ``/ayuda`` shows. The dispatcher applies the rules common to every
    command (an unknown name, an operators' command for someone else) once, so that each
    handler does only its job.
    """

    def __init__(
        self,
        events: EventSource,
        groups: Iterable[object] = (),
        is_operator: Callable[[ChatSession], bool] | None = None,
    ) -> None:
        self.events = events
        #: Whether a session is an operator's (see :class:`twisted_chat.operators.Operators`).
        self.is_operator: Callable[[ChatSession], bool] = is_operator or (lambda _: False)
        self._entries: list[_Entry] = []
        self._table: dict[str, _Entry] = {}
        self._groups: list[object] = []
        for group in groups:
            self.add(group)

    def add(self, group: object) -> None:
        """Add the commands of ``group`` (after those already in the table)."""
        self._groups.append(group)
        for spec, handler in _commands_of(group):
            entry = _Entry(spec, handler)
            for word in (spec.name, *spec.aliases):
                if word in self._table:
                    raise ValueError(f"command /{word} registered twice")
            self._entries.append(entry)
            for word in (spec.name, *spec.aliases):
                self._table[word] = entry

    def specs(self) -> list[CommandSpec]:
        """Every command, in the order they were added."""
        return [entry.spec for entry in self._entries]

    def group(self, kind: type[G]) -> G | None:
        """The first group of commands of the class ``kind`` in the table, if any (for a
        transport that says some commands its own way: IRC's channel argument)."""
        for group in self._groups:
            if isinstance(group, kind):
                return group
        return None

    def names(self) -> set[str]:
        """Every word that is a command (names and aliases), lower case."""
        return set(self._table)

    def dispatch(self, session: ChatSession, line: str) -> None:
        """Run the command in ``line`` (the text after ``/``); unknown ones get an error."""
        name, args = split_first_word(line)
        events = self.events
        if not name:
            session.deliver(events.error("empty_command"))
            return
        entry = self._table.get(name.lower())
        if entry is None:
            session.deliver(events.error("unknown_command", name=name))
            return
        if entry.spec.operator_only and not self.is_operator(session):
            session.deliver(events.error("operators_only", name=name.lower()))
            return
        entry.handler(session, args)

    def help(self, session: ChatSession) -> Sequence[Event]:
        """The lines of ``/ayuda`` for ``session``: every command it may use, generated from
        the table (operators' commands for operators only), then the message syntax."""
        events = self.events
        lines: list[Event] = [events.notice("ayuda_header")]
        operator = self.is_operator(session)
        for spec in self.specs():
            if spec.operator_only and not operator:
                continue
            words = ", ".join(f"/{w}" for w in (spec.name, *spec.aliases))
            usage = ByLang({lang: f" {text}" if text else "" for lang, text in spec.usage.items()})
            lines.append(
                events.notice("help_line", words=words, usage=usage, help=ByLang(spec.help))
            )
        lines.append(events.notice("message_help"))
        return lines


class UserCommands:
    """The commands of every logged-in user."""

    def __init__(
        self,
        room: Room,
        events: EventSource,
        accounts: Accounts | None = None,
    ) -> None:
        self.room = room
        self.events = events
        self.clock = events.clock
        self.accounts = accounts
        #: The lines of ``/ayuda`` for a session: the table's :meth:`CommandTable.help`, once
        #: the table is composed.
        self.help: Callable[[ChatSession], Sequence[Event]] = lambda session: []
        #: What ``/nick`` does: the chat core's :meth:`~twisted_chat.chat.ChatCore.rename`,
        #: once the core is made.
        self.rename: Callable[[ChatSession, str], None] | None = None
        #: What ``/me TEXT`` does: the chat core's :meth:`~twisted_chat.chat.ChatCore.act`,
        #: once the core is built.
        self.act: Callable[[ChatSession, str], None] = lambda session, text: None

    # -- the commands -----------------------------------------------------------------------

    @command("listar", "list", es="muestra los usuarios conectados", en="list connected users")
    def listar(self, session: ChatSession, args: str) -> None:
        """``* Conectados (N): ana, Bob, carol``: the logged-in users, sorted by casefold."""
        names = self.room.nicknames()
        session.deliver(self.events.notice("listar", count=len(names), nicks=", ".join(names)))

    @command("salir", "quit", es="cierra la conexión", en="close the connection")
    def salir(self, session: ChatSession, args: str) -> None:
        """Say goodbye, then close the connection (lines after it are not processed)."""
        session.deliver(self.events.notice("salir", nick=session.nickname or ""))
        session.close()

    @command("username", "whoami", es="muestra tu nickname", en="show your nickname")
    def username(self, session: ChatSession, args: str) -> None:
        """Tell the user their own nickname."""
        session.deliver(self.events.notice("username", nick=session.nickname or ""))

    @command("ayuda", "help", es="muestra esta ayuda", en="show this help")
    def ayuda(self, session: ChatSession, args: str) -> None:
        """One ``* `` line per command, generated from the table, then the message syntax."""
        session.deliver_all(self.help(session))

    @command("hora", "time", es="muestra la hora del servidor", en="show the server time")
    def hora(self, session: ChatSession, args: str) -> None:
        """The server's local time, ISO 8601 with seconds and UTC offset."""
        now = datetime.fromtimestamp(self.clock.seconds(), tz=UTC).astimezone()
        session.deliver(self.events.notice("hora", time=now.isoformat(timespec="seconds")))

    @command("ping", es="responde * pong (para mantener viva la conexión)", en="answers * pong")
    def ping(self, session: ChatSession, args: str) -> None:
        """Keepalive: exactly ``* pong``."""
        session.deliver(self.events.notice("pong"))

    @command(
        "registrar",
        "register",
        es="registra tu nickname con una contraseña",
        en="register your nickname with a password",
        usage=("CONTRASEÑA", "PASSWORD"),
    )
    def registrar(self, session: ChatSession, args: str) -> None:
        """Protect the current nickname with a password (stored as an argon2id hash)."""
        words = args.split()
        if len(words) != 1:
            session.deliver(self.events.error("usage_registrar"))
            return
        nickname = session.nickname or ""
        self._account_change(
            session,
            lambda accounts: accounts.register(nickname, words[0], self._now()),
            Text("registered", nick=nickname),
        )

    @command(
        "password",
        es="cambia la contraseña de tu nickname",
        en="change your nickname's password",
        usage=("ACTUAL NUEVA", "OLD NEW"),
    )
    def password(self, session: ChatSession, args: str) -> None:
        """Change the password of the current (registered) nickname."""
        words = args.split()
        if len(words) != 2:
            session.deliver(self.events.error("usage_password"))
            return
        nickname = session.nickname or ""
        old, new = words
        self._account_change(
            session,
            lambda accounts: accounts.change_password(
                nickname, old, new, session.host, self._now()
            ),
            Text("password_changed"),
        )

    @command(
        "nick",
        es="cambia tu nickname (como mucho una vez cada 10 s)",
        en="change your nickname (at most once every 10 s)",
        usage=("NUEVO", "NEW"),
    )
    def nick(self, session: ChatSession, args: str) -> None:
        """Change the nickname: ``* OLD ahora se llama NEW.`` to the user and its room, or
        one ``! `` line (see :meth:`twisted_chat.chat.ChatCore.rename`)."""
        if self.rename is None:
            session.deliver(self.events.error("unknown_command", name="nick"))
            return
        self.rename(session, args)

    @command(
        "me",
        es="una acción en tu sala: los demás leen ** TU_NICK TEXTO",
        en="an action in your room: the others read ** YOUR_NICK TEXT",
        usage=("TEXTO", "TEXT"),
    )
    def me(self, session: ChatSession, args: str) -> None:
        """``/me TEXT``: an action (IRC's ``/me``), read as ``** NICK TEXT`` by line users and as
        a CTCP ``ACTION`` by IRC users."""
        if is_blank(args):
            session.deliver(self.events.error("usage_me"))
            return
        self.act(session, args)

    # -- helpers ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), tz=UTC)

    def _account_change(
        self,
        session: ChatSession,
        change: Callable[[Accounts], Deferred[Any]],
        success: Text,
    ) -> None:
        """Run an account change; answer the notice ``success`` or an error, if still
        connected."""
        if self.accounts is None:
            session.deliver(self.events.error("storage_unavailable"))
            return
        nickname = session.nickname or ""

        def connected() -> bool:  # under any nickname: it may have changed since
            return not session.closing and self.room.member(session.nickname or "") is session

        def done(_: object) -> None:
            if connected():
                session.deliver(self.events.notice_of(success))

        def refused(failure: Failure) -> None:
            if not connected():
                return
            error = failure.value
            reason = error.reason if isinstance(error, AccountError) else "storage_unavailable"
            session.deliver(self.events.error(reason, nick=nickname))

        change(self.accounts).addCallbacks(done, refused)
