"""The chat as one object: what a connection's protocol calls, and nothing about sockets or SQL.

:class:`ChatCore` owns the :class:`~twisted_chat.core.Room` and the
:class:`~twisted_chat.commands.Commands` table. A protocol reports a new connection, each decoded
line and the disconnect; the core answers through the session's ``deliver``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames, wire
from twisted_chat.accounts import Accounts, LoginCheck
from twisted_chat.bans import Bans
from twisted_chat.commands import Commands
from twisted_chat.core import ChatSession, Claim, Room, until_text
from twisted_chat.lines import is_blank, split_first_word
from twisted_chat.logsummary import LogSummary
from twisted_chat.operators import OperatorCommands, remaining
from twisted_chat.text import Catalogue

#: Join/leave notices are gathered (when batching) and written together, one write per user.
#: They go out once none has come for NOTICE_QUIET seconds (a single join: after 20 ms; a login
#: storm: 20 ms after it ends). During a storm a flush costs one ``send`` per user (about 10 us
#: on a loopback), so flushes are spaced by NOTICE_SPACING_PER_USER per user in the room (250 us
#: keeps them to a few percent of the time): the notices wait at most that long since the
#: previous flush, and never more than MAX_NOTICE_DELAY.
NOTICE_QUIET = 0.02
NOTICE_SPACING_PER_USER = 0.00025
MAX_NOTICE_DELAY = 2.0


def notice_delay(users: int, since_last_flush: float) -> float:
    """The longest that join/leave notices wait in a room of ``users`` whose last flush was
    ``since_last_flush`` seconds ago: what is left of 250 us per user since that flush (250 ms at
    1000 users, 1.25 s at 5000), at least 20 ms and at most 2 s."""
    wait = users * NOTICE_SPACING_PER_USER - since_last_flush
    return min(MAX_NOTICE_DELAY, max(NOTICE_QUIET, wait))


#: Builds the room of a chat: ``(texts, schedule)``, where ``schedule`` is the notice-gathering
#: function or ``None`` (see :class:`~twisted_chat.core.Room`).
RoomFactory = Callable[[Catalogue, Callable[[Callable[[], None]], object] | None], Room]


class LoginRecorder(Protocol):
    """Where logins are recorded (implemented by :class:`twisted_chat.storage.LoginStore`)."""

    def record_login(self, nickname: str, when: datetime) -> Deferred[datetime | None]:
        """Record a login; fire with the user's previous login time, ``None`` if new."""


class ChatCore:
    """Login, routing and commands for every connection of one server."""

    log = Logger()

    def __init__(
        self,
        texts: Catalogue,
        clock: IReactorTime,
        logins: LoginRecorder | None = None,
        accounts: Accounts | None = None,
        batch_notices: bool = False,
        room: RoomFactory = Room,
        bans: Bans | None = None,
        operators: Iterable[str] = (),
    ) -> None:
        self.texts = texts
        self.clock = clock
        self.logins = logins
        self.accounts = accounts
        self.bans = bans
        #: The nick keys of the ``--operator`` nicknames.
        self.operators = frozenset(nicknames.key(nicknames.normalize(n)) for n in operators)
        self.room = room(texts, self._schedule_notices if batch_notices else None)
        self.commands: Commands = OperatorCommands(
            self.room, texts, clock, accounts, is_operator=self.is_operator, bans=bans
        )
        # Sessions logged in with a checked password (the only ones that may be operators).
        self._by_password: set[ChatSession] = set()
        self._prompt = wire.notice(texts.prompt)
        # Nicknames whose password is being checked: taken for everyone else meanwhile.
        self._checking: dict[str, ChatSession] = {}
        # When join/leave notices were last flushed by their timer (see notice_delay), and the
        # number of the current round of gathering.
        self._notices_flushed_at = float("-inf")
        self._notice_round = 0
        #: Connections ended by a limit (flood, sendq, strikes, timeouts), summarised in the log.
        self.disconnects = LogSummary("disconnects", clock)
        #: Connections refused at once (server full, too many from one address), summarised.
        self.refusals = LogSummary("refused connections", clock)
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

    def use_texts(self, texts: Catalogue) -> None:
        """Speak ``texts`` from now on (a configuration reload changed the language)."""
        self.texts = texts
        self.room.texts = texts
        self.commands.texts = texts
        self._prompt = wire.notice(texts.prompt)

    def _schedule_notices(self, flush: Callable[[], None]) -> None:
        """The room has a first notice to gather: flush after a pause, or at the deadline."""
        now = self.clock.seconds()
        deadline = now + notice_delay(len(self.room), now - self._notices_flushed_at)
        self._notice_round += 1
        # The room queues its first notice right after this call: one seen at the first check
        # means none came since.
        self.clock.callLater(
            NOTICE_QUIET, self._notice_timer, flush, self._notice_round, deadline, 1
        )

    def _notice_timer(
        self, flush: Callable[[], None], round_: int, deadline: float, seen: int
    ) -> None:
        if round_ != self._notice_round:
            return  # a newer round has its own timer
        pending = self.room.pending_notices
        if not pending:
            return  # written already, ahead of a message
        now = self.clock.seconds()
        if pending != seen and now < deadline:  # still coming in: wait for a pause
            wait = min(NOTICE_QUIET, deadline - now)
            self.clock.callLater(wait, self._notice_timer, flush, round_, deadline, pending)
            return
        self._notices_flushed_at = now
        flush()

    def now(self) -> datetime:
        """The current time according to the injected clock, in UTC."""
        return datetime.fromtimestamp(self.clock.seconds(), tz=UTC)

    # -- what a protocol calls --------------------------------------------------------------

    def connected(self, session: ChatSession) -> None:
        """A client connected: ask for a nickname."""
        session.deliver(self._prompt)

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
            self.public_messages += 1
            room.say_public(session, text)

    def _muted(self, session: ChatSession) -> bool:
        """Whether ``session`` is muted; if so it gets one ``! `` line saying for how long."""
        now = self.clock.seconds()
        until = self.room.muted_until(session.nickname or "", now)
        if until is None:
            return False
        session.deliver(wire.error(self.texts.muted.format(remaining=remaining(until - now))))
        return True

    def disconnected(self, session: ChatSession) -> None:
        """The connection is gone: remove the user and tell everyone."""
        self._by_password.discard(session)
        if self.room.remove(session):
            self.room.announce_leave(self.texts.left.format(nick=session.nickname))

    # -- operators and bans -----------------------------------------------------------------

    def is_operator(self, session: ChatSession) -> bool:
        """Whether ``session`` is an operator's: a nickname named in ``--operator``, registered,
        and logged in with its password."""
        nickname = session.nickname
        return (
            nickname is not None
            and session in self._by_password
            and nicknames.key(nickname) in self.operators
            and self.accounts is not None
            and self.accounts.is_registered(nickname)
        )

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
        accounts = self.accounts
        bans = self.bans
        if (accounts is not None and not accounts.loaded) or (bans is not None and not bans.loaded):
            session.deliver(wire.error(self.texts.starting_up))
            return
        if bans is not None and bans.address_ban(session.host) is not None:
            session.disconnect("banned", self.texts.banned)  # banned since it connected
            return
        word, rest = split_first_word(raw.strip(" \t"))
        password = rest.strip(" \t") or None
        nickname = nicknames.normalize(word)
        if not nicknames.is_valid(nickname):
            session.deliver(wire.error(self.texts.nick_invalid))
            return
        ban = bans.nick_ban(nickname) if bans is not None else None
        if ban is not None:
            until = until_text(self.texts, ban.expires_at)
            session.deliver(wire.error(self.texts.nick_banned.format(nick=nickname, until=until)))
            return
        nick_key = nicknames.key(nickname)
        if nickname in self.room or nick_key in self._checking:
            session.deliver(wire.error(self.texts.nick_taken.format(nick=nickname)))
            return
        if password is None:
            if accounts is not None and accounts.is_registered(nickname):
                session.deliver(wire.error(self.texts.password_needed.format(nick=nickname)))
            else:
                self._claim(session, nickname, started, held=False)
            return
        if accounts is None:  # no accounts at all: a password can never be right
            session.deliver(wire.error(self.texts.login_refused))
            return
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
                session.deliver(wire.error(self.texts.password_needed.format(nick=nickname)))
            else:
                session.deliver(wire.error(self.texts.login_refused))
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
                session.deliver(wire.error(self.texts.nick_taken.format(nick=nickname)))
            else:
                session.deliver(wire.error(self.texts.cluster_unavailable))
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
        self.room.add(session, nickname)
        if by_password:
            self._by_password.add(session)
        session.logged_in(nickname)
        session.deliver(wire.notice(self.texts.welcome.format(nick=nickname)))
        self.login_count += 1
        if self.on_login is not None:
            self.on_login(self.clock.seconds() - started)
        self.room.announce_join(session, self.texts.joined.format(nick=nickname))
        self._record_login(session, nickname)

    def _record_login(self, session: ChatSession, nickname: str) -> None:
        if self.logins is None:
            return

        def show_previous(previous: datetime | None) -> None:
            if self.room.find(nickname) is not session:
                return  # gone already
            if previous is None:
                text = self.texts.first_visit
            else:
                text = self.texts.last_seen.format(when=previous.isoformat(timespec="seconds"))
            session.deliver(wire.notice(text))

        def not_recorded(failure: Failure) -> None:
            # The store logs outages itself, once; the chat simply goes on. One line, without
            # the failure itself (which would render as a traceback wherever debug is shown).
            self.log.debug(
                "login of {nick} not recorded yet: {error}", nick=nickname, error=failure.value
            )

        self.logins.record_login(nickname, self.now()).addCallbacks(show_previous, not_recorded)

    # -- after login ------------------------------------------------------------------------

    def private_message(self, sender: ChatSession, line: str) -> None:
        """``#NICK TEXT`` (the whole ``line``): deliver to NICK, echo to the sender.

        Refusals, in this order: NICK is not a valid nickname, TEXT is empty, NICK is the
        sender, NICK is not connected.
        """
        target, text = split_first_word(line)
        target = target[1:]  # without the "#"
        recipient = self.room.find(target)
        # A match is a valid nickname, except for non-ASCII look-alikes that only casefold to
        # one (such as the long s): check those the slow way.
        if recipient is None or not (target.isascii() or self._valid_target(target)):
            self._private_refused(sender, target, text)
        elif not text or (text[0] in " \t" and is_blank(text)):
            sender.deliver(wire.error(self.texts.private_empty))
        elif recipient is sender:
            sender.deliver(wire.error(self.texts.private_self))
        else:
            self.private_messages += 1
            self.room.deliver(recipient, wire.private(sender.nickname or "", text))
            sender.deliver(wire.private_echo(recipient.nickname or "", text))

    @staticmethod
    def _valid_target(target: str) -> bool:
        return nicknames.is_valid(nicknames.normalize(target))

    def _private_refused(self, sender: ChatSession, target: str, text: str) -> None:
        """The one ``! `` line for a private message that cannot be delivered."""
        target_nick = nicknames.normalize(target)
        if not nicknames.is_valid(target_nick):
            sender.deliver(wire.error(self.texts.private_bad_nick.format(nick=target)))
        elif is_blank(text):
            sender.deliver(wire.error(self.texts.private_empty))
        else:
            self.log.debug(
                "private message from {sender} to {target}: not connected",
                sender=sender.nickname,
                target=target_nick,
            )
            sender.deliver(wire.error(self.texts.private_offline.format(nick=target_nick)))
