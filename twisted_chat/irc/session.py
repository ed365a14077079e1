"""One IRC client's session: the chat's :class:`~twisted_chat.session.Session` (every limit
and timer of every transport), plus what IRC registration keeps per connection.

Its lines go to the IRC interpreter (:class:`twisted_chat.irc.commands.IrcCommands`) instead
of the chat core's; what the chat says to this user alone is rendered for it by nickname
(:meth:`twisted_chat.irc.render.IrcRenderer.render_to`); everything else is rendered once per
renderer as for any member.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from twisted.internet.interfaces import IDelayedCall

from twisted_chat.events import Error, Event, Notice, Private, Replayed, Tagged, Text
from twisted_chat.formatting import has_refused_controls
from twisted_chat.irc.labels import LabeledResponse
from twisted_chat.irc.render import SILENT, IrcRenderer
from twisted_chat.session import Session

if TYPE_CHECKING:
    from twisted_chat.irc.commands import IrcCommands

#: Seconds between two looks at a registered client's lines (the keepalive): a client that sent
#: nothing since the last look gets ``PING`` (so after one to two intervals of quiet).
PING_INTERVAL: Final = 120.0
#: Seconds a ``PING``-ed client has to send something (``PONG`` or any line) before it is
#: disconnected with ``ERROR :Ping timeout``.
PING_TIMEOUT: Final = 60.0


def ping_interval(idle_timeout: float) -> float:
    """The keepalive's interval with ``--idle-timeout`` at ``idle_timeout`` (0: off): at most a
    third of it, so that a live client is pinged within two thirds of the idle timeout after
    its last line, and its answer (a line) comes before the idle timeout closes it."""
    if idle_timeout > 0:
        return min(PING_INTERVAL, idle_timeout / 3)
    return PING_INTERVAL


def ping_timeout(idle_timeout: float) -> float:
    """How long a ``PING`` waits for an answer with ``--idle-timeout`` at ``idle_timeout``: at
    most the interval (the look after the answer then comes soon enough)."""
    return min(PING_TIMEOUT, ping_interval(idle_timeout))


_T = TypeVar("_T")


class IrcSession(Session):
    """A :class:`Session` of an IRC client: its registration state and negotiated capabilities."""

    renderer: IrcRenderer
    #: The interpreter of this session's lines (set by the transport before it starts).
    irc: IrcCommands
    #: IRC's formatting codes and CTCP's delimiter pass the line's check; the interpreter
    #: accepts them in the text of ``PRIVMSG`` and ``NOTICE`` only (:meth:`refuse`).
    refuses_controls = staticmethod(has_refused_controls)

    def init_irc(self, irc: IrcCommands) -> None:
        """Hand this session's lines to ``irc``, and start its registration state."""
        self.irc = irc
        self.on_line = irc.line_received
        #: The nickname of ``NICK`` (the one a login is tried with), until it is accepted.
        self.wanted_nick: str | None = None
        #: A registration is waiting for the server to take logins (it is starting up).
        self.registration_waiting = False
        #: The user name of ``USER`` (``None`` until it came).
        self.user: str | None = None
        #: The capabilities enabled (``CAP REQ``).
        self.caps: set[str] = set()
        #: Whether registration waits for ``CAP END``.
        self.cap_negotiating = False
        #: ``PASS``'s password, if one came.
        self.password: str | None = None
        #: The account and password SASL PLAIN accepted, if any.
        self.sasl_account: str | None = None
        self.sasl_password: str | None = None
        #: The SASL mechanism under way (``PLAIN``) and the payload received so far.
        self.sasl_mechanism: str | None = None
        self.sasl_buffer = ""
        #: The real name of ``USER`` (shown by ``WHO`` and ``WHOIS``).
        self.realname: str | None = None
        #: The away message of ``AWAY``, while the user is away.
        self.away: str | None = None
        #: User mode ``+i`` (``MODE NICK +i``): hidden from the ``WHO`` masks of users who share
        #: no channel with it (:meth:`IrcCommands._sees`).
        self.invisible = False
        #: When its last invitations (``INVITE``) were sent, oldest first (a bounded window).
        self.invites: deque[float] = deque()
        #: The labeled response being kept now (``labeled-response``, :mod:`labels
        #: <twisted_chat.irc.labels>`), and the one waiting for its command's later answer.
        self.label: LabeledResponse | None = None
        self.pending_label: LabeledResponse | None = None
        # The timer of the welcome's MOTD while it is being said (the client's lines wait).
        self._welcome_timer: IDelayedCall | None = None
        #: Lines handed to the interpreter so far (counted by it: the keepalive's sign of
        #: life, with no clock read per line).
        self.lines_in = 0
        # The keepalive: its timer, the count of lines at its last look, and the token of the
        # PING it is waiting an answer for (if any).
        self._keepalive_timer: IDelayedCall | None = None
        self._lines_seen = 0
        self._ping_token: str | None = None

    # -- the chat's side --------------------------------------------------------------------

    def greet(self) -> None:
        """Nothing: an IRC client speaks first."""

    def _refuse_line(self, text: Text) -> None:
        """A refused line: before login the chat says a line with control characters is no
        nickname; here it is just a line with control characters."""
        if text.key == "nick_invalid":
            text = Text("control_chars")
        super()._refuse_line(text)

    def refuse(self, text: Text) -> None:
        """Refuse the line just read, saying ``text`` (it counts as a strike, as a line the
        session refused itself)."""
        self._refuse_line(text)

    def target(self) -> str:
        """This user as the target of a reply: its nickname, ``*`` before it has one."""
        return self.nickname or "*"

    def deliver(self, event: Event) -> None:
        """Send ``event``: what the chat says to this user alone rendered for its nickname
        (during the welcome, as lines of the MOTD), the history of a room it is not in not at
        all, anything else as every member of its renderer reads it."""
        label = self.label
        if label is not None and (type(event) is Private or type(event) is Tagged):
            label.bypass(self.renderer.render(event))  # a message to it: never its answer
            return
        data = self._for_me(event)
        if data is None:
            super().deliver(event)
        elif data:
            self.send(data)

    def deliver_all(self, events: Sequence[Event]) -> None:
        """Send ``events`` together, each as :meth:`deliver` would."""
        render = self.renderer.render
        parts = []
        for event in events:
            data = self._for_me(event)
            parts.append(render(event) if data is None else data)
        data = b"".join(parts)
        if data:
            self.send(data)

    def _for_me(self, event: Event) -> bytes | None:
        """``event`` rendered for this reader alone (``b""``: nothing to say), or ``None`` if
        it reads as every member reads it."""
        kind = type(event)
        if kind is Notice and self._welcome_timer is not None:
            return self._motd_line(event)  # type: ignore[arg-type]
        if kind is Notice or kind is Error:
            return self.renderer.render_to(event, self.target(), self.wanted_nick)
        if kind is Replayed:
            if event.room is None:  # a recado
                return self.renderer.render_to(event, self.target())
            if not self._in_room(event.room):
                return b""  # the login's replay of the default room, which it is not in
        return None

    def _in_room(self, room_key: str) -> bool:
        return any(chatroom.key == room_key for chatroom in self.chat.room.rooms_of(self))

    # -- the welcome --------------------------------------------------------------------------

    def logged_in(self, nickname: str) -> None:
        """The chat accepted the login: start the idle timer, then say the welcome burst."""
        super().logged_in(nickname)
        self.wanted_nick = None
        self._lines_seen = self.lines_in
        self._keepalive_timer = self._clock().callLater(
            ping_interval(self.limits.idle_timeout), self._keepalive
        )
        self.irc.registered(self)

    # -- the keepalive --------------------------------------------------------------------------

    def _keepalive(self) -> None:
        """The keepalive's look: a client that sent a line since the last look is alive; one
        quiet since the last look gets ``PING :TOKEN``; one still quiet :func:`ping_timeout`
        seconds after it is disconnected (``ping_timeout``: ``ERROR :Ping timeout``)."""
        self._keepalive_timer = None
        if self.closing:
            return
        clock = self._clock()
        if self.lines_in != self._lines_seen:
            self._lines_seen = self.lines_in
            self._ping_token = None
            interval = ping_interval(self.limits.idle_timeout)
            self._keepalive_timer = clock.callLater(interval, self._keepalive)
        elif self._ping_token is None:
            self._ping_token = f"{self.irc.server_name}-{int(clock.seconds())}"
            self.send(self.renderer.line("PING", self._ping_token, trailing=True))
            wait = ping_timeout(self.limits.idle_timeout)
            self._keepalive_timer = clock.callLater(wait, self._keepalive)
        else:
            self.disconnect("ping_timeout")

    def _cancel_keepalive(self) -> None:
        timer, self._keepalive_timer = self._keepalive_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def start_welcome(self, wait: float) -> None:
        """The chat's lines of a login (the retention line, the last visit) come as the MOTD,
        which ends with the last visit's line or after ``wait`` seconds; the client's lines
        wait until it ended, so every reply comes after the welcome."""
        self._welcome_timer = self._clock().callLater(wait, self.end_welcome)
        super().hold()

    def end_welcome(self) -> None:
        """The MOTD ends (``376``): the client's lines are read again."""
        if self._welcome_timer is None:
            return
        self._cancel_welcome_timer()
        self.reply("376", "End of /MOTD command.")
        super().release()

    def _motd_line(self, event: Notice) -> bytes:
        key = event.text.key
        if key in SILENT:
            return b""
        data = self.renderer.motd_line(event.text, self.target())
        if key in ("first_visit", "last_seen"):  # the last line of a login
            self.send(data)
            self.end_welcome()
            return b""
        return data

    def release(self) -> None:
        """Process held lines again, unless the welcome is not over (a password login's check
        ends inside it: the welcome's end releases them); a labeled command's answer that was
        waiting for this is written first."""
        if self._welcome_timer is None:
            pending = self.pending_label
            if pending is not None:
                if self.label is pending:  # inside its own answer: once that is kept
                    pending.ending = True
                    return
                pending.finish()
            super().release()

    # -- labeled responses ----------------------------------------------------------------------

    def waiting_answer(self) -> bool:
        """Whether this session's lines are held for a command's later answer (a read of the
        database), not for the welcome."""
        return self._held is not None and self._welcome_timer is None

    def as_answer(self, callback: Callable[..., _T]) -> Callable[..., _T]:
        """``callback``, the later answer of the command running now (or of the labeled
        command whose answer the session waits for): if that command is labeled, what it sends
        belongs to its labeled response."""
        label = self.label or self.pending_label
        return callback if label is None else label.answer(callback)

    def labeled(self, label: str, command: Callable[[], Any]) -> None:
        """Run ``command`` as the labeled command ``label`` (:mod:`twisted_chat.irc.labels`)."""
        LabeledResponse(self, label).run(command)

    def _cancel_welcome_timer(self) -> None:
        timer, self._welcome_timer = self._welcome_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def connection_lost(self) -> None:
        """The transport is gone: the chat forgets the user; line users of the default room
        are told it left even if it was in no room (they were told it came)."""
        self._cancel_welcome_timer()
        self._cancel_keepalive()
        self.label = self.pending_label = None
        nickname = self.nickname
        room = self.chat.room
        was_member = nickname is not None and room.member(nickname) is self
        in_default = room.default in room.rooms_of(self)
        super().connection_lost()
        if nickname is not None and was_member and not in_default:
            left = self.chat.events.notice_of(Text("left", nick=nickname), room.default.key)
            room.announce(left)

    def reply(self, code: str, *params: str) -> None:
        """Send the numeric ``code`` with ``params`` to this user."""
        self.send(self.renderer.numeric(code, self.target(), *params))
