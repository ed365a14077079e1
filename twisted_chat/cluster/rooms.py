"""The rooms (protocol v1.1) as one set for the whole cluster: who creates them, where the
other nodes' users are, which room channels this node listens to.

Every node keeps every room that has a member anywhere, with all its members
(``ChatRoom.users``: this node's users by the room's own bookkeeping, the other nodes' users
placed here from the replicas, :meth:`RoomReplication.replicas_changed`) and its operator:

- a user's move is a ``room`` event (:class:`~twisted_chat.cluster.events.RoomMoved`) and a
  ``#r:`` field of its node's users hash, numbered like joins and leaves; an IRC user's
  rooms (any number: ``JOIN``, ``PART``, ``KICK``) are a ``rooms`` event
  (:class:`~twisted_chat.cluster.events.RoomsSet`) and its ``#r:`` and ``#R:`` fields
  (:meth:`RoomReplication.join`, :meth:`RoomReplication.rooms_changed`);
- creating a room that this node does not know is claimed first in Redis (``room-op:ROOM``,
  ``SET NX`` in a script, kept alive by the creator's node heartbeat): of two creators at once
  one is the operator and the other joins its room;
- a room's public messages go to its own channel (``room:ROOM``), to which a node subscribes
  while it has at least one member in the room.

After an outage this node writes its users' rooms and its rooms' claims again
(:meth:`RoomReplication.restore`); the other nodes re-read it and announce the differences.
The topics are :mod:`twisted_chat.cluster.topics`'s.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames, roomnames
from twisted_chat.cluster import scripts
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import RoomMoved, RoomsSet
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.membership import Membership, rooms_fields
from twisted_chat.cluster.outbox import Outbox
from twisted_chat.cluster.presence import DEFAULT, Changes, Placement
from twisted_chat.cluster.topics import TopicReplication
from twisted_chat.events import Text
from twisted_chat.room import ChatRoom, Entered, Member, Move, Room

if TYPE_CHECKING:
    from twisted_chat.cluster.room import ClusterRoom


class RoomReplication:
    """One node's part in the cluster's set of rooms: creation claims, the other nodes' users
    placed in the rooms, and the rooms' channels."""

    log = Logger()

    def __init__(
        self,
        room: ClusterRoom,
        origin: Origin,
        keys: Keys,
        link: RedisLink,
        outbox: Outbox,
        membership: Membership,
        topics: TopicReplication,
        ttl_ms: int,
    ) -> None:
        self.room = room
        self.origin = origin
        self.keys = keys
        self.link = link
        self.outbox = outbox
        self.membership = membership
        self.topics = topics
        self._ttl_ms = ttl_ms
        #: Public-message envelopes received from other nodes, by room key, for the rooms that
        #: exist (the metrics' ``chat_cluster_room_envelopes_received_total``).
        self.room_envelopes: dict[str, int] = {}
        # This node's members per room key: a room's channel is subscribed while there is one.
        self._local_counts: dict[str, int] = {}
        # Where each user of another node was placed: nick key -> room keys.
        self._remote_rooms: dict[str, tuple[str, ...]] = {}
        # Room creation claims held for this node's users: room key -> (claim value, nick key).
        self._claims: dict[str, tuple[str, str]] = {}

    # -- this node's members ----------------------------------------------------------------

    def joined(self, chatroom: ChatRoom) -> None:
        """A member of this node entered ``chatroom``: the first one subscribes to its
        channel."""
        count = self._local_counts.get(chatroom.key, 0)
        self._local_counts[chatroom.key] = count + 1
        if not count:
            self.link.subscribe(self.keys.room_channel(chatroom.key))
            self.room.missed(chatroom.key)

    def parted(self, chatroom: ChatRoom) -> None:
        """A member of this node left ``chatroom``: the last one unsubscribes."""
        count = self._local_counts.get(chatroom.key, 0) - 1
        if count > 0:
            self._local_counts[chatroom.key] = count
        else:
            self._local_counts.pop(chatroom.key, None)
            self.link.unsubscribe(self.keys.room_channel(chatroom.key))

    def has_remote_members(self, chatroom: ChatRoom) -> bool:
        """Whether ``chatroom`` has members on other nodes, as far as the replicas say (a user
        who enters it elsewhere is placed here when its ``room`` event arrives; what is said
        meanwhile is not published, as what is said before its node's subscription is not
        received)."""
        return len(chatroom.users) > self._local_counts.get(chatroom.key, 0)

    def vacated(self, chatroom: ChatRoom) -> None:
        """The room may have forgotten ``chatroom``: if so, forget its envelope count and give
        back its creation claim, if held here (the room is free to be created again). When
        the claim is not held here (held by another node, or gone with its creator leaving
        the chat), the claim of the room's operator and the topic go from Redis all the same
        (every node where the room empties says so: when the last members leave on two nodes
        at once, each sees the other's leave last); a new creator's claim is kept, and so is
        the topic while there is one."""
        key = chatroom.key
        if key not in self.room.rooms:
            self.room_envelopes.pop(key, None)
            claim = self._claims.pop(key, None)
            if claim is not None:
                self._release_claim(key, claim[0], forget_topic=True)
            else:
                # The claim of the room's creator (held on another node, given back when that
                # node hears of this) goes now, so that this node's next creator of the name
                # gets a new room of its own, not the old creator's claim.
                self._release_claim(key, "", forget_topic=True, stale=chatroom.operator or "")

    def user_gone(self, nick_key: str) -> None:
        """The user ``nick_key`` left the chat: give back the rooms' creation claims it
        held."""
        for key, (value, holder) in list(self._claims.items()):
            if holder == nick_key:
                del self._claims[key]
                self._release_claim(key, value, forget_topic=False)

    def envelope_received(self, room_key: str) -> None:
        """An envelope of public messages of the room ``room_key`` came from another node."""
        if room_key in self.room.rooms:
            self.room_envelopes[room_key] = self.room_envelopes.get(room_key, 0) + 1

    # -- entering a room: the creation claim ------------------------------------------------

    def enter(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Move ``member`` to the room ``name``. A room this node does not know is claimed in
        Redis first: the first creator is its operator; a later one joins the room as its
        creator spelled it. Without Redis the room is created here (claimed again when Redis
        is back)."""
        room = self.room
        key = roomnames.key(name)
        nick_key = nicknames.key(member.nickname or "")
        if (
            key in room.rooms
            or not self.membership.ready
            or not room.may_create()
            or room.local_member(nick_key) is not member
        ):
            move = room.enter_now(member, name)
            self._moved(nick_key, move, move.entered is Entered.CREATED)
            return defer.succeed(move)
        value = json.dumps([self.origin.instance, nick_key, name], ensure_ascii=False)
        claimed = self.link.run(
            scripts.ROOM_CLAIM,
            [self.keys.room_op(key), self.keys.topics],
            [value, self._ttl_ms, key],
        )

        def answered(result: Any) -> Move:
            won = int(result[0]) == 1
            holder = _claim_of(result[1]) if not won else (self.origin.instance, nick_key, name)
            if holder is None:  # a claim value this release cannot read: no operator
                holder = ("", "", name)
            move = room.enter_now(member, holder[2], creator=won)
            chatroom = move.room
            if won:
                if (
                    chatroom is None
                    or chatroom.key != key
                    or move.entered not in (Entered.CREATED, Entered.MOVED)
                ):  # full meanwhile, or the user is gone: the claim is not used
                    self._release_claim(key, value, forget_topic=False)
                else:
                    chatroom.operator = nick_key
                    self._claims[key] = (value, nick_key)
            elif chatroom is not None and move.entered is Entered.CREATED:
                chatroom.operator = holder[1] or None
            self._moved(nick_key, move, won)
            return move

        def failed(failure: Failure) -> Move:
            self.log.debug("cluster: room claim of {room} failed: {f}", room=key, f=failure.value)
            move = room.enter_now(member, name)
            self._moved(nick_key, move, move.entered is Entered.CREATED)
            return move

        return claimed.addCallbacks(answered, failed)

    def _moved(self, nick_key: str, move: Move, operator: bool) -> None:
        """Tell the other nodes (and Redis) that this node's user moved, if it did."""
        chatroom = move.room
        if chatroom is None or move.entered not in (Entered.MOVED, Entered.CREATED):
            return
        name = DEFAULT if chatroom is self.room.default else chatroom.name
        version = self.membership.moved(nick_key, name, chatroom.key if operator else "")
        if version is not None:
            self.outbox.send(self.keys.room, RoomMoved(nick_key, chatroom.name, operator, version))

    # -- several rooms at once: IRC users ---------------------------------------------------

    def join(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Put ``member`` in the room ``name`` as well as its others (an IRC ``JOIN``) and
        tell the other nodes. A room this node does not know is claimed in Redis first, as
        :meth:`enter` does: the first creator is its operator; a later one joins the room as
        its creator spelled it."""
        room = self.room
        key = roomnames.key(name)
        nick_key = nicknames.key(member.nickname or "")
        if (
            key in room.rooms
            or not self.membership.ready
            or not room.may_create()
            or room.local_member(nick_key) is not member
        ):
            return defer.succeed(room.join_now(member, name))
        value = json.dumps([self.origin.instance, nick_key, name], ensure_ascii=False)
        claimed = self.link.run(
            scripts.ROOM_CLAIM,
            [self.keys.room_op(key), self.keys.topics],
            [value, self._ttl_ms, key],
        )

        def answered(result: Any) -> Move:
            won = int(result[0]) == 1
            holder = _claim_of(result[1]) if not won else (self.origin.instance, nick_key, name)
            if holder is None:  # a claim value this release cannot read: no operator
                holder = ("", "", name)
            move = Room.join_now(room, member, holder[2])  # told below, its operator settled
            chatroom = move.room
            created = move.entered is Entered.CREATED
            if won:
                if chatroom is None or chatroom.key != key or not created:
                    # full meanwhile, known meanwhile, or the user is gone: not used
                    self._release_claim(key, value, forget_topic=False)
                else:
                    self._claims[key] = (value, nick_key)
            elif chatroom is not None and created:
                chatroom.operator = holder[1] or None
            if move.entered in (Entered.CREATED, Entered.MOVED):
                self.rooms_changed(member, key if won and created else "")
            return move

        def failed(failure: Failure) -> Move:
            self.log.debug("cluster: room claim of {room} failed: {f}", room=key, f=failure.value)
            return room.join_now(member, name)

        return claimed.addCallbacks(answered, failed)

    def rooms_changed(
        self,
        member: Member,
        operator_of: str = "",
        quiet: bool = False,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Tell the other nodes (and Redis) the rooms ``member``, a user of this node, is in
        now, and that it is the operator of the room ``operator_of`` (``""``: of none new)."""
        nick_key = nicknames.key(member.nickname or "")
        names = self._names(member)
        version = self.membership.rooms_set(nick_key, names, operator_of)
        if version is not None:
            event = RoomsSet(nick_key, names, operator_of, version, quiet, by, reason)
            self.outbox.send(self.keys.room, event)

    def _names(self, member: Member) -> tuple[str, ...]:
        """The names of the rooms of ``member`` (:data:`DEFAULT`: the default room)."""
        default = self.room.default
        return tuple(
            DEFAULT if chatroom is default else chatroom.name
            for chatroom in self.room.rooms_of(member)
        )

    def _release_claim(self, key: str, value: str, forget_topic: bool, stale: str = "") -> None:
        """Give back the creation claim ``value`` of the room ``key`` (and its topic in Redis,
        if ``forget_topic``: the room is gone); ``stale``: the nick key of the gone room's
        operator, whose claim goes too wherever it is held."""
        if not self.membership.ready:
            return
        keys = self.keys
        args = [value, key, self.origin.instance, "1" if forget_topic else ""]
        self.link.run(
            scripts.ROOM_RELEASE,
            [keys.room_op(key), keys.users(self.origin.node), keys.topics],
            [*args, stale] if stale else args,
        ).addErrback(lambda f: self.log.debug("cluster: room release: {f}", f=f.value))

    def refresh_claims(self) -> None:
        """With every heartbeat: keep alive the creation claims of this node's users."""
        if not self._claims:
            return
        keys = [self.keys.room_op(key) for key in self._claims]
        values = [value for value, _ in self._claims.values()]
        self.link.run(scripts.ROOM_REFRESH, keys, [self._ttl_ms, *values]).addErrback(
            lambda f: self.log.debug("cluster: room claims refresh: {f}", f=f.value)
        )

    # -- the other nodes' users in the rooms -----------------------------------------------

    def replicas_changed(self, changes: Changes) -> None:
        """The replicas of the other nodes changed: place their users in the rooms, set the
        operators, and tell this node's members of each room (while in the cluster)."""
        announce = self.membership.ready
        for placement in changes.placed:
            self._place(placement, announce)
        for room_key, old, new in changes.operators:
            chatroom = self.room.rooms.get(room_key)
            if chatroom is None:
                continue
            if new is not None:
                chatroom.operator = new
            elif chatroom.operator == old:
                chatroom.operator = None

    def _place(self, placement: Placement, announce: bool) -> None:
        """Take the remote user of ``placement`` out of the rooms it left and into those it
        entered."""
        room = self.room
        nick_key, nickname = placement.nick_key, placement.nickname
        if room.local_member(nick_key) is not None:
            return  # a user of this node holds that nickname now (after a partition)
        old_keys = self._remote_rooms.pop(nick_key, None)
        if old_keys is None and placement.before is not None:  # placed before we kept track
            old_keys = tuple(self._key_of(name) for name in placement.before)
        old = [room.rooms[key] for key in old_keys or () if key in room.rooms]
        new: list[ChatRoom] | None = None
        if placement.after is not None:
            new = list({c.key: c for c in map(self._room_for, placement.after)}.values())
            self._remote_rooms[nick_key] = tuple(chatroom.key for chatroom in new)
            for chatroom in new:
                chatroom.users[nick_key] = nickname
        gone = [chatroom for chatroom in old if new is None or chatroom not in new]
        came = [chatroom for chatroom in new or () if chatroom not in old]
        for chatroom in gone:
            if chatroom.users.get(nick_key) is not None:
                del chatroom.users[nick_key]
        if announce and not placement.quiet:
            self._announce_placement(placement, nickname, old, gone, came)
        for chatroom in gone:
            room.vacate(chatroom)
        if placement.after is None:
            room.user_gone(nick_key)

    def _key_of(self, name: str) -> str:
        """The key of the room ``name`` (:data:`DEFAULT`: the default room)."""
        return self.room.default.key if name == DEFAULT else roomnames.key(name)

    def _announce_placement(
        self,
        placement: Placement,
        nickname: str,
        old: list[ChatRoom],
        gone: list[ChatRoom],
        came: list[ChatRoom],
    ) -> None:
        """Tell this node's members of the rooms concerned that ``nickname`` logged in, left
        the chat, or left and entered rooms (a move between rooms, an IRC user's ``JOIN``,
        ``PART`` or ``KICK``)."""
        room = self.room
        events = room.events
        default = room.default
        if placement.before is None:  # a login
            # Into no room (an IRC user): the default room's line users read it came, as on
            # one node; IRC users there get no JOIN (it is not a member). An IRC login arrives
            # as a login into the default room and, in the same envelope, a quiet ``rooms``
            # event taking it out: the JOIN is not written because notices are gathered
            # (rendered after the envelope, as every server does; without gathering, IRC
            # users of the default room would read a JOIN and no PART).
            for chatroom in came or [default]:
                room.announce(events.joined(chatroom.key, nickname))
        elif placement.after is None:  # left the chat
            for chatroom in gone:
                room.announce(events.left(chatroom.key, nickname))
            if not old:  # from no room: as IrcSession.connection_lost says it
                room.announce(events.notice_of(Text("left", nick=nickname), default.key))
        else:
            for chatroom in gone:
                left = events.left(chatroom.key, nickname, chatroom.name)
                left.by = placement.by
                left.reason = placement.reason
                room.announce(left)
            for chatroom in came:
                room.announce(events.joined(chatroom.key, nickname, chatroom.name))

    def _room_for(self, name: str) -> ChatRoom:
        """The room called ``name`` (:data:`DEFAULT`: the default room), made if this node did
        not know it (rooms of other nodes count in ``max_rooms`` but are never refused)."""
        room = self.room
        if name == DEFAULT:
            return room.default
        key = roomnames.key(name)
        chatroom = room.rooms.get(key)
        if chatroom is None:
            chatroom = room.rooms[key] = ChatRoom(name)
            self.topics.read(chatroom)
        return chatroom

    # -- after an outage ---------------------------------------------------------------------

    def restore(self) -> None:
        """This node (re)registered: write its users' rooms again and claim again the rooms
        whose operator is here (before the ``hello``, so the others read them)."""
        room, keys = self.room, self.keys
        pairs: list[str] = []
        sets: list[str] = []
        for member in room.members():
            chatroom = room.room_of(member)
            nick_key = nicknames.key(member.nickname or "")
            if chatroom is not room.default:
                pairs += [nick_key, chatroom.name]
            names = self._names(member)
            if len(names) != 1:  # an IRC user in no room or several: its #R: field
                sets += rooms_fields(nick_key, names)
        claims: list[Any] = []
        for key, chatroom in room.rooms.items():
            operator = chatroom.operator
            if operator is None or room.local_member(operator) is None or chatroom.permanent:
                continue
            claim = self._claims.get(key)
            if claim is None or claim[1] != operator:
                value = json.dumps([self.origin.instance, operator, chatroom.name])
                claim = self._claims[key] = (value, operator)
            claims += [key, operator, claim[0]]
        if sets:
            self.link.run(
                scripts.ROOMS_SET,
                [keys.users(self.origin.node)],
                [self.origin.instance, "", "", *sets],
            ).addErrback(lambda f: self.log.debug("cluster: restore of rooms: {f}", f=f.value))
        if pairs or claims:
            args = [self.origin.instance, self._ttl_ms, keys.room_op_prefix, len(pairs) // 2]
            self.link.run(
                scripts.RESTORE, [keys.users(self.origin.node)], [*args, *pairs, *claims]
            ).addCallbacks(
                self._restored, lambda f: self.log.debug("cluster: restore: {f}", f=f.value)
            )

    def _restored(self, lost: Any) -> None:
        """Rooms created here during an outage that another creator holds now: its operator,
        and its spelling."""
        for room_key, holder in lost or []:
            room_key = str(room_key)
            self._claims.pop(room_key, None)
            chatroom = self.room.rooms.get(room_key)
            claim = _claim_of(holder)
            if chatroom is not None:
                chatroom.operator = claim[1] if claim is not None else None
                if claim is not None:
                    chatroom.name = claim[2]  # as its creator spelled it, as everywhere


def _claim_of(raw: Any) -> tuple[str, str, str] | None:
    """A room creation claim's value: (instance, nick key, room name), or ``None``."""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if type(value) is list and len(value) == 3 and all(type(v) is str for v in value):
        return value[0], value[1], value[2]
    return None
