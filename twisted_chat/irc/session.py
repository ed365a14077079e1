"""One IRC client's session: the chat's :class:`~twisted_chat.session.Session` (every limit
and timer of every transport), plus what IRC registration keeps per connection.

Its lines go to the IRC interpreter (:class:`twisted_chat.irc.commands.IrcCommands`) instead
of the chat core's; what the chat says to this user alone is rendered for it by nickname
(:meth:`twisted_chat.irc.render.IrcRenderer.render_to`); everything else is rendered once per
renderer as for any member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted_chat.events import Error, Event, Notice, Replayed, Text
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.session import Session

if TYPE_CHECKING:
    from twisted_chat.irc.commands import IrcCommands


class IrcSession(Session):
    """A :class:`Session` of an IRC client: its registration state and negotiated capabilities."""

    renderer: IrcRenderer
    #: The interpreter of this session's lines (set by the transport before it starts).
    irc: IrcCommands

    def init_irc(self, irc: IrcCommands) -> None:
        """Hand this session's lines to ``irc``, and start its registration state."""
        self.irc = irc
        self.on_line = irc.line_received
        #: The nickname of ``NICK`` (the one a login is tried with), until it is accepted.
        self.wanted_nick: str | None = None
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
        #: Why the client quit (``QUIT``), shown in the closing ``ERROR``.
        self.quit_reason: str | None = None

    # -- the chat's side --------------------------------------------------------------------

    def greet(self) -> None:
        """Nothing: an IRC client speaks first."""

    def _refuse_line(self, text: Text) -> None:
        """A refused line: before login the chat says a line with control characters is no
        nickname; here it is just a line with control characters."""
        if text.key == "nick_invalid":
            text = Text("control_chars")
        super()._refuse_line(text)

    def target(self) -> str:
        """This user as the target of a reply: its nickname, ``*`` before it has one."""
        return self.nickname or "*"

    def deliver(self, event: Event) -> None:
        """Send ``event``: what the chat says to this user alone rendered for its nickname,
        anything else as every member of its renderer reads it."""
        kind = type(event)
        if kind is Notice or kind is Error or (kind is Replayed and event.room is None):
            data = self.renderer.render_to(event, self.target(), self.wanted_nick)
            if data:
                self.send(data)
            return
        super().deliver(event)

    def deliver_all(self, events: Sequence[Event]) -> None:
        """Send ``events`` together, each as :meth:`deliver` would."""
        renderer = self.renderer
        target = self.target()
        parts = []
        for event in events:
            kind = type(event)
            if kind is Notice or kind is Error or (kind is Replayed and event.room is None):
                parts.append(renderer.render_to(event, target, self.wanted_nick))
            else:
                parts.append(renderer.render(event))
        data = b"".join(parts)
        if data:
            self.send(data)

    def logged_in(self, nickname: str) -> None:
        """The chat accepted the login: start the idle timer, then say the welcome burst."""
        super().logged_in(nickname)
        self.wanted_nick = None
        self.irc.registered(self)

    def reply(self, code: str, *params: str) -> None:
        """Send the numeric ``code`` with ``params`` to this user."""
        self.send(self.renderer.numeric(code, self.target(), *params))
