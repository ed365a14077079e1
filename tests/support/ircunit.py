"""The IRC listener's parts for the unit tests (no sockets): a chat assembled on a
:class:`~twisted.internet.task.Clock` at :data:`~tests.support.fakes.EPOCH` with its IRC
commands and factory (for recording transports), and renderers that count their renders.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from tests.support.fakes import EPOCH
from twisted_chat.assembly import Chat, assemble
from twisted_chat.events import Event
from twisted_chat.irc.commands import IrcCommands
from twisted_chat.irc.protocol import IrcFactory
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.limits import Limits
from twisted_chat.text import SPANISH
from twisted_chat.wire import LineRenderer

#: The server name of the unit tests' IRC listener.
SERVER = "irc.test"


def epoch_clock() -> Clock:
    """A clock at :data:`~tests.support.fakes.EPOCH`."""
    clock = Clock()
    clock.advance(EPOCH.timestamp())
    return clock


def irc_chat(clock: Clock, **options: Any) -> tuple[Chat, IrcCommands, IrcFactory]:
    """A Spanish chat assembled on ``clock`` (no flood limit, strikes or login timeout, unless
    ``options`` give other ``limits``; ``options`` go to
    :func:`~twisted_chat.assembly.assemble`), its IRC commands as :data:`SERVER` and its IRC
    factory."""
    options.setdefault("limits", Limits(flood_rate=0, max_strikes=0, login_timeout=0))
    parts = assemble(SPANISH, clock, **options)
    irc = IrcCommands(parts.core, parts.rooms, parts.language, SERVER)
    return parts, irc, IrcFactory(parts.server, irc)


class CountingIrc(IrcRenderer):
    """An IRC renderer that counts its renders, in the class (set :attr:`renders` to 0 before
    counting)."""

    renders = 0

    def render(self, event: Event) -> bytes:
        """Count, then render."""
        CountingIrc.renders += 1
        return super().render(event)


class CountingLines(LineRenderer):
    """A line renderer that counts its renders, in the class (set :attr:`renders` to 0 before
    counting)."""

    renders = 0

    def render(self, event: Event) -> bytes:
        """Count, then render."""
        CountingLines.renders += 1
        return super().render(event)
