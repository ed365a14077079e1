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
  while it has at least one member in the room;
- a room entered here after losing its creation claim to another node (whose creator's own
  ``room`` event may not have arrived yet) holds that creator at once, and counts as having
  members elsewhere for a TTL (:meth:`RoomReplication.has_remote_members`), so that what this
  node's users say there meanwhile is published, never kept from the members elsewhere
  (docs/SCALING.md, "Entering a room as it is created elsewhere");
- no node hears of a member of a room here before this node listens to the room's channel:
  a room is claimed once Redis confirmed the ``SUBSCRIBE``, and the first member of a room
  here holds this node's ``room`` events until it has.

After an outage this node writes its users' rooms and its rooms' claims again
(:meth:`RoomReplication.restore`); the other nodes re-read it and announce the differences.
The topics are :mod:`twisted_chat.cluster.topics`'s.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames, roomnames
from twisted_chat.cluster import scripts
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import RoomMoved, RoomsSet
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.membership import Membership, rooms_fields
from twisted_chat.cluster.outbox import HOLD_TIMEOUT, Outbox
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
        clock: IReactorTime,
    ) -> None:
        self.room = room
        self.origin = origin
        self.keys = keys
        self.link = link
        self.outbox = outbox
        self.membership = membership
        self.topics = topics
        self._ttl_ms = ttl_ms
        self._clock = clock
        #: Public-message envelopes received from other nodes, by room key, for the rooms that
        #: exist (the metrics' ``chat_cluster_room_envelopes_received_total``).
        self.room_envelopes: dict[str, int] = {}
        # This node's members per room key: a room's channel is subscribed while there is one.
        self._local_counts: dict[str, int] = {}
        # Where each user of another node was placed: nick key -> room keys.
        self._remote_rooms: dict[str, tuple[str, ...]] = {}
        # Room creation claims held for this node's users: room key -> (claim value, nick key).
        self._claims: dict[str, tuple[str, str]] = {}
        # Rooms entered here after losing their creation claim to another node: room key ->
        # until when (clock seconds) they count as having members elsewhere, whatever the
        # replicas say (the creator's own event, or a third node's member's, may be on its way).
        self._unsettled: dict[str, float] = {}
        # Rooms being claimed by this node's users (subscribed to ahead of the claim): how many
        # claims are on their way.
        self._claiming: dict[str, int] = {}

    # -- this node's members ----------------------------------------------------------------

    def joined(self, chatroom: ChatRoom) -> None:
        """A member of this node entered ``chatroom``: the first one subscribes to its
        channel, and this node's events wait until Redis confirms the subscription."""
        count = self._local_counts.get(chatroom.key, 0)
        self._local_counts[chatroom.key] = count + 1
        if not count:
            subscribed = self.link.subscribe(self.keys.room_channel(chatroom.key))
            if not subscribed.called:
                # No node hears of this member (its ``room`` or ``rooms`` event, sent on the
                # ``room`` channel after this) before what they say in the room reaches here.
                self.outbox.hold(self.keys.room, subscribed)
            self.room.missed(chatroom.key)

    def parted(self, chatroom: ChatRoom) -> None:
        """A member of this node left ``chatroom``: the last one unsubscribes."""
        count = self._local_counts.get(chatroom.key, 0) - 1
        if count > 0:
            self._local_counts[chatroom.key] = count
        else:
            self._local_counts.pop(chatroom.key, None)
            if chatroom.key not in self._claiming:  # else the claim's end unsubscribes
                self.link.unsubscribe(self.keys.room_channel(chatroom.key))

    def has_remote_members(self, chatroom: ChatRoom) -> bool:
        """Whether ``chatroom`` has members on other nodes, as far as this node knows: the
        replicas say so (a user who enters it elsewhere is placed here when its ``room`` event
        arrives), or it was entered here after losing its creation claim to another node less
        than a TTL ago (its members elsewhere may not have been heard of yet). One dict lookup
        and a length for a room with members here alone: no Redis round trip."""
        if len(chatroom.users) > self._local_counts.get(chatroom.key, 0):
            return True
        return bool(self._unsettled) and self._still_unsettled(chatroom.key)

    def _still_unsettled(self, key: str) -> bool:
        """Whether the room ``key`` still counts as having members elsewhere after a lost
        creation claim (forgotten once its TTL is over: the survey has read every node again
        by then)."""
        until = self._unsettled.get(key)
        if until is None:
            return False
        if self._clock.seconds() < until:
            return True
        del self._unsettled[key]
        return False

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
            self._unsettled.pop(key, None)
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

    def local_renamed(self, old_key: str, new_key: str) -> None:
        """This node's user ``old_key`` is ``new_key`` now: the rooms' creation claims it
        holds are its new nickname's (their values in Redis stay as they are: refreshed and
        given back as they were written)."""
        for key, (value, holder) in list(self._claims.items()):
            if holder == old_key:
                self._claims[key] = (value, new_key)

    def remote_renamed(self, old_key: str, new_key: str) -> None:
        """A user of another node, ``old_key``, is ``new_key`` now: the rooms it was placed in."""
        room_keys = self._remote_rooms.pop(old_key, None)
        if room_keys is not None:
            self._remote_rooms[new_key] = room_keys

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
        if not self._claims_first(key, member, nick_key):
            move = room.enter_now(member, name)
            self._moved(nick_key, move, move.entered is Entered.CREATED)
            return defer.succeed(move)
        value = json.dumps([self.origin.instance, nick_key, name], ensure_ascii=False)
        claimed = self._claim(key, value)

        def answered(result: Any) -> Move:
            won, holder = self._claim_answered(result, key, nick_key, name)
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

        return claimed.addCallbacks(answered, failed).addBoth(self._claim_done, key)

    def _claims_first(self, key: str, member: Member, nick_key: str) -> bool:
        """Whether ``member`` (``nick_key``) entering or joining the room ``key`` claims it in
        Redis first: a room this node does not know, that may be created, while in the
        cluster, by a user still logged in here."""
        room = self.room
        return (
            key not in room.rooms
            and self.membership.ready
            and room.may_create()
            and room.local_member(nick_key) is member
        )

    def _claim_answered(
        self, result: Any, key: str, nick_key: str, name: str
    ) -> tuple[bool, tuple[str, str, str]]:
        """Redis's answer ``result`` to this node's user ``nick_key`` claiming the room
        ``key`` as ``name``: whether it won, and the holder of the claim (instance, nick key,
        name; no operator if its value is one this release cannot read). A claim held
        elsewhere is noted (:meth:`_claimed_elsewhere`)."""
        won = int(result[0]) == 1
        holder = _claim_of(result[1]) if not won else (self.origin.instance, nick_key, name)
        if holder is None:  # a claim value this release cannot read: no operator
            holder = ("", "", name)
        elif not won:
            self._claimed_elsewhere(key, holder)
        return won, holder

    # -- a room claimed by another node's user a moment ago ---------------------------------

    def _claim(self, key: str, value: str) -> defer.Deferred[Any]:
        """Claim the room ``key`` for the value ``value``, once this node listens to the
        room's channel (Redis confirmed the ``SUBSCRIBE``, or :data:`HOLD_TIMEOUT` passed): a
        user of another node who finds the claim held and says something in the room at once
        is heard here. Fires with the claim's answer, the creator read first if need be
        (:meth:`_read_creator`)."""
        self._claiming[key] = self._claiming.get(key, 0) + 1
        subscribed = self.link.subscribe(self.keys.room_channel(key))
        if not subscribed.called:  # a Redis that slow: claim all the same after a while
            subscribed.addTimeout(HOLD_TIMEOUT, self._clock, onTimeoutCancel=lambda _r, _t: None)

        def claim(_: object) -> defer.Deferred[Any]:
            return self.link.run(
                scripts.ROOM_CLAIM,
                [self.keys.room_op(key), self.keys.topics],
                [value, self._ttl_ms, key],
            )

        answer: defer.Deferred[Any] = defer.Deferred()  # not "called" until answered
        subscribed.addCallback(claim).chainDeferred(answer)
        return answer.addCallback(self._read_creator)

    def _claim_done(self, result: Any, key: str) -> Any:
        """A claim of the room ``key`` was answered and used: the room's channel is given up
        if no member of this node is in the room (and no other claim of it is on its way)."""
        count = self._claiming.pop(key, 0) - 1
        if count > 0:
            self._claiming[key] = count
        elif not self._local_counts.get(key):
            self.link.unsubscribe(self.keys.room_channel(key))
        return result

    def _read_creator(self, result: Any) -> Any:
        """A creation claim's answer: when another node holds the claim and its creator is a
        user this node has not heard of yet (its login is on its way), read that node's users
        from Redis first (one ``HGETALL``, on this rare path alone), so that the creator is
        known by its nickname when the room is entered here. Fires with ``result``."""
        try:
            won = int(result[0]) == 1
            holder = None if won else _claim_of(result[1])
        except (TypeError, ValueError, IndexError):
            return result
        if holder is None or holder[0] == self.origin.instance:
            return result
        if self._creator(holder) is not None or roomnames.key(holder[2]) in self.room.rooms:
            return result
        node = holder[0].split("/", 1)[0]
        return self.membership.fetch(node).addCallback(lambda _: result)

    def _creator(self, holder: tuple[str, str, str]) -> str | None:
        """The nickname of the claim ``holder``'s creator, if this node knows it as a user of
        the claim's node (the same run), else ``None``."""
        instance, nick_key, _ = holder
        for remote in self.room.presence.nodes.values():
            if remote.instance == instance:
                return remote.users.get(nick_key)
        return None

    def _claimed_elsewhere(self, key: str, holder: tuple[str, str, str]) -> None:
        """This node's user lost the creation claim of the room ``key`` to ``holder``: if that
        is a user of another node, the room counts as having members elsewhere for a TTL
        (:meth:`has_remote_members`); and if this node does not know the room yet (the
        creator's ``room`` event is on its way: it entered the room just after its claim),
        the room is made here with its creator in it and as its operator, as that event will
        say, so that the user entering it here is listed with the creator, and is not told a
        moment later that the creator "entered" it. When the creator's event arrives it
        changes nothing more (the creator is placed already); if the creator had left the
        room meanwhile, its event says so."""
        instance, creator_key, name = holder
        if instance == self.origin.instance or not instance:
            return
        room = self.room
        now = self._clock.seconds()
        for other, until in list(self._unsettled.items()):  # rooms never asked about again
            if until <= now:
                del self._unsettled[other]
        self._unsettled[key] = now + self._ttl_ms / 1000
        if key in room.rooms or not room.may_create():
            return
        nickname = self._creator(holder)
        if nickname is None or room.local_member(creator_key) is not None:
            return  # not known here even after reading its node: its events will place it
        chatroom = self._room_for(name)
        chatroom.operator = creator_key
        chatroom.users[creator_key] = nickname
        placed = self._remote_rooms.get(creator_key)
        if placed is None:  # where the replica has it now, as _place would have taken it
            remote = next(r for r in room.presence.nodes.values() if r.instance == instance)
            placed = tuple(self._key_of(n) for n in remote.rooms_of(creator_key))
        if key not in placed:
            self._remote_rooms[creator_key] = (*placed, key)

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
        if not self._claims_first(key, member, nick_key):
            return defer.succeed(room.join_now(member, name))
        value = json.dumps([self.origin.instance, nick_key, name], ensure_ascii=False)
        claimed = self._claim(key, value)

        def answered(result: Any) -> Move:
            won, holder = self._claim_answered(result, key, nick_key, name)
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

        return claimed.addCallbacks(answered, failed).addBoth(self._claim_done, key)

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
            chatroom.voiced.discard(nick_key)
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
