"""IRC's small queries and courtesies that clients send on their own: ``ISON`` and
``USERHOST`` (``/notify`` lists, nickname checks), ``VERSION``, ``INFO``, ``ADMIN``, ``USERS``,
and ``INVITE`` (an invitation to a room, as a courtesy: rooms have no invite-only
mode).

Each is a function registered in the command table (:data:`~twisted_chat.irc.commands.COMMANDS`)
with the same decorator as the methods of :class:`~twisted_chat.irc.commands.IrcCommands`, whose
helpers (the user lookups, the server's name) they use; the package imports this module, so the
table is complete whenever the interpreter is (``TIME`` is :mod:`twisted_chat.irc.raw_commands`'s,
beside ``/hora``). What each answers: docs/IRC.md.
"""

from __future__ import annotations

from typing import Final

from twisted_chat import __version__, nicknames
from twisted_chat.irc.commands import NAMES_CHUNK, IrcCommands, irc_command
from twisted_chat.irc.message import Message
from twisted_chat.irc.render import channel
from twisted_chat.irc.session import IrcSession

#: Most nicknames ``USERHOST`` answers for (the rest of the line is ignored), as RFC 2812 says.
USERHOST_MAX: Final = 5
#: Invitations (``INVITE``) one user may send in :data:`INVITE_WINDOW` seconds; more get
#: ``263`` (try again) until the oldest is that old.
INVITE_BURST: Final = 5
INVITE_WINDOW: Final = 60.0


# -- who is here ------------------------------------------------------------------------------


@irc_command("ISON", 1)
def ison(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``ISON NICK [NICK...]`` (the nicknames in any parameters, spaces between them): ``303``
    with those logged in now anywhere in the chat (in a cluster, on any node), as they spell
    them, each once (at most :data:`~twisted_chat.irc.commands.NAMES_CHUNK` bytes of them)."""
    found: dict[str, str] = {}
    size = 0
    for param in message.params:
        for nick in param.split():
            user = irc.room.find(nick)
            if user is None or not user.nickname or nicknames.key(user.nickname) in found:
                continue
            size += len(user.nickname.encode()) + 1
            if size > NAMES_CHUNK:  # the reply stays one line of IRC's 512 bytes
                break
            found[nicknames.key(user.nickname)] = user.nickname
    session.reply("303", " ".join(found.values()))


@irc_command("USERHOST", 1)
def userhost(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``USERHOST NICK [NICK...]`` (at most :data:`USERHOST_MAX`): ``302`` with
    ``nick=+nick@SERVER`` for each one logged in (``-`` when away, ``nick*=`` for a server
    operator; a user of another node as its own node told, see
    :meth:`~twisted_chat.irc.commands.IrcCommands.user_info`)."""
    wanted = [nick for param in message.params for nick in param.split()][:USERHOST_MAX]
    entries: list[str] = []
    for nick in wanted:
        found = irc.room.find(nick)
        if found is None or not found.nickname:
            continue
        spelled = found.nickname
        info = irc.user_info(spelled)
        operator = "*" if info.is_operator(spelled) else ""
        away = "-" if info.away is not None else "+"
        entries.append(f"{spelled}{operator}={away}{spelled}@{irc.server_name}")
    session.reply("302", " ".join(entries))


# -- the server ----------------------------------------------------------------------------------


def _elsewhere(irc: IrcCommands, session: IrcSession, message: Message) -> bool:
    """Whether ``message`` names a server (its first parameter) that is not this one: ``402``
    (a cluster's nodes share one name: there is no other server to ask)."""
    if not message.params or not message.params[0]:
        return False
    target = message.params[0]
    if target.casefold() == irc.server_name.casefold() or target == "*":
        return False
    session.reply("402", target, "No such server")
    return True


@irc_command("VERSION")
def version(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``VERSION [SERVER]``: ``351`` (the chat's version), then the ``005`` lines again, as
    servers do."""
    if _elsewhere(irc, session, message):
        return
    session.reply("351", f"twisted-chat-{__version__}.", irc.server_name, "twisted-chat")
    irc.send_isupport(session)


@irc_command("INFO")
def info(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``INFO [SERVER]``: a few ``371`` lines about the software, then ``374``."""
    if _elsewhere(irc, session, message):
        return
    for line in (
        f"twisted-chat {__version__}: one chat for IRC, line (nc), terminal and web clients",
        "Built on Twisted (https://twisted.org)",
        f"Up since {irc._created}",
    ):
        session.reply("371", line)
    session.reply("374", "End of INFO list")


@irc_command("ADMIN")
def admin(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``ADMIN [SERVER]``: ``423`` (no administrative contact is configured)."""
    if _elsewhere(irc, session, message):
        return
    session.reply("423", irc.server_name, "No administrative info available")


@irc_command("USERS")
def users(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``USERS``: ``446``, as on most servers (``LUSERS``, ``WHO`` and ``/listar`` say who is
    here)."""
    session.reply("446", "USERS has been disabled")


# -- invitations -----------------------------------------------------------------------------


@irc_command("INVITE", 2)
def invite(irc: IrcCommands, session: IrcSession, message: Message) -> None:
    """``INVITE NICK #ROOM``: ``NICK`` (anywhere in the chat, on any node) is told, as an IRC
    ``INVITE`` or as a line or web user's ``* `` notice; ``341`` to the inviter (and ``301``
    when the invited is away). ``401`` for nobody, ``403`` for no such room, ``442`` for an
    inviter not in it, ``443`` for someone in it already, ``263`` past
    :data:`INVITE_BURST` invitations in :data:`INVITE_WINDOW` seconds."""
    nick, name = message.params[0], message.params[1]
    recipient = irc.room.find(nick)
    if recipient is None or not recipient.nickname:
        session.reply("401", nick, "No such nick/channel")
        return
    chatroom = irc._find(name)
    if chatroom is None:
        session.reply("403", name, "No such channel")
        return
    chan = channel(chatroom.key)
    spelled = recipient.nickname
    if chatroom not in irc.room.rooms_of(session):
        session.reply("442", chan, "You're not on that channel")
    elif nicknames.key(spelled) in chatroom.users:
        session.reply("443", spelled, chan, "is already on channel")
    elif not _may_invite(irc, session):
        session.reply("263", "INVITE", "Please wait a while and try again.")
    else:
        inviter = session.nickname or ""
        irc.log.info("{by} invited {nick} to {room}", by=inviter, nick=spelled, room=chatroom.key)
        invitation = irc.events.notice("room_invited", nick=inviter, room=chatroom.name)
        irc.room.deliver(recipient, invitation)
        irc._plain(session, "341", spelled, chan)
        away = irc._away(None, spelled)
        if away is not None:
            session.reply("301", spelled, away)


def _may_invite(irc: IrcCommands, session: IrcSession) -> bool:
    """Whether ``session`` may send one more invitation now (counted if so): at most
    :data:`INVITE_BURST` in the last :data:`INVITE_WINDOW` seconds."""
    now = irc.chat.clock.seconds()
    sent = session.invites
    while sent and now - sent[0] >= INVITE_WINDOW:
        sent.popleft()
    if len(sent) >= INVITE_BURST:
        return False
    sent.append(now)
    return True
