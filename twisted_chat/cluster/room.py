"""The clustered room: the same interface as :class:`twisted_chat.room.Room`, over Redis.

The chat core, the commands and the transports call this room exactly as they call one
process's room. What it adds is thin: each override does what the room does for this node's
users and publishes what happened, once per event, for the other nodes
(:mod:`twisted_chat.cluster.events`, gathered per reactor turn by
:mod:`twisted_chat.cluster.outbox`); and the room's lookups (``find``, ``in``, ``nicknames``)
also see the users of the other nodes, from the replicas this node keeps
(:mod:`twisted_chat.cluster.presence`), without asking Redis.

The rest of the cluster layer is put together here, in the manner of Synapse's replication
layer: the Redis link (:mod:`~twisted_chat.cluster.link`), this node's membership in the
cluster (:mod:`~twisted_chat.cluster.membership`: registration, heartbeat, claims), and the
handler of what the other nodes publish (:mod:`~twisted_chat.cluster.handler`).

Rooms (protocol v1.1) are one set for the whole cluster. Every node keeps every room that has
a member anywhere, with all its members (``ChatRoom.users``: this node's users by the room's
own bookkeeping, the other nodes' users placed from the replicas, :meth:`replicas_changed`),
its operator and its topic:

- a user's move is a ``room`` event (:class:`~twisted_chat.cluster.events.RoomMoved`) and a
  ``#r:`` field of its node's users hash, numbered like joins and leaves;
- creating a room that this node does not know is claimed first in Redis (``room-op:ROOM``,
  ``SET NX`` in a script, kept alive by the creator's node heartbeat): of two creators at once
  one is the operator and the other joins its room;
- a topic is written to the ``topics`` hash and published (``topic``); after an outage the
  copy in Redis wins;
- a room's public messages go to its own channel (``room:ROOM``), to which a node subscribes
  while it has at least one member in the room.

While Redis is unreachable the room is one process's room: its users chat among themselves,
in their rooms, nothing is published or buffered, and new logins get one ``! `` line. When it
is back, this node writes its users' rooms and its rooms' claims again (:meth:`_restore`) and
takes the topics Redis holds; the other nodes re-read it and announce the differences.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames, roomnames
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Ban, Bans
from twisted_chat.cluster import scripts
from twisted_chat.cluster.config import ClusterConfig as ClusterConfig
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    AccountChanged,
    Announcement,
    BanAdded,
    BanLifted,
    Kick,
    Mute,
    PrivateMessage,
    PublicMessage,
    RoomMoved,
    TopicSet,
    UserJoined,
    UserLeft,
)
from twisted_chat.cluster.handler import ClusterHandler
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.membership import Membership
from twisted_chat.cluster.outbox import Outbox
from twisted_chat.cluster.presence import DEFAULT, Changes, Placement, Presence
from twisted_chat.events import Event, EventSource, Notice, Private, Public
from twisted_chat.notices import NoticeGathering
from twisted_chat.room import ChatRoom, Claim, Entered, Member, Move, Recipient, Room

if TYPE_CHECKING:
    from twisted_chat.assembly import RoomPlan


class RemoteUser:
    """A user logged in on another node, as the chat core sees it (a
    :class:`~twisted_chat.room.Recipient`): a private message to it is published to its node
    alone, which delivers it."""

    __slots__ = ("_node", "_room", "nickname")

    def __init__(self, room: ClusterRoom, node: str, nickname: str) -> None:
        self._room = room
        self._node = node
        self.nickname: str | None = nickname

    def deliver(self, event: Event) -> None:
        """Send ``event`` (a private message) to the user's node (dropped while Redis is
        unreachable)."""
        if isinstance(event, Private):
            self._room.send_to(self._node, PrivateMessage(event))


class ClusterRoom(Room):
    """One node's room in a cluster of nodes joined through Redis pub/sub."""

    log = Logger()

    #: This node's membership in the cluster: registration, heartbeat, claims.
    membership: Membership
    #: What the other nodes' events do here.
    handler: ClusterHandler

    def __init__(
        self,
        events: EventSource,
        gathering: NoticeGathering | None,
        plan: RoomPlan,
        config: ClusterConfig,
        clock: IReactorTime,
        on_fatal: Callable[[str], None],
        link_factory: Callable[..., RedisLink] = RedisLink,
    ) -> None:
        super().__init__(plan.default, gathering, plan.permanent, plan.max_rooms)
        self.origin = Origin(config.node_id, f"{config.node_id}/{uuid.uuid4().hex[:12]}")
        self.keys = keys = Keys(config.prefix)
        self.presence = Presence()
        # The link calls back into the parts made after it.
        self.link = link_factory(
            config.url,
            [keys.room, keys.to(config.node_id)],
            clock,
            on_message=lambda channel, data: self.handler.received(channel, data),
            on_up=lambda: self.membership.link_up(),
            on_down=lambda: self.membership.link_down(),
            on_fatal=lambda message: self.membership.fatal(message),
            ping_interval=config.ttl / 3,
        )
        self.outbox = Outbox(self.link, clock, self.origin)
        self.membership = Membership(
            self,
            events,
            config,
            self.origin,
            keys,
            clock,
            self.link,
            self.outbox,
            self.presence,
            on_fatal,
        )
        self.handler = ClusterHandler(self, self.origin, self.presence, self.membership, clock)
        self.events = events
        self._ttl_ms = max(1, int(config.ttl * 1000))
        #: Public-message envelopes received from other nodes, by room key, for the rooms that
        #: exist (the metrics' ``chat_cluster_room_envelopes_received_total``).
        self.room_envelopes: dict[str, int] = {}
        # This node's members per room key: a room's channel is subscribed while there is one.
        self._local_counts: dict[str, int] = {}
        # Where each user of another node was placed: nick key -> room key.
        self._remote_rooms: dict[str, str] = {}
        # Room creation claims held for this node's users: room key -> (claim value, nick key).
        self._claims: dict[str, tuple[str, str]] = {}
        self.membership.on_changes = self.replicas_changed
        self.membership.registering.append(self._restore)
        self.membership.beating.append(self._refresh_claims)

    def attach(
        self,
        accounts: Accounts | None,
        bans: Bans | None,
        gather_output: Callable[[], None] | None,
    ) -> None:
        """Keep ``accounts`` and ``bans`` in step with the other nodes (re-read after an
        outage), and gather each envelope's output with ``gather_output`` (the server's)."""
        handler = self.handler
        handler.gather_output = gather_output
        handler.accounts = accounts
        handler.bans = bans
        if accounts is not None:
            accounts.changed.append(self._account_changed)
            self.membership.rejoined.append(accounts.reload)
        if bans is not None:
            self.membership.rejoined.append(bans.reload)

    @property
    def ready(self) -> bool:
        """Whether this node is in the cluster now (registered, Redis reachable)."""
        return self.membership.ready

    @property
    def redis_up(self) -> bool:
        """Whether both connections to Redis are up (the metrics' ``chat_redis_up``)."""
        return bool(self.link.up)

    @property
    def cluster_users(self) -> int:
        """Users of the whole cluster that this node knows of."""
        return len(self) + (self.presence.count() if self.ready else 0)

    # -- who is here: the whole cluster ------------------------------------------------------

    def __contains__(self, nickname: str) -> bool:
        nick_key = nicknames.key(nickname)
        if nick_key in self._users:
            return True
        return self.ready and self.presence.find(nick_key) is not None

    def find(self, nickname: str) -> Recipient | None:
        """The local member, or the :class:`RemoteUser` on another node, of ``nickname``."""
        nick_key = nicknames.key(nickname)
        member = self._users.get(nick_key)
        if member is not None or not self.ready:
            return member
        found = self.presence.find(nick_key)
        if found is None:
            return None
        remote, spelling = found
        return RemoteUser(self, remote.node, spelling)

    def nicknames(self) -> list[str]:
        """Every user of the cluster this node can reach, sorted by their casefolded form."""
        everyone = self.presence.users() if self.ready else {}
        for nick_key, member in self._users.items():
            everyone[nick_key] = member.nickname or ""
        return [everyone[k] for k in sorted(everyone)]

    def claim(self, nickname: str) -> defer.Deferred[Claim]:
        """Claim ``nickname`` for the whole cluster (see :meth:`Membership.claim`)."""
        return self.membership.claim(nickname)

    def unclaim(self, nickname: str) -> None:
        """The login of a claimed nickname did not happen: free it."""
        self.membership.unclaim(nickname)

    # -- what happens here, published -------------------------------------------------------

    def add(self, member: Member, nickname: str) -> bool:
        """Register a local user and tell the other nodes."""
        if not super().add(member, nickname):
            return False
        nick_key = nicknames.key(nickname)
        version = self.membership.logged_in(nick_key)
        if self.ready and version is not None:
            self.outbox.send(self.keys.room, UserJoined(nick_key, nickname, version))
        return True

    def remove(self, member: Member) -> bool:
        """Unregister a local user, free its nickname and tell the other nodes."""
        if not super().remove(member):
            return False
        nick_key = nicknames.key(member.nickname or "")
        version = self.membership.release(nick_key)
        if version is not None:
            self.outbox.send(self.keys.room, UserLeft(nick_key, version))
        return True

    def say(self, event: Public, sender: Member) -> None:
        """Relay ``event`` to this node's members of its room and publish it once on the
        room's channel, for the other nodes that have members there."""
        super().say(event, sender)
        if self.membership.ready:
            self.outbox.send(self.keys.room_channel(event.room), PublicMessage(event))  # type: ignore[arg-type]

    def send_to(self, node: str, event: PrivateMessage) -> None:
        """Publish ``event`` to ``node`` alone (dropped while Redis is unreachable)."""
        if self.membership.ready:
            self.outbox.send(self.keys.to(node), event)

    def deliver(self, recipient: Recipient, event: Event) -> bool:
        """Deliver to one user; a user of another node is counted in ``deliveries`` by the
        node that holds it, not here (where it is published)."""
        delivered = super().deliver(recipient, event)
        if delivered and isinstance(recipient, RemoteUser):
            self.deliveries -= 1
        return delivered

    def _account_changed(self, nick_key: str, password_hash: str) -> None:
        if self.ready:
            self.outbox.send(self.keys.room, AccountChanged(nick_key, password_hash))

    # -- moderation: every node -------------------------------------------------------------

    def kick(self, nickname: str, reason: str, by: str) -> bool:
        """Kick a local user, or ask the node that holds ``nickname`` to."""
        if super().kick(nickname, reason, by):
            return True
        if not self.ready:
            return False
        nick_key = nicknames.key(nickname)
        found = self.presence.find(nick_key)
        if found is None:
            return False
        self.outbox.send(self.keys.to(found[0].node), Kick(nick_key, reason, by))
        return True

    def mute(self, nickname: str, until: float) -> None:
        """Mute here, and on every node (wherever the user logs in meanwhile)."""
        super().mute(nickname, until)
        if self.ready:
            self.outbox.send(self.keys.room, Mute.of(nicknames.key(nickname), until))

    def ban_added(self, ban: Ban) -> list[str]:
        """Disconnect the local users the ban covers, and have every other node do so."""
        gone = super().ban_added(ban)
        if self.ready:
            self.outbox.send(self.keys.room, BanAdded.of(ban))
        return gone

    def ban_removed(self, ban: Ban) -> None:
        """Tell every node that the ban is lifted."""
        super().ban_removed(ban)
        if self.ready:
            self.outbox.send(self.keys.room, BanLifted(ban.kind, ban.target))

    def notice_all(self, event: Event) -> None:
        """The notice to this node's users, and to every other node's."""
        super().notice_all(event)
        if self.ready and isinstance(event, Notice):
            self.outbox.send(self.keys.room, Announcement(event))

    # -- rooms: one set for the whole cluster ----------------------------------------------

    def _join(self, member: Member, nick_key: str, nickname: str, chatroom: ChatRoom) -> None:
        """A member of this node entered ``chatroom``: the first one subscribes to its
        channel."""
        super()._join(member, nick_key, nickname, chatroom)
        count = self._local_counts.get(chatroom.key, 0)
        self._local_counts[chatroom.key] = count + 1
        if not count:
            self.link.subscribe(self.keys.room_channel(chatroom.key))

    def _part(self, member: Member, nick_key: str, chatroom: ChatRoom) -> None:
        """A member of this node left ``chatroom``: the last one unsubscribes."""
        count = self._local_counts.get(chatroom.key, 0) - 1
        if count > 0:
            self._local_counts[chatroom.key] = count
        else:
            self._local_counts.pop(chatroom.key, None)
            self.link.unsubscribe(self.keys.room_channel(chatroom.key))
        super()._part(member, nick_key, chatroom)

    def vacate(self, chatroom: ChatRoom) -> None:
        """Forget ``chatroom`` once nobody on any node is in it (and its creation claim, if
        held here: the room is free to be created again)."""
        super().vacate(chatroom)
        key = chatroom.key
        if key not in self.rooms:
            self.room_envelopes.pop(key, None)
            claim = self._claims.pop(key, None)
            if claim is not None:
                self._release_claim(key, claim[0], forget_topic=True)

    def user_gone(self, nick_key: str) -> None:
        """The user ``nick_key`` left the chat: no longer an operator (nor the holder of a
        room's creation claim)."""
        super().user_gone(nick_key)
        for key, (value, holder) in list(self._claims.items()):
            if holder == nick_key:
                del self._claims[key]
                self._release_claim(key, value, forget_topic=False)

    def enter(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Move ``member`` to the room ``name``. A room this node does not know is claimed in
        Redis first: the first creator is its operator; a later one joins the room as its
        creator spelled it. Without Redis the room is created here (claimed again when Redis
        is back)."""
        key = roomnames.key(name)
        nick_key = nicknames.key(member.nickname or "")
        if (
            key in self.rooms
            or not self.ready
            or not self.may_create()
            or self._users.get(nick_key) is not member
        ):
            move = self.enter_now(member, name)
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
            move = self.enter_now(member, holder[2], creator=won)
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
            move = self.enter_now(member, name)
            self._moved(nick_key, move, move.entered is Entered.CREATED)
            return move

        return claimed.addCallbacks(answered, failed)

    def _moved(self, nick_key: str, move: Move, operator: bool) -> None:
        """Tell the other nodes (and Redis) that this node's user moved, if it did."""
        chatroom = move.room
        if chatroom is None or move.entered not in (Entered.MOVED, Entered.CREATED):
            return
        name = DEFAULT if chatroom is self.default else chatroom.name
        version = self.membership.moved(nick_key, name, chatroom.key if operator else "")
        if version is not None:
            self.outbox.send(self.keys.room, RoomMoved(nick_key, chatroom.name, operator, version))

    def _release_claim(self, key: str, value: str, forget_topic: bool) -> None:
        """Give back the creation claim ``value`` of the room ``key`` (and its topic in Redis,
        if ``forget_topic``: the room is gone)."""
        if not self.ready:
            return
        keys = self.keys
        self.link.run(
            scripts.ROOM_RELEASE,
            [keys.room_op(key), keys.users(self.origin.node), keys.topics],
            [value, key, self.origin.instance, "1" if forget_topic else ""],
        ).addErrback(lambda f: self.log.debug("cluster: room release: {f}", f=f.value))

    def _refresh_claims(self) -> None:
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
        announce = self.ready
        for placement in changes.placed:
            self._place(placement, announce)
        for room_key, old, new in changes.operators:
            chatroom = self.rooms.get(room_key)
            if chatroom is None:
                continue
            if new is not None:
                chatroom.operator = new
            elif chatroom.operator == old:
                chatroom.operator = None

    def _place(self, placement: Placement, announce: bool) -> None:
        """Move the remote user of ``placement`` out of its room and into its new one."""
        nick_key, nickname = placement.nick_key, placement.nickname
        if nick_key in self._users:
            return  # a user of this node holds that nickname now (after a partition)
        old_key = self._remote_rooms.pop(nick_key, None)
        if old_key is None and placement.before is not None:  # placed before we kept track
            before = placement.before
            old_key = self.default.key if before == DEFAULT else roomnames.key(before)
        old = self.rooms.get(old_key) if old_key is not None else None
        new = self._room_for(placement.after) if placement.after is not None else None
        if new is not None:
            self._remote_rooms[nick_key] = new.key
            if old is new:
                new.users[nick_key] = nickname
                return
            new.users[nick_key] = nickname
        if old is not None and old.users.get(nick_key) is not None:
            del old.users[nick_key]
        if announce:
            self._announce_move(nickname, old, new)
        if old is not None:
            self.vacate(old)
        if placement.after is None:
            self.user_gone(nick_key)

    def _announce_move(self, nickname: str, old: ChatRoom | None, new: ChatRoom | None) -> None:
        """Tell this node's members of ``old`` and ``new`` that ``nickname`` left and entered
        (as a move between rooms, a login or a leave)."""
        events = self.events
        if old is not None and new is not None:
            self.announce(events.left(old.key, nickname, old.name))
            self.announce(events.joined(new.key, nickname, new.name))
        elif new is not None:
            self.announce(events.joined(new.key, nickname))
        elif old is not None:
            self.announce(events.left(old.key, nickname))

    def _room_for(self, name: str) -> ChatRoom:
        """The room called ``name`` (:data:`DEFAULT`: the default room), made if this node did
        not know it (rooms of other nodes count in ``max_rooms`` but are never refused)."""
        if name == DEFAULT:
            return self.default
        key = roomnames.key(name)
        chatroom = self.rooms.get(key)
        if chatroom is None:
            chatroom = self.rooms[key] = ChatRoom(name)
            self._read_topic(chatroom)
        return chatroom

    def broadcast_room_many(self, events: list[Event]) -> int:
        """Deliver ``events`` (public messages from other nodes) to this node's members of
        each one's room, in order, in one write per member for each room's run."""
        if self.has_notices:
            self.flush_notices()
        count = 0
        start, end = 0, len(events)
        while start < end:
            room_key = events[start].room
            stop = start + 1
            while stop < end and events[stop].room == room_key:
                stop += 1
            chatroom = self.rooms.get(room_key)  # type: ignore[arg-type]
            if chatroom is not None:
                run = events[start:stop]
                for renderer, group in list(chatroom.groups.items()):
                    if group:
                        render = renderer.render
                        data = b"".join([render(event) for event in run])
                        count += self._write(group, data) * len(run)
            start = stop
        self.deliveries += count
        return count

    def envelope_received(self, room_key: str) -> None:
        """An envelope of public messages of the room ``room_key`` came from another node."""
        if room_key in self.rooms:
            self.room_envelopes[room_key] = self.room_envelopes.get(room_key, 0) + 1

    # -- topics ----------------------------------------------------------------------------

    def set_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """Set the topic here, in Redis, and on every node."""
        super().set_topic(chatroom, topic, by)
        if self.ready:
            self._write_topic(chatroom, "HSET")
            self.outbox.send(self.keys.room, TopicSet(chatroom.key, topic, by))

    def stored_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """The database's topic of a permanent room, unless Redis holds one (which wins)."""
        super().stored_topic(chatroom, topic, by)
        if self.ready:
            self._write_topic(chatroom, "HSETNX").addCallback(
                lambda written: None if written == 1 else self._read_topic(chatroom)
            )

    def topic_set_elsewhere(self, room_key: str, topic: str, by: str) -> None:
        """Another node set the topic of ``room_key``: here too, told to its members here."""
        chatroom = self.rooms.get(room_key)
        if chatroom is not None:
            self._take_topic(chatroom, topic, by)

    def _take_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """``chatroom``'s topic is ``topic`` (set by ``by``): tell its members here if it is
        news."""
        if chatroom.topic == topic and chatroom.topic_by == by:
            return
        chatroom.topic = topic
        chatroom.topic_by = by
        self.broadcast_room(self.events.topic(chatroom.key, by, topic, chatroom.name))

    def _write_topic(self, chatroom: ChatRoom, command: str) -> defer.Deferred[Any]:
        """Write ``chatroom``'s topic to Redis (``HSET``, or ``HSETNX`` if none is there)."""
        value = json.dumps([chatroom.topic, chatroom.topic_by or ""], ensure_ascii=False)
        written = self.link.command(command, self.keys.topics, chatroom.key, value)
        written.addErrback(lambda f: self.log.debug("cluster: topic write: {f}", f=f.value))
        return written

    def _read_topic(self, chatroom: ChatRoom) -> None:
        """Take the topic Redis holds for ``chatroom`` (a room this node just learnt of)."""
        if not self.ready:
            return

        def read(raw: Any) -> None:
            topic = _topic_of(raw)
            if topic is not None and self.rooms.get(chatroom.key) is chatroom:
                self._take_topic(chatroom, *topic)

        self.link.command("HGET", self.keys.topics, chatroom.key).addCallbacks(
            read, lambda f: self.log.debug("cluster: topic read: {f}", f=f.value)
        )

    # -- after an outage ---------------------------------------------------------------------

    def _restore(self) -> None:
        """This node (re)registered: write its users' rooms again and claim again the rooms
        whose operator is here (before the ``hello``, so the others read them), then merge the
        topics (Redis's copy wins; one Redis lacks is written there)."""
        keys = self.keys
        pairs: list[str] = []
        for member in self.members():
            chatroom = self.room_of(member)
            if chatroom is not self.default:
                pairs += [nicknames.key(member.nickname or ""), chatroom.name]
        claims: list[Any] = []
        for key, chatroom in self.rooms.items():
            operator = chatroom.operator
            if operator is None or operator not in self._users or chatroom.permanent:
                continue
            claim = self._claims.get(key)
            if claim is None or claim[1] != operator:
                value = json.dumps([self.origin.instance, operator, chatroom.name])
                claim = self._claims[key] = (value, operator)
            claims += [key, operator, claim[0]]
        if pairs or claims:
            args = [self.origin.instance, self._ttl_ms, keys.room_op_prefix, len(pairs) // 2]
            self.link.run(
                scripts.RESTORE, [keys.users(self.origin.node)], [*args, *pairs, *claims]
            ).addCallbacks(
                self._restored, lambda f: self.log.debug("cluster: restore: {f}", f=f.value)
            )
        if any(chatroom.users or chatroom.topic for chatroom in self.rooms.values()):
            self.link.command("HGETALL", keys.topics).addCallbacks(
                self._merge_topics, lambda f: self.log.debug("cluster: topics: {f}", f=f.value)
            )

    def _restored(self, lost: Any) -> None:
        """Rooms created here during an outage that another creator holds now: its operator,
        and its spelling."""
        for room_key, holder in lost or []:
            room_key = str(room_key)
            self._claims.pop(room_key, None)
            chatroom = self.rooms.get(room_key)
            claim = _claim_of(holder)
            if chatroom is not None:
                chatroom.operator = claim[1] if claim is not None else None
                if claim is not None:
                    chatroom.name = claim[2]  # as its creator spelled it, as everywhere

    def _merge_topics(self, flat: Any) -> None:
        """The topics in Redis after a (re)registration: they win; a topic set here that Redis
        lacks is written there and published."""
        stored = _pairs(flat)
        for key, chatroom in list(self.rooms.items()):
            topic = _topic_of(stored.get(key))
            if topic is not None:
                self._take_topic(chatroom, *topic)
            elif chatroom.topic is not None and self.ready:
                self._publish_missing_topic(chatroom)

    def _publish_missing_topic(self, chatroom: ChatRoom) -> None:
        """Write ``chatroom``'s topic to Redis if none is there, and tell the other nodes."""

        def written(result: Any) -> None:
            if result == 1 and chatroom.topic is not None and self.ready:
                topic, by = chatroom.topic, chatroom.topic_by or ""
                self.outbox.send(self.keys.room, TopicSet(chatroom.key, topic, by))

        self._write_topic(chatroom, "HSETNX").addCallback(written)


def _claim_of(raw: Any) -> tuple[str, str, str] | None:
    """A room creation claim's value: (instance, nick key, room name), or ``None``."""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if type(value) is list and len(value) == 3 and all(type(v) is str for v in value):
        return value[0], value[1], value[2]
    return None


def _topic_of(raw: Any) -> tuple[str, str] | None:
    """A value of the topics hash: (topic, set by), or ``None``."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if type(value) is list and len(value) == 2 and all(type(v) is str for v in value):
        return value[0], value[1]
    return None


def _pairs(flat: Any) -> dict[str, str]:
    """A Redis hash reply (a dict, or a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat or [])
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}
