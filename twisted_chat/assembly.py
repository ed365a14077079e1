"""Putting one chat together from its parts, in dependency order: what ``makeService`` does,
and what tests do with the same parts.

The language and the event source first; the room (one process's, or a clustered one built by
``room``), then the command table composed from its groups, the chat core given both, the
server that admits every transport's sessions, and one renderer per transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from twisted_chat.accounts import Accounts
from twisted_chat.bans import Bans
from twisted_chat.chat import ChatCore, LoginRecorder
from twisted_chat.commands import CommandTable, UserCommands
from twisted_chat.events import EventSource
from twisted_chat.ids import MessageIds
from twisted_chat.limits import Limits
from twisted_chat.notices import NoticeGathering
from twisted_chat.operators import OperatorCommands, Operators
from twisted_chat.room import Room
from twisted_chat.server import ChatServer
from twisted_chat.text import Catalogue, Language
from twisted_chat.web.frames import FrameRenderer
from twisted_chat.wire import LineRenderer

#: Builds the room from the event source and its notice gathering (``None``: not gathered).
RoomFactory = Callable[[EventSource, NoticeGathering | None], Room]


def local_room(events: EventSource, gathering: NoticeGathering | None) -> Room:
    """The room of a chat that runs in one process."""
    return Room(gathering=gathering)


@dataclass
class Chat:
    """One chat's parts, as :func:`assemble` connected them."""

    language: Language
    events: EventSource
    room: Room
    operators: Operators
    commands: CommandTable
    core: ChatCore
    server: ChatServer
    #: The renderer of the TCP transport (protocol v1 lines).
    lines: LineRenderer
    #: The renderer of the WebSocket transport (one text frame per line).
    frames: FrameRenderer


def assemble(
    texts: Catalogue,
    clock: IReactorTime,
    *,
    limits: Limits | None = None,
    logins: LoginRecorder | None = None,
    accounts: Accounts | None = None,
    bans: Bans | None = None,
    operators: Iterable[str] = (),
    room: RoomFactory = local_room,
    gather_notices: bool = False,
    batch_writes: bool = False,
    ids: MessageIds | None = None,
) -> Chat:
    """A chat speaking ``texts`` on ``clock``: ``gather_notices`` gathers join/leave notices
    (:mod:`twisted_chat.notices`), ``batch_writes`` gathers each busy turn's output
    (:class:`~twisted_chat.server.WriteBatcher`), as a real server does; tests may leave
    either off to see each write at once."""
    language = Language(texts)
    events = EventSource(clock, ids)
    gathering = None
    if gather_notices:
        gathering = NoticeGathering(clock, lambda: len(the_room))
    the_room = room(events, gathering)
    roster = Operators(operators, accounts)
    user_commands = UserCommands(the_room, events, accounts)
    commands = CommandTable(
        events,
        [user_commands, OperatorCommands(the_room, events, language, bans)],
        is_operator=roster.is_operator,
    )
    user_commands.help = commands.help
    core = ChatCore(the_room, commands, events, logins, accounts, bans, roster)
    server = ChatServer(core, limits, batch_writes=batch_writes)
    lines = LineRenderer(language)
    return Chat(
        language, events, the_room, roster, commands, core, server, lines, FrameRenderer(lines)
    )
