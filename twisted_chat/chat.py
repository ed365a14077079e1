"""The chat as one object: what a connection's session calls, and nothing about sockets or SQL.

:class:`ChatCore` routes what logged-in users send through the :class:`~twisted_chat.room.Room`
and the :class:`~twisted_chat.commands.CommandTable` it is given, and takes logins (nickname
rules, bans, passwords, the room's claim). It speaks in events
(:mod:`twisted_chat.events`): a session reports a new connection, each decoded line and the
disconnect; the core answers by delivering events, which each transport renders its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import formatting, nicknames
from twisted_chat.accounts import Accounts, LoginCheck
from twisted_chat.bans import Bans
from twisted_chat.commands import CommandTable
from twisted_chat.events import Error, EventSource, Text
from twisted_chat.history import History
from twisted_chat.lines import is_blank, split_first_word
from twisted_chat.logsummary import LogSummary
from twisted_chat.operators import Operators, remaining
from twisted_chat.recados import Recados
from twisted_chat.room import ChatRoom, ChatSession, Claim, Room, until_text

#: Least seconds between two nickname changes of one connection (``/nick``, IRC's ``NICK``):
#: nobody floods the rooms with renames.
RENAME_INTERVAL: Final = 10.0


class LoginRecorder(Protocol):
    """Where logins are recorded (implemented by :class:`twisted_chat.storage.LoginStore`)."""

    def record_login(self, nickname: str, when: datetime) -> Deferred[datetime | None]:
        """Record a login; fire with the user's previous login time, ``None`` if new."""


class ChatCore:
    """Login, routing and commands for every connection of one server."""

    log = Logger()

    def __init__(
        self,
        room: Room,
        commands: CommandTable,
        events: EventSource,
        logins: LoginRecorder | None = None,
        accounts: Accounts | None = None,
        bans: Bans | None = None,
        operators: Operators | None = None,
        history: History | None = None,
        recados: Recados | None = None,
    ) -> None:
        #: The room every logged-in user is in.
        self.room = room
        #: What ``/...`` lines run.
        self.commands = commands
        #: Where events get their ids and time.
        self.events = events
        self.clock: IReactorTime = events.clock  # type: ignore[assignment]
        self.logins = logins
        self.accounts = accounts
        self.bans = bans
        #: Who the operators are.
        self.operators = operators or Operators((), accounts)
        #: The rooms' history (``None``: none kept, not even in memory).
        self.history = history
        #: Recados (``None``: none).
        self.recados = recados
        # Sessions shown recados not yet read: their next line reads them.
        self._unread = recados.unread if recados is not None else {}
        # Nicknames whose password is being checked: taken for everyone else meanwhile.
        self._checking: dict[str, ChatSession] = {}
        #: Connections ended by a limit (flood, sendq, strikes, timeouts), summarised in the log.
        self.disconnects = LogSummary("disconnects", self.clock)
        #: Connections refused at once (server full, too many from one address), summarised.
        self.refusals = LogSummary("refused connections", self.clock)
        # Plain counters read by the metrics at scrape time (twisted_chat.metrics): one integer
        # increment per message or login, nothing per recipient.
        #: Public messages accepted from clients.
        self.public_messages = 0
        #: Private messages accepted from clients (delivered to their recipient).
        self.private_messages = 0
        #: Logins accepted.
        self.login_count = 0
        #: Lines dropped by flood control (counted by the sessions).
        self.flood_dropped = 0
        #: Called with the seconds from a login's nickname line to its welcome (password check
        #: and cluster claim included), if set (the metrics' ``chat_login_seconds``).
        self.on_login: Callable[[float], None] | None = None
        #: Least seconds between two nickname changes of one connection.
        self.rename_interval = RENAME_INTERVAL
        # When each connection last changed its nickname (forgotten when it leaves).
        self._renamed_at: dict[ChatSession, float] = {}

    def now(self) -> datetime:
        """The current time according to the injected clock, in UTC."""
        return datetime.fromtimestamp(self.clock.seconds(), tz=UTC)

    # -- what a protocol calls --------------------------------------------------------------

    def connected(self, session: ChatSession) -> None:
        """A client connected: ask for a nickname."""
        session.deliver(self.events.notice("prompt"))

    def line_received(self, session: ChatSession, text: str) -> None:
        """One decoded client line (terminator removed): a nickname, a command or a message.

        The protocol has already refused lines with control characters (they count as strikes).
        Every line a client sends comes through here, so it is kept short.
        """
        if session.nickname is None:
            self.login(session, text)
            return
        room = self.room
        if room.has_notices:
            room.flush_notices()  # whatever this line causes comes after pending notices
        if self._unread and session in self._unread:
            self.recados.read(session)  # type: ignore[union-attr]
        if not text:
            return
        first = text[0]
        if first == "#":
            if not (room.mutes and self._muted(session)):
                self.private_message(session, text)
        elif first == "/":
            self.commands.dispatch(session, text[1:])
        elif (first not in " \t" or not is_blank(text)) and not (
            room.mutes and self._muted(session)
        ):
            self._public(session, text)

    def _public(self, session: ChatSession, text: str) -> None:
        """``text`` said by ``session`` to its room (unless the room is ``+m`` and it may not
        speak there: one error)."""
        room = self.room
        chatroom = room.room_of(session)
        if chatroom.moderated and not self.may_speak(session, chatroom):
            session.deliver(self.events.error("room_moderated", room=chatroom.name))
            return
        self.public_messages += 1
        event = self.events.public(chatroom.key, session.nickname or "", text)
        room.say(event, session)
        if self.history is not None:
            self.history.said(event)

    def may_speak(self, session: ChatSession, chatroom: ChatRoom) -> bool:
        """Whether ``session`` may speak in ``chatroom`` as far as its ``+m`` goes: the room's
        operator, a voiced member or a server operator."""
        return chatroom.may_speak(nicknames.key(session.nickname or "")) or (
            self.operators.is_operator(session)
        )

    def act(self, session: ChatSession, text: str) -> None:
        """``/me TEXT``: ``session`` does ``text`` in its room, the same event as an IRC user's
        CTCP ``ACTION`` (:func:`twisted_chat.formatting.action`): a public message, kept in
        the history, muted and held back by ``+m`` like any."""
        if self.room.mutes and self._muted(session):
            return
        self._public(session, formatting.action(text))

    def _muted(self, session: ChatSession) -> bool:
        """Whether ``session`` is muted; if so it gets one error saying for how long."""
        now = self.clock.seconds()
        until = self.room.muted_until(session.nickname or "", now)
        if until is None:
            return False
        session.deliver(self.events.error("muted", remaining=remaining(until - now)))
        return True

    def disconnected(self, session: ChatSession) -> None:
        """The connection is gone: remove the user and tell everyone who shared a room with it,
        once each, with its own words if it gave any (an IRC ``QUIT``'s reason)."""
        operators = self.operators
        if self.recados is not None:
            self.recados.gone(session)
        if self.history is not None and session.nickname and operators.has_password(session):
            self.history.departed(nicknames.key(session.nickname))
        operators.forget(session)
        self._renamed_at.pop(session, None)
        room = self.room
        rooms = room.rooms_of(session)
        if room.remove(session):
            nickname = session.nickname or ""
            departure = []
            for chatroom in rooms:
                event = self.events.left(chatroom.key, nickname)
                event.reason = session.quit_reason or None
                departure.append(event)
            room.announce_departure(departure)

    # -- operators and bans -----------------------------------------------------------------

    def refuse_address(self, host: str) -> str | None:
        """Why a new connection from ``host`` is refused (``banned``: the catalogue entry and
        the disconnect cause), or ``None``. Called for every connection: in memory only."""
        if self.bans is not None and self.bans.address_ban(host) is not None:
            return "banned"
        return None

    # -- login ------------------------------------------------------------------------------

    def login(self, session: ChatSession, raw: str) -> None:
        """Try the nickname line ``raw`` (``NICK`` or ``NICK PASSWORD``) for ``session``.

        A refusal is exactly one ``! `` line. A line with a password is checked in a thread;
        meanwhile the session is held (its later lines wait) and the nickname is taken. Until
        the registered nicknames are loaded, nobody can tell a registered nickname from a free
        one, so every nickname line is refused with a try-again line (never an impostor).
        """
        started = self.clock.seconds()
        if not self._may_log_in(session):
            return
        word, rest = split_first_word(raw.strip(" \t"))
        password = rest.strip(" \t") or None
        nickname = nicknames.normalize(word)
        refusal = self._nickname_refusal(nickname)
        if refusal is not None:
            session.deliver(refusal)
            return
        accounts = self.accounts
        if password is None:
            if accounts is not None and accounts.is_registered(nickname):
                session.deliver(self.events.error("password_needed", nick=nickname))
            else:
                self._claim(session, nickname, started, held=False)
            return
        if accounts is None:  # no accounts at all: a password can never be right
            session.deliver(self.events.error("login_refused"))
            return
        self._check_password(session, nickname, password, started, accounts)

    @property
    def taking_logins(self) -> bool:
        """Whether the registered nicknames and the bans are loaded (before that, a nickname
        line gets the try-again line)."""
        accounts = self.accounts
        bans = self.bans
        return (accounts is None or accounts.loaded) and (bans is None or bans.loaded)

    def _may_log_in(self, session: ChatSession) -> bool:
        """Whether nickname lines are taken now: not before the registered nicknames and the
        bans are loaded (the try-again line), not from an address banned since it connected."""
        accounts = self.accounts
        bans = self.bans
        if (accounts is not None and not accounts.loaded) or (bans is not None and not bans.loaded):
            session.deliver(self.events.error("starting_up"))
            return False
        if bans is not None and bans.address_ban(session.host) is not None:
            session.disconnect("banned", Text("banned"))  # banned since it connected
            return False
        return True

    def _nickname_refusal(self, nickname: str) -> Error | None:
        """Why nobody may log in as ``nickname`` now (an invalid, banned or taken nickname),
        or ``None``."""
        if not nicknames.is_valid(nickname):
            return self.events.error("nick_invalid")
        ban = self.bans.nick_ban(nickname) if self.bans is not None else None
        if ban is not None:
            until = until_text(ban.expires_at)
            return self.events.error("nick_banned", nick=nickname, until=until)
        if nickname in self.room or nicknames.key(nickname) in self._checking:
            return self.events.error("nick_taken", nick=nickname)
        return None

    def _check_password(
        self,
        session: ChatSession,
        nickname: str,
        password: str,
        started: float,
        accounts: Accounts,
    ) -> None:
        """Check ``password`` in a thread; meanwhile the session is held and the nickname is
        taken. Then claim it, or give the one error."""
        nick_key = nicknames.key(nickname)
        self._checking[nick_key] = session
        session.hold()

        def checked(result: LoginCheck) -> None:
            if session.closing:
                self._done_checking(nick_key, session)
                return
            if result is LoginCheck.OK:
                self._claim(session, nickname, started, held=True, by_password=True)
                return
            self._done_checking(nick_key, session)
            if result is LoginCheck.NEEDS_PASSWORD:
                session.deliver(self.events.error("password_needed", nick=nickname))
            else:
                session.deliver(self.events.error("login_refused"))
            session.release()

        def failed(failure: Failure) -> None:
            self.log.failure("checking the password of {nick} failed", failure, nick=nickname)
            checked(LoginCheck.REFUSED)

        accounts.check_login(nickname, password, session.host).addCallbacks(checked, failed)

    def _done_checking(self, nick_key: str, session: ChatSession) -> None:
        if self._checking.get(nick_key) is session:
            del self._checking[nick_key]

    def _claim(
        self,
        session: ChatSession,
        nickname: str,
        started: float,
        held: bool,
        by_password: bool = False,
    ) -> None:
        """Claim ``nickname`` in the room, then accept the login or give the one ``! `` line.

        One process's room answers at once; a clustered room asks the cluster, and meanwhile
        the session is held and the nickname counts as taken here.
        """
        nick_key = nicknames.key(nickname)
        claimed = self.room.claim(nickname)
        if not claimed.called:
            self._checking[nick_key] = session
            if not held:
                session.hold()
                held = True

        def done(result: Claim) -> None:
            self._done_checking(nick_key, session)
            if session.closing:
                if result is Claim.OK:
                    self.room.unclaim(nickname)
                return
            if result is Claim.OK:
                self._accept(session, nickname, started, by_password)
            elif result is Claim.TAKEN:
                session.deliver(self.events.error("nick_taken", nick=nickname))
            else:
                session.deliver(self.events.error("cluster_unavailable"))
            if held:
                session.release()

        def failed(failure: Failure) -> Claim:
            self.log.failure("claiming {nick} failed", failure, nick=nickname)
            return Claim.UNAVAILABLE

        claimed.addErrback(failed).addCallback(done)

    def _accept(
        self, session: ChatSession, nickname: str, started: float, by_password: bool = False
    ) -> None:
        """Log ``session`` in as ``nickname``: welcome it, tell the others, record the login
        (``started``: when its nickname line arrived, for the login time metric)."""
        room = self.room
        room.add(session, nickname)
        if by_password:
            self.operators.logged_in_by_password(session, nickname)
        session.logged_in(nickname)
        session.deliver(self.events.notice("welcome", nick=nickname))
        if self.history is not None:
            # second, always: before anything that waits for the database
            session.deliver(self.history.retention_line())
        self.login_count += 1
        if self.on_login is not None:
            self.on_login(self.clock.seconds() - started)
        room.announce(self.events.joined(room.default.key, nickname), joined=session)
        shown = self._show_history(session, by_password)
        recorded = self._record_login(session, nickname, shown)
        recados = self.recados
        if recados is not None and by_password:
            recorded.addBoth(lambda _: recados.at_login(session))

    def _show_history(self, session: ChatSession, by_password: bool) -> Deferred[None]:
        """After the welcome and its retention line: the room's history (the replay, or what
        was said since a registered user left); fires once shown."""
        history = self.history
        if history is None:
            return succeed(None)
        return history.at_login(session, self.room.room_of(session).key, by_password)

    def _record_login(
        self, session: ChatSession, nickname: str, shown: Deferred[None]
    ) -> Deferred[None]:
        """Record the login; once it is recorded and the history ``shown``, tell the user
        when they last came (the lines of a login always come in one order). Fires after."""
        if self.logins is None:
            return shown

        def show_previous(previous: datetime | None) -> None:
            if session.closing or self.room.member(session.nickname or "") is not session:
                return  # gone already (a nickname change since is no reason to keep it back)
            if previous is None:
                session.deliver(self.events.notice("first_visit"))
            else:
                when = previous.isoformat(timespec="seconds")
                session.deliver(self.events.notice("last_seen", when=when))

        def not_recorded(failure: Failure) -> None:
            # The store logs outages itself, once; the chat simply goes on. One line, without
            # the failure itself (which would render as a traceback wherever debug is shown).
            self.log.debug(
                "login of {nick} not recorded yet: {error}", nick=nickname, error=failure.value
            )

        recorded = self.logins.record_login(nickname, self.now())
        told: Deferred[Any] = shown.addBoth(lambda _: recorded)
        return told.addCallbacks(show_previous, not_recorded)

    # -- after login ------------------------------------------------------------------------

    def private_message(self, sender: ChatSession, line: str) -> None:
        """``#NICK TEXT`` (the whole ``line``): deliver to NICK, echo to the sender.

        Refusals, in this order: NICK is not a valid nickname, TEXT is empty, NICK is the
        sender, NICK is not connected.
        """
        # split_first_word, inlined (the path of every private message)
        target, _, text = line.partition(" ")
        if "\t" in target:  # a tab comes first
            target, _, text = line.partition("\t")
        target = target[1:]  # without the "#"
        recipient = self.room.find(target)
        # A match is a valid nickname, except for non-ASCII look-alikes that only casefold to
        # one (such as the long s): check those the slow way.
        if recipient is None or not (target.isascii() or self._valid_target(target)):
            self._private_refused(sender, target, text)
        elif not text or (text[0] in " \t" and is_blank(text)):
            sender.deliver(self.events.error("private_empty"))
        elif recipient is sender:
            sender.deliver(self.events.error("private_self"))
        else:
            self.private_messages += 1
            event = self.events.private(sender.nickname or "", recipient.nickname or "", text)
            self.room.deliver(recipient, event)
            sender.echo(event)

    @staticmethod
    def _valid_target(target: str) -> bool:
        return nicknames.is_valid(nicknames.normalize(target))

    def _private_refused(self, sender: ChatSession, target: str, text: str) -> None:
        """The one ``! `` line for a private message that cannot be delivered."""
        target_nick = nicknames.normalize(target)
        if not nicknames.is_valid(target_nick):
            sender.deliver(self.events.error("private_bad_nick", nick=target))
        elif is_blank(text):
            sender.deliver(self.events.error("private_empty"))
        else:
            self.log.debug(
                "private message from {sender} to {target}: not connected",
                sender=sender.nickname,
                target=target_nick,
            )
            if self.recados is not None and self.recados.is_registered(target_nick):
                sender.deliver(self.events.error("private_offline_memo", nick=target_nick))
            else:
                sender.deliver(self.events.error("private_offline", nick=target_nick))

    # -- nickname changes -------------------------------------------------------------------

    def rename(self, session: ChatSession, raw: str) -> None:
        """Change the nickname of the logged-in ``session`` to ``raw`` (``/nick NUEVO``,
        IRC's ``NICK``), by the login's rules, answered with one event.

        Refused (one error): an invalid nickname, a banned one, one in use anywhere (in a
        cluster: on any node), a registered one unless this connection proved that very
        account's password, and a change sooner than :attr:`rename_interval` after the last.
        A change of case only is a change; the same spelling is nothing (a ``* `` line for v1,
        silence on IRC). The change itself is atomic (a clustered room claims the new
        nickname and gives back the old one in one step); the user and everyone sharing a
        room with it read one :class:`~twisted_chat.events.Renamed`.

        Renaming away from the account a password proved ends the login to it: the user no
        longer counts as logged in with its password (no recados, no ``/olvidar``, no
        operator, no IRC ``330``) until it takes that nickname again.
        """
        old = session.nickname
        if old is None:
            return
        events = self.events
        word = raw.strip(" \t")
        if not word or any(c in word for c in " \t"):
            session.deliver(events.error("rename_usage"))
            return
        nickname = nicknames.normalize(word)
        if nickname == old:
            session.deliver(events.notice("rename_same", nick=old))
            return
        if not nicknames.is_valid(nickname):
            session.deliver(events.error("rename_invalid", nick=word))
            return
        new_key = nicknames.key(nickname)
        ban = self.bans.nick_ban(nickname) if self.bans is not None else None
        if ban is not None and new_key != nicknames.key(old):
            until = until_text(ban.expires_at)
            session.deliver(events.error("rename_banned", nick=nickname, until=until, old=old))
            return
        holder = self.room.find(nickname)
        if (holder is not None and holder is not session) or (
            self._checking.get(new_key, session) is not session
        ):
            session.deliver(events.error("rename_taken", nick=nickname, old=old))
            return
        accounts = self.accounts
        if (
            accounts is not None
            and new_key != nicknames.key(old)
            and accounts.is_registered(nickname)
            and self.operators.account_of(session) != new_key
        ):
            session.deliver(events.error("rename_registered", nick=nickname))
            return
        now = self.clock.seconds()
        last = self._renamed_at.get(session)
        if last is not None and now - last < self.rename_interval:
            session.deliver(
                events.error(
                    "rename_too_soon",
                    nick=nickname,
                    interval=f"{self.rename_interval:g}",
                    remaining=remaining(last + self.rename_interval - now),
                )
            )
            return
        self._claim_rename(session, old, nickname)

    def _claim_rename(self, session: ChatSession, old: str, nickname: str) -> None:
        """Claim ``nickname`` for ``session`` (now ``old``), then rename it or give the one
        error. A clustered room asks the cluster: meanwhile the session is held and the
        nickname counts as taken here."""
        new_key = nicknames.key(nickname)
        claimed = self.room.claim_rename(session, nickname)
        held = not claimed.called
        if held:
            self._checking[new_key] = session
            session.hold()

        def done(result: Claim) -> None:
            self._done_checking(new_key, session)
            if session.closing or session.nickname != old:
                if result is Claim.OK and nicknames.key(old) != new_key:
                    self.room.unclaim(nickname)
                return
            if result is Claim.OK:
                event = self.events.renamed(old, nickname)
                if self.room.rename(session, event):
                    self._renamed_at[session] = self.clock.seconds()
                    self.log.info("{old} is now {new}", old=old, new=nickname)
                else:
                    session.deliver(self.events.error("rename_taken", nick=nickname, old=old))
            elif result is Claim.TAKEN:
                session.deliver(self.events.error("rename_taken", nick=nickname, old=old))
            else:
                session.deliver(self.events.error("rename_unavailable"))
            if held:
                session.release()

        def failed(failure: Failure) -> Claim:
            self.log.failure("claiming {nick} for a rename failed", failure, nick=nickname)
            return Claim.UNAVAILABLE

        claimed.addErrback(failed).addCallback(done)
