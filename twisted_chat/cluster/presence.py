"""What this node knows of the other nodes' users: one versioned replica per node.

Each node numbers the changes to its own user list (its *membership version*) and writes the
version with the list into Redis; its join and leave events carry the version after the change.
Snapshots (read on the command connection) and events (on the subscriber connection) can arrive
in either order, so a replica applies an event only if it is newer than what it has, and a
snapshot only if it is not older. An event that skips a version means one was missed: the
replica asks for a fresh snapshot.

Each replica also keeps the rooms of every user of that node and which of its users is the
operator of which room, from ``room`` and ``rooms`` events and the ``#r:``, ``#R:`` and ``#o:``
fields of the users hash. A user's rooms are a set: a line user is in one room (``#r:``, absent
for the default room), an IRC user in any number, zero included (``#R:``, a JSON list of room
names, written only when the set is not one room; ``#r:`` then holds the last of them, for
nodes of earlier releases, which read ``#r:`` alone).

Each replica also keeps what else other users may know of each user of that node (real name,
away message, account, server operator, ``+i``: :class:`~twisted_chat.userinfo.UserInfo`), from
``uinfo`` events and the ``#u:`` fields of the users hash (a JSON object, absent when nothing is
known); a rename moves it, a leave drops it.

Every change to a replica returns who joined and who left, who moved from which room to which,
and which rooms' operators changed, so that the room can keep its rooms and tell its users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from twisted_chat import roomnames
from twisted_chat.userinfo import NONE, UserInfo

#: The room of a user in the default room, in :class:`Placement` (every node has its own
#: ``--default-room``, the same everywhere).
DEFAULT: Final = ""
#: The field prefixes of a user's room and of a room's operator in a node's users hash.
ROOM_FIELD: Final = "#r:"
OPERATOR_FIELD: Final = "#o:"
#: The field prefix of a user's rooms when they are not one room (an IRC user's): a JSON list.
ROOMS_FIELD: Final = "#R:"
#: The field prefix of a user's info (:class:`~twisted_chat.userinfo.UserInfo`): a JSON object,
#: absent when there is nothing to know.
INFO_FIELD: Final = "#u:"


@dataclass
class RemoteNode:
    """The users of one other node, as of ``version``."""

    node: str
    instance: str
    version: int = -1
    users: dict[str, str] = field(default_factory=dict)  # nick key -> nickname
    #: nick key -> the name of its room, for users not in the default room.
    rooms: dict[str, str] = field(default_factory=dict)
    #: room key -> the nick key of its operator, for rooms whose operator is on this node.
    operators: dict[str, str] = field(default_factory=dict)
    #: nick key -> the names of its rooms, for users whose rooms are not one room (IRC users
    #: in none or several); ``rooms`` then holds the last of them.
    room_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: nick key -> what else is known of it (real name, away, account...), when anything is.
    info: dict[str, UserInfo] = field(default_factory=dict)

    def rooms_of(self, nick_key: str) -> tuple[str, ...]:
        """The names of the rooms of the user ``nick_key`` (:data:`DEFAULT`: the default
        room)."""
        names = self.room_sets.get(nick_key)
        if names is not None:
            return names
        return (self.rooms.get(nick_key, DEFAULT),)

    def set_rooms(self, nick_key: str, names: tuple[str, ...]) -> None:
        """The user ``nick_key`` is in the rooms ``names`` now."""
        if len(names) == 1:
            self.room_sets.pop(nick_key, None)
        else:
            self.room_sets[nick_key] = names
        last = names[-1] if names else DEFAULT
        if last == DEFAULT:
            self.rooms.pop(nick_key, None)
        else:
            self.rooms[nick_key] = last


@dataclass(frozen=True, slots=True)
class Placement:
    """A remote user's rooms changed: ``before`` and ``after`` are the names of its rooms
    (:data:`DEFAULT` for the default room; a line user's are one room, an IRC user's any
    number), ``None`` when not logged in (a login, a leave).

    ``quiet``: nobody is told (an IRC user taken out of the default room at its login);
    ``by`` and ``reason``: who sent it out of the rooms it left (an IRC ``KICK``) and why, or
    what its ``PART`` said."""

    nick_key: str
    nickname: str
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None
    quiet: bool = False
    by: str | None = None
    reason: str | None = None


@dataclass
class Changes:
    """Who joined and who left (nicknames), from a change to the replicas."""

    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    #: A node whose events skipped a version, or that is not known yet: read its snapshot.
    stale: str | None = None
    #: Every user whose room changed (logins and leaves included), in order.
    placed: list[Placement] = field(default_factory=list)
    #: Rooms whose operator changed: ``(room key, old nick key, new nick key)``.
    operators: list[tuple[str, str | None, str | None]] = field(default_factory=list)


class Presence:
    """The replicas of every other node of the cluster."""

    def __init__(self) -> None:
        self.nodes: dict[str, RemoteNode] = {}

    def find(self, nick_key: str) -> tuple[RemoteNode, str] | None:
        """The node holding ``nick_key`` and the user's nickname, if any node does."""
        for remote in self.nodes.values():
            nickname = remote.users.get(nick_key)
            if nickname is not None:
                return remote, nickname
        return None

    def info(self, nick_key: str) -> UserInfo | None:
        """What is known of the remote user ``nick_key`` beyond its nickname and rooms
        (``None``: no remote user has that key)."""
        for remote in self.nodes.values():
            if nick_key in remote.users:
                return remote.info.get(nick_key, NONE)
        return None

    def users(self) -> dict[str, str]:
        """Every remote user: ``{nick_key: nickname}``."""
        everyone: dict[str, str] = {}
        for remote in self.nodes.values():
            everyone.update(remote.users)
        return everyone

    def count(self) -> int:
        """How many remote users there are."""
        return sum(len(remote.users) for remote in self.nodes.values())

    # -- changes ----------------------------------------------------------------------------

    def joined(
        self, node: str, instance: str, nick_key: str, nickname: str, version: int
    ) -> Changes:
        """``node`` says ``nickname`` logged in at membership ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is not None:
            if nick_key not in remote.users:
                changes.joined.append(nickname)
                changes.placed.append(Placement(nick_key, nickname, None, (DEFAULT,)))
            remote.users[nick_key] = nickname
        return changes

    def left(self, node: str, instance: str, nick_key: str, version: int) -> Changes:
        """``node`` says its user ``nick_key`` left at membership ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is not None:
            nickname = remote.users.pop(nick_key, None)
            if nickname is not None:
                changes.left.append(nickname)
                before = remote.rooms_of(nick_key)
                remote.rooms.pop(nick_key, None)
                remote.room_sets.pop(nick_key, None)
                remote.info.pop(nick_key, None)
                changes.placed.append(Placement(nick_key, nickname, before, None))
            for room_key, operator in list(remote.operators.items()):
                if operator == nick_key:
                    del remote.operators[room_key]
                    changes.operators.append((room_key, nick_key, None))
        return changes

    def moved(
        self, node: str, instance: str, nick_key: str, name: str, operator: bool, version: int
    ) -> Changes:
        """``node`` says its user ``nick_key`` moved to the room ``name`` (of which it is the
        operator, if ``operator``) at membership ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is None:
            return changes
        nickname = remote.users.get(nick_key)
        if nickname is None:
            changes.stale = node  # a move of a user we never saw log in
            return changes
        before = remote.rooms_of(nick_key)
        remote.room_sets.pop(nick_key, None)
        remote.rooms[nick_key] = name
        if before != (name,):
            changes.placed.append(Placement(nick_key, nickname, before, (name,)))
        if operator:
            room_key = roomnames.key(name)
            old = remote.operators.get(room_key)
            remote.operators[room_key] = nick_key
            changes.operators.append((room_key, old, nick_key))
        return changes

    def placed_in(
        self,
        node: str,
        instance: str,
        nick_key: str,
        names: tuple[str, ...],
        operator_of: str,
        version: int,
        quiet: bool = False,
        by: str | None = None,
        reason: str | None = None,
    ) -> Changes:
        """``node`` says its user ``nick_key`` is in the rooms ``names`` now (an IRC user's
        ``JOIN``, ``PART`` or ``KICK``; ``quiet``, ``by``, ``reason``: see :class:`Placement`),
        and the operator of the room ``operator_of`` (``""``: of none new), at membership
        ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is None:
            return changes
        nickname = remote.users.get(nick_key)
        if nickname is None:
            changes.stale = node
            return changes
        before = remote.rooms_of(nick_key)
        remote.set_rooms(nick_key, names)
        if set(before) != set(names):
            changes.placed.append(Placement(nick_key, nickname, before, names, quiet, by, reason))
        if operator_of:
            old = remote.operators.get(operator_of)
            remote.operators[operator_of] = nick_key
            changes.operators.append((operator_of, old, nick_key))
        return changes

    def info_set(
        self, node: str, instance: str, nick_key: str, info: UserInfo, version: int
    ) -> Changes:
        """``node`` says what is known of its user ``nick_key`` is ``info`` now, at membership
        ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is None:
            return changes
        if nick_key not in remote.users:
            changes.stale = node  # the info of a user we never saw log in
            return changes
        if info == NONE:
            remote.info.pop(nick_key, None)
        else:
            remote.info[nick_key] = info
        return changes

    def renamed(
        self, node: str, instance: str, old_key: str, new_key: str, nickname: str, version: int
    ) -> tuple[Changes, str | None]:
        """``node`` says its user ``old_key`` is ``nickname`` (``new_key``) now, at membership
        ``version``: the changes (a stale node to read again, if any) and the user's old
        nickname (``None`` if the replica did not take it: read the node again)."""
        changes, remote = self._event(node, instance, version)
        if remote is None:
            return changes, None
        old = remote.users.pop(old_key, None)
        if old is None:
            changes.stale = node  # a change of a user we never saw log in
            return changes, None
        remote.users[new_key] = nickname
        room = remote.rooms.pop(old_key, None)
        if room is not None:
            remote.rooms[new_key] = room
        room_set = remote.room_sets.pop(old_key, None)
        if room_set is not None:
            remote.room_sets[new_key] = room_set
        info = remote.info.pop(old_key, None)
        if info is not None:
            remote.info[new_key] = info
        for room_key, operator in list(remote.operators.items()):
            if operator == old_key:
                remote.operators[room_key] = new_key
        return changes, old

    def _event(self, node: str, instance: str, version: int) -> tuple[Changes, RemoteNode | None]:
        """Take the version of an event of ``node``: the changes it starts with, and the replica
        to apply it to (``None`` when it must not be: an unknown or restarted node, whose
        snapshot is needed, or an event not newer than the replica)."""
        remote = self.nodes.get(node)
        if remote is None or remote.instance != instance:
            return Changes(stale=node), None
        if version <= remote.version:
            return Changes(), None
        changes = Changes(stale=node if version != remote.version + 1 else None)
        remote.version = version
        return changes, remote

    def snapshot(
        self,
        node: str,
        instance: str,
        version: int,
        users: dict[str, str],
        rooms: dict[str, str] | None = None,
        operators: dict[str, str] | None = None,
        room_sets: dict[str, tuple[str, ...]] | None = None,
        info: dict[str, UserInfo] | None = None,
    ) -> Changes:
        """The users of ``node`` (with their ``rooms``, ``room_sets`` and the rooms'
        ``operators``, see :class:`RemoteNode`) as read from Redis at membership ``version``."""
        remote = self.nodes.get(node)
        if remote is not None and remote.instance == instance and version < remote.version:
            return Changes()  # events have taken us further already
        new = RemoteNode(
            node,
            instance,
            version,
            dict(users),
            {k: v for k, v in (rooms or {}).items() if k in users},
            {k: v for k, v in (operators or {}).items() if v in users},
            {k: v for k, v in (room_sets or {}).items() if k in users and len(v) != 1},
            {k: v for k, v in (info or {}).items() if k in users and v != NONE},
        )
        self.nodes[node] = new
        return _diff(remote if remote is not None else RemoteNode(node, instance), new)

    def forget(self, node: str) -> Changes:
        """``node`` stopped or died: all its users left."""
        remote = self.nodes.pop(node, None)
        if remote is None:
            return Changes()
        return _diff(remote, RemoteNode(node, remote.instance))

    def known(self, node: str) -> RemoteNode | None:
        """The replica of ``node``, if there is one."""
        return self.nodes.get(node)


def _diff(old: RemoteNode, new: RemoteNode) -> Changes:
    """What changed from the replica ``old`` to ``new``."""
    changes = Changes()
    changes.left = [nick for key, nick in old.users.items() if key not in new.users]
    changes.joined = [nick for key, nick in new.users.items() if key not in old.users]
    placed = changes.placed
    for key, nick in old.users.items():
        before = old.rooms_of(key)
        if key not in new.users:
            placed.append(Placement(key, nick, before, None))
        else:
            after = new.rooms_of(key)
            if set(after) != set(before):
                placed.append(Placement(key, new.users[key], before, after))
    for key, nick in new.users.items():
        if key not in old.users:
            placed.append(Placement(key, nick, None, new.rooms_of(key)))
    for room_key in old.operators.keys() | new.operators.keys():
        before_op, after_op = old.operators.get(room_key), new.operators.get(room_key)
        if before_op != after_op:
            changes.operators.append((room_key, before_op, after_op))
    return changes


def split_fields(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A node's users hash (without ``#i`` and ``#v``) as its users, their rooms and the rooms'
    operators (see :class:`RemoteNode`); other ``#`` fields are ignored (the ``#R:`` sets are
    :func:`room_sets`'s)."""
    users: dict[str, str] = {}
    rooms: dict[str, str] = {}
    operators: dict[str, str] = {}
    for name, value in fields.items():
        if not name.startswith("#"):
            users[name] = value
        elif name.startswith(ROOM_FIELD):
            rooms[name[len(ROOM_FIELD) :]] = value
        elif name.startswith(OPERATOR_FIELD):
            operators[name[len(OPERATOR_FIELD) :]] = value
    return users, rooms, operators


def room_sets(fields: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The ``#R:`` fields of a node's users hash: nick key -> the names of its rooms, for the
    users whose rooms are not one room; a value that is not a JSON list of strings is
    ignored (the user's ``#r:`` room stands)."""
    sets: dict[str, tuple[str, ...]] = {}
    for name, value in fields.items():
        if name.startswith(ROOMS_FIELD):
            names = decode_rooms(value)
            if names is not None:
                sets[name[len(ROOMS_FIELD) :]] = names
    return sets


def user_info(fields: dict[str, str]) -> dict[str, UserInfo]:
    """The ``#u:`` fields of a node's users hash: nick key -> its info; a value that is not a
    JSON object counts as nothing known."""
    infos: dict[str, UserInfo] = {}
    for name, value in fields.items():
        if name.startswith(INFO_FIELD):
            try:
                wire = json.loads(value)
            except ValueError:
                continue
            infos[name[len(INFO_FIELD) :]] = UserInfo.from_wire(wire)
    return infos


def encode_info(info: UserInfo) -> str:
    """The ``#u:`` value of ``info`` (``""``: nothing to know, the field goes)."""
    wire = info.to_wire()
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":")) if wire else ""


def encode_rooms(names: tuple[str, ...]) -> str:
    """The ``#R:`` value of the rooms ``names``."""
    return json.dumps(list(names), ensure_ascii=False, separators=(",", ":"))


def decode_rooms(value: str) -> tuple[str, ...] | None:
    """The rooms of a ``#R:`` value, or ``None`` if it is not a JSON list of strings."""
    try:
        names = json.loads(value)
    except ValueError:
        return None
    if type(names) is not list or not all(type(n) is str for n in names):
        return None
    return tuple(dict.fromkeys(names))
