"""Putting one chat together from its parts, in dependency order: what ``makeService`` does,
and what tests do with the same parts.

The language and the event source first; the room (one process's, or a clustered one built by
``room``), then the command table composed from its groups, the chat core given both, the
server that admits every transport's sessions, and one renderer per transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from twisted.internet.interfaces import IReactorTime

from twisted_chat import userinfo
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Bans
from twisted_chat.chat import ChatCore, LoginRecorder
from twisted_chat.commands import CommandTable, UserCommands
from twisted_chat.events import DEFAULT_ROOM, EventSource
from twisted_chat.history import (
    DepartureStorage,
    ForgetCommand,
    History,
    HistoryCommands,
    HistoryPlan,
    HistoryStorage,
)
from twisted_chat.ids import MessageIds
from twisted_chat.limits import Limits
from twisted_chat.notices import NoticeGathering
from twisted_chat.operators import OperatorCommands, Operators
from twisted_chat.recados import Recados, RecadoStorage
from twisted_chat.room import Room
from twisted_chat.roomnames import DEFAULT_MAX_ROOMS
from twisted_chat.rooms import RoomCommands, TopicKeeper, TopicStorage
from twisted_chat.server import ChatServer
from twisted_chat.text import Catalogue, Language
from twisted_chat.web.frames import FrameRenderer
from twisted_chat.wire import LineRenderer

#: Builds the registry of rooms from the event source, its notice gathering (``None``: not
#: gathered) and the rooms' plan.
RoomFactory = Callable[[EventSource, NoticeGathering | None, "RoomPlan"], Room]


@dataclass(frozen=True)
class RoomPlan:
    """The rooms a chat starts with: the default room, the other permanent ones, the cap."""

    default: str = DEFAULT_ROOM
    permanent: tuple[str, ...] = ()
    max_rooms: int = DEFAULT_MAX_ROOMS


def local_room(events: EventSource, gathering: NoticeGathering | None, plan: RoomPlan) -> Room:
    """The rooms of a chat that runs in one process."""
    return Room(plan.default, gathering, plan.permanent, plan.max_rooms)


@dataclass
class Chat:
    """One chat's parts, as :func:`assemble` connected them."""

    language: Language
    events: EventSource
    room: Room
    operators: Operators
    #: The rooms' commands.
    rooms: RoomCommands
    #: The topics of the permanent rooms, if they are stored (to load at start-up).
    topics: TopicKeeper | None
    commands: CommandTable
    #: The rooms' history, if kept.
    history: History | None
    #: Recados, if they can be stored.
    recados: Recados | None
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
    rooms: RoomPlan | None = None,
    topics: TopicStorage | None = None,
    gather_notices: bool = False,
    batch_writes: bool = False,
    ids: MessageIds | None = None,
    history: HistoryStorage | None = None,
    history_plan: HistoryPlan | None = None,
    departures: DepartureStorage | None = None,
    recados: RecadoStorage | None = None,
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
    the_room = room(events, gathering, rooms or RoomPlan())
    roster = Operators(operators, accounts)
    the_room.describe = partial(userinfo.describe, operators=roster)
    user_commands = UserCommands(the_room, events, accounts)
    keeper = TopicKeeper(topics, the_room, clock) if topics is not None else None
    room_commands = RoomCommands(the_room, events, roster.is_operator, keeper)
    groups: list[object] = [user_commands, room_commands]
    the_history = None
    if history is not None:
        the_history = History(history, the_room, events, history_plan, departures)
        the_room.history_hooks = the_history  # what a clustered room hears from other nodes
        groups.append(HistoryCommands(the_history))
        room_commands.after_enter = lambda session, chatroom: the_history.replay(
            session, chatroom.key
        )
    the_recados = None
    if recados is not None:
        the_recados = Recados(recados, the_room, events, accounts, roster.has_password)
        the_room.recado_hooks = the_recados
        groups.append(the_recados)
    if the_history is not None or the_recados is not None:
        forget_recados = recados.forget_sender if recados is not None else None
        groups.append(ForgetCommand(the_history, events, roster.has_password, forget_recados))
    groups.append(OperatorCommands(the_room, events, language, bans))
    commands = CommandTable(events, groups, is_operator=roster.is_operator)
    user_commands.help = commands.help
    core = ChatCore(
        the_room, commands, events, logins, accounts, bans, roster, the_history, the_recados
    )
    user_commands.rename = core.rename
    user_commands.act = core.act
    server = ChatServer(core, limits, batch_writes=batch_writes)
    lines = LineRenderer(language)
    return Chat(
        language,
        events,
        the_room,
        roster,
        room_commands,
        keeper,
        commands,
        the_history,
        the_recados,
        core,
        server,
        lines,
        FrameRenderer(lines),
    )
