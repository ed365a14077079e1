"""Operators' commands: kicks, mutes, bans and announcements.

Operators are registered nicknames named in ``--operator`` (repeatable) that logged in with their
password (:class:`Operators` decides). Their commands are a group of the command table
(:class:`~twisted_chat.commands.CommandTable`), flagged ``operator_only``: the dispatcher refuses
them to everyone else, and ``/ayuda`` lists them to operators only. Every command acts through
the room (:class:`~twisted_chat.room.Room`), which in a cluster reaches every node; this module
does not know whether it is clustered. Every operator action is logged at info level with who did
what to whom, and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Ban, BanError, Bans, parse_target
from twisted_chat.commands import command
from twisted_chat.events import EventSource, Text
from twisted_chat.lines import split_first_word
from twisted_chat.room import ChatSession, Room, until_text
from twisted_chat.text import Language

#: Longest mute or ban in minutes (ten years): beyond that, ban without MINUTOS.
MAX_MINUTES = 10 * 366 * 24 * 60


def parse_minutes(word: str, allow_zero: bool) -> int | None:
    """MINUTOS: ASCII digits, at most :data:`MAX_MINUTES`, 0 only if ``allow_zero``."""
    if not (word.isascii() and word.isdigit()):
        return None
    minutes = int(word)
    if minutes > MAX_MINUTES or (minutes == 0 and not allow_zero):
        return None
    return minutes


def remaining(seconds: float) -> str:
    """A time left, for people: ``"3 min"`` (rounded up), under a minute ``"40 s"``."""
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{max(1, math.ceil(seconds))} s"


def _valid_nick(word: str) -> str | None:
    nickname = nicknames.normalize(word)
    return nickname if nicknames.is_valid(nickname) else None


class Operators:
    """Who the server's operators are: the ``--operator`` nicknames, once registered and
    logged in with their password.

    The chat core tells it which sessions logged in with a checked password; the command
    table asks it whether a session is an operator's.
    """

    def __init__(self, names: Iterable[str] = (), accounts: Accounts | None = None) -> None:
        self.accounts = accounts
        #: The nick keys of the ``--operator`` nicknames.
        self.keys = operator_keys(names)
        # The account (a registered nickname's key) each session proved its password for, in
        # this connection: only such sessions may be operators. A session counts as logged in
        # with its password while its nickname is that account's (a nickname change away from
        # it ends that; a change back, or of case only, restores it).
        self._accounts: dict[ChatSession, str] = {}
        # Sessions that proved an operator's password under another nickname (IRC's ``OPER``):
        # session -> that operator's nick key.
        self._acting: dict[ChatSession, str] = {}

    def use(self, names: Iterable[str]) -> None:
        """The ``--operator`` nicknames are ``names`` from now on (a configuration reload)."""
        self.keys = operator_keys(names)

    def logged_in_by_password(self, session: ChatSession, account: str | None = None) -> None:
        """``session`` proved the password of ``account`` (by default: of its nickname)."""
        nickname = account if account is not None else session.nickname or ""
        self._accounts[session] = nicknames.key(nickname)

    def account_of(self, session: ChatSession) -> str | None:
        """The key of the account whose password ``session`` proved in this connection."""
        return self._accounts.get(session)

    def has_password(self, session: ChatSession) -> bool:
        """Whether ``session`` logged in with its nickname's password (only such users may
        leave recados, get them, and erase what they said): it proved the password of the
        account its nickname is now."""
        account = self._accounts.get(session)
        return account is not None and account == nicknames.key(session.nickname or "")

    def act_as(self, session: ChatSession, operator: str) -> None:
        """``session`` gave the password of the ``--operator`` account ``operator`` (IRC's
        ``OPER NAME PASSWORD``): an operator while it is connected and ``operator`` stays one."""
        self._acting[session] = nicknames.key(operator)

    def forget(self, session: ChatSession) -> None:
        """``session`` is gone."""
        self._accounts.pop(session, None)
        self._acting.pop(session, None)

    def is_operator(self, session: ChatSession) -> bool:
        """Whether ``session`` is an operator's: a nickname named in ``--operator``, registered,
        and logged in with its password; or a session that gave such a nickname's password
        (:meth:`act_as`)."""
        nickname = session.nickname
        if (
            nickname is not None
            and self.has_password(session)
            and nicknames.key(nickname) in self.keys
            and self.accounts is not None
            and self.accounts.is_registered(nickname)
        ):
            return True
        acting = self._acting.get(session) if self._acting else None
        return (
            nickname is not None
            and acting is not None
            and acting in self.keys
            and self.accounts is not None
            and self.accounts.is_registered(acting)
        )


def operator_keys(names: Iterable[str]) -> frozenset[str]:
    """The nickname keys of the ``--operator`` nicknames ``names``."""
    return frozenset(nicknames.key(nicknames.normalize(name)) for name in names)


class OperatorCommands:
    """The operators' commands: a group of the command table (after the others in
    ``/ayuda``)."""

    log = Logger()

    def __init__(
        self, room: Room, events: EventSource, language: Language, bans: Bans | None = None
    ) -> None:
        self.room = room
        self.events = events
        self.clock = events.clock
        #: The server's language (the log quotes a ban's length as users read it).
        self.language = language
        self.bans = bans

    def _action(self, session: ChatSession, action: str, target: str, reason: str = "") -> None:
        """Log one operator action, with structured fields."""
        self.log.info(
            "operator {operator} {action} {target}: {reason}",
            operator=session.nickname,
            action=action,
            target=target,
            reason=reason,
        )

    # -- kicks and mutes --------------------------------------------------------------------

    @command(
        "expulsar",
        "kick",
        es="expulsa a un usuario del chat",
        en="disconnect a user",
        usage=("NICK [MOTIVO]", "NICK [REASON]"),
        operator_only=True,
    )
    def expulsar(self, session: ChatSession, args: str) -> None:
        """NICK gets a ``! `` line with the reason and is disconnected (on any node)."""
        word, reason = split_first_word(args.strip(" \t"))
        reason = reason.strip(" \t")
        nickname = _valid_nick(word)
        if nickname is None:
            session.deliver(self.events.error("usage_expulsar"))
            return
        target = self.room.find(nickname)
        if target is session:
            session.deliver(self.events.error("not_yourself"))
            return
        if target is None:
            session.deliver(self.events.error("private_offline", nick=nickname))
            return
        spelling = target.nickname or nickname
        self._action(session, "kick", spelling, reason)
        if self.room.kick(spelling, reason, session.nickname or ""):
            session.deliver(self.events.notice("kick_done", nick=spelling))
        else:
            session.deliver(self.events.error("private_offline", nick=nickname))

    @command(
        "silenciar",
        "mute",
        es="impide a un usuario enviar mensajes durante MINUTOS (0 lo quita)",
        en="stop a user from sending messages for MINUTES (0 lifts it)",
        usage=("NICK MINUTOS", "NICK MINUTES"),
        operator_only=True,
    )
    def silenciar(self, session: ChatSession, args: str) -> None:
        """Refuse NICK's public and private messages for MINUTOS; 0 lifts the mute."""
        words = args.split()
        nickname = _valid_nick(words[0]) if len(words) == 2 else None
        minutes = parse_minutes(words[1], allow_zero=True) if len(words) == 2 else None
        if nickname is None or minutes is None:
            session.deliver(self.events.error("usage_silenciar"))
            return
        if nicknames.key(nickname) == nicknames.key(session.nickname or ""):
            session.deliver(self.events.error("not_yourself"))
            return
        if minutes == 0:
            self._action(session, "unmute", nickname)
            self.room.mute(nickname, 0)
            session.deliver(self.events.notice("mute_lifted", nick=nickname))
            return
        target = self.room.find(nickname)
        if target is None:
            session.deliver(self.events.error("private_offline", nick=nickname))
            return
        spelling = target.nickname or nickname
        self._action(session, "mute", spelling, f"{minutes} min")
        self.room.mute(spelling, self.clock.seconds() + minutes * 60)
        session.deliver(self.events.notice("mute_done", nick=spelling, minutes=minutes))

    # -- bans -------------------------------------------------------------------------------

    @command(
        "banear",
        "ban",
        es="banea un nickname, una dirección o una red (sin MINUTOS, para siempre)",
        en="ban a nickname, an address or a network (without MINUTES, for good)",
        usage=("NICK|IP|CIDR [MINUTOS] [MOTIVO]", "NICK|IP|CIDR [MINUTES] [REASON]"),
        operator_only=True,
    )
    def banear(self, session: ChatSession, args: str) -> None:
        """Store the ban, then apply it: connected users it covers are disconnected."""
        word, rest = split_first_word(args.strip(" \t"))
        parsed = parse_target(word) if word else None
        if parsed is None:
            session.deliver(self.events.error("usage_banear"))
            return
        kind, target = parsed
        rest = rest.strip(" \t")
        first, tail = split_first_word(rest)
        expires_at: float | None = None
        now = self.clock.seconds()
        if first and first[0].isdigit():
            minutes = parse_minutes(first, allow_zero=False)
            if minutes is None:
                session.deliver(self.events.error("usage_banear"))
                return
            expires_at = now + minutes * 60
            rest = tail.strip(" \t")
        own = session.nickname or ""
        ban = Ban(kind, target, rest, own, now, expires_at)
        if ban.covers_nick(own) or ban.covers_host(session.host):
            session.deliver(self.events.error("not_yourself"))
            return
        if self.bans is None:
            session.deliver(self.events.error("storage_unavailable"))
            return
        shown = nicknames.normalize(word) if kind == "nick" else target
        until = until_text(expires_at)

        def stored(_: object) -> None:
            self._action(session, "ban", f"{kind} {target} ({self.language.say(until)})", rest)
            gone = self.room.ban_added(ban)
            if gone:
                self.log.info("ban of {target} disconnected {nicks}", target=target, nicks=gone)
            if self.room.find(own) is session:
                session.deliver(self.events.notice("ban_done", target=shown, until=until))

        self.bans.add(ban).addCallbacks(stored, lambda f: self._refused(session, f))

    @command(
        "desbanear",
        "unban",
        es="retira un ban",
        en="lift a ban",
        usage=("NICK|IP|CIDR", "NICK|IP|CIDR"),
        operator_only=True,
    )
    def desbanear(self, session: ChatSession, args: str) -> None:
        """Remove the ban of exactly this nickname, address or network."""
        words = args.split()
        parsed = parse_target(words[0]) if len(words) == 1 else None
        if parsed is None:
            session.deliver(self.events.error("usage_desbanear"))
            return
        kind, target = parsed
        shown = nicknames.normalize(words[0]) if kind == "nick" else target
        if self.bans is None:
            session.deliver(self.events.error("storage_unavailable"))
            return
        own = session.nickname or ""

        def removed(ban: Ban | None) -> None:
            if ban is not None:
                self._action(session, "unban", f"{kind} {target}")
                self.room.ban_removed(ban)
            if self.room.find(own) is not session:
                return
            if ban is None:
                session.deliver(self.events.error("ban_not_found", target=shown))
            else:
                session.deliver(self.events.notice("ban_lifted", target=shown))

        self.bans.remove(kind, target).addCallbacks(removed, lambda f: self._refused(session, f))

    @command(
        "baneos",
        "bans",
        es="lista los bans en vigor",
        en="list the bans in force",
        operator_only=True,
    )
    def baneos(self, session: ChatSession, args: str) -> None:
        """One ``* `` header line, then one ``* `` line per ban in force."""
        bans = self.bans.active() if self.bans is not None else []
        if not bans:
            session.deliver(self.events.notice("bans_none"))
            return
        lines = [self.events.notice("bans_header", count=len(bans))]
        for ban in bans:
            line = self.events.notice(
                "ban_line",
                target=ban.target,
                until=until_text(ban.expires_at),
                by=ban.created_by,
                reason=ban.reason or Text("no_reason"),
            )
            lines.append(line)
        session.deliver_all(lines)

    def _refused(self, session: ChatSession, failure: Failure) -> None:
        error = failure.value
        if not isinstance(error, BanError):
            self.log.failure("a ban change failed", failure)
        if session.nickname is not None and self.room.find(session.nickname) is session:
            session.deliver(self.events.error("storage_unavailable"))

    # -- announcements ----------------------------------------------------------------------

    @command(
        "anuncio",
        "announce",
        es="envía un aviso a todos los usuarios",
        en="send a notice to every user",
        usage=("TEXTO", "TEXT"),
        operator_only=True,
    )
    def anuncio(self, session: ChatSession, args: str) -> None:
        """A ``* `` notice naming the operator to every user of the chat, the operator too."""
        text = args.strip(" \t")
        if not text:
            session.deliver(self.events.error("usage_anuncio"))
            return
        self._action(session, "announce", "everyone", text)
        by = session.nickname or ""
        self.room.notice_all(self.events.notice("announcement", by=by, text=text))
