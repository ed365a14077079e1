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

Rooms (protocol v1.1) are one set for the whole cluster: creation claims, the other nodes'
users placed in the rooms and the rooms' channels are :mod:`~twisted_chat.cluster.rooms`'s, the
topics :mod:`~twisted_chat.cluster.topics`'s; the room's overrides hand them what happened.

While Redis is unreachable the room is one process's room: its users chat among themselves,
in their rooms, nothing is published or buffered, and new logins get one ``! `` line. When it
is back, this node writes its users' rooms, its rooms' claims and its topics again; the other
nodes re-read it and announce the differences.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Ban, Bans
from twisted_chat.cluster.config import ClusterConfig as ClusterConfig
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    AccountChanged,
    Announcement,
    BanAdded,
    BanLifted,
    Forgotten,
    Kick,
    Mute,
    PrivateMessage,
    PublicMessage,
    RecadoFor,
    RoomKick,
    RoomModes,
    UserInfoSet,
    UserJoined,
    UserLeft,
    UserNotice,
    UserRenamed,
)
from twisted_chat.cluster.handler import ClusterHandler
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.membership import Membership
from twisted_chat.cluster.order import Held, RoomOrder
from twisted_chat.cluster.outbox import Outbox
from twisted_chat.cluster.presence import Presence, encode_info
from twisted_chat.cluster.rooms import RoomReplication
from twisted_chat.cluster.topics import TopicReplication
from twisted_chat.events import Event, EventSource, Notice, Private, Public, Renamed, Replayed, Text
from twisted_chat.notices import NoticeGathering
from twisted_chat.room import ChatRoom, Claim, Entered, Member, Move, Recipient, Room
from twisted_chat.userinfo import NONE as NO_INFO
from twisted_chat.userinfo import UserInfo

if TYPE_CHECKING:
    from twisted_chat.assembly import RoomPlan


#: Seconds after this node or another one (re)joined the cluster before this node reads its
#: history buffers again (what the other nodes stored during an outage is written by then).
RELOAD_DELAY: Final = 1.0


class RemoteUser:
    """A user logged in on another node, as the chat core sees it (a
    :class:`~twisted_chat.room.Recipient`): a private message, a notice or a recado to it is
    published to its node alone, which delivers it."""

    __slots__ = ("_node", "_room", "nickname")

    def __init__(self, room: ClusterRoom, node: str, nickname: str) -> None:
        self._room = room
        self._node = node
        self.nickname: str | None = nickname

    def deliver(self, event: Event) -> None:
        """Send ``event`` (a private message, a notice, a recado) to the user's node (dropped
        while Redis is unreachable)."""
        nickname = self.nickname or ""
        if isinstance(event, Private):
            self._room.send_to(self._node, PrivateMessage(event))
        elif isinstance(event, Notice):
            self._room.send_to(self._node, UserNotice(nickname, event))
        elif isinstance(event, Replayed) and event.recado:
            self._room.send_to(self._node, RecadoFor(nickname, event))


class ClusterRoom(Room):
    """One node's room in a cluster of nodes joined through Redis pub/sub."""

    log = Logger()

    #: This node's membership in the cluster: registration, heartbeat, claims.
    membership: Membership
    #: What the other nodes' events do here.
    handler: ClusterHandler
    #: The cluster's set of rooms: creation claims, other nodes' users, room channels.
    replication: RoomReplication
    #: The rooms' topics in Redis and on the other nodes.
    topics: TopicReplication

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
            on_down=lambda: self._link_down(),
            on_fatal=lambda message: self.membership.fatal(message),
            ping_interval=config.ttl / 3,
        )
        self.outbox = Outbox(self.link, clock, self.origin)
        #: This node's users' messages waiting to come back from Redis, for one room order.
        self.order = RoomOrder(self._deliver_held, clock)
        self.outbox.on_published = self.order.published
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
        self.topics = TopicReplication(self, keys, self.link, self.outbox, self.membership)
        self.replication = RoomReplication(
            self,
            self.origin,
            keys,
            self.link,
            self.outbox,
            self.membership,
            self.topics,
            max(1, int(config.ttl * 1000)),
            clock,
        )
        self.membership.on_changes = self.replication.replicas_changed
        self.membership.registering += [self.replication.restore, self.topics.restore]
        self.membership.beating.append(self.replication.refresh_claims)
        self.membership.registering.append(self._restore_info)
        self.membership.beating.append(self._recheck_info)
        self.membership.rejoined.append(self.missed_everything)
        self._clock = clock
        self._reload: IDelayedCall | None = None
        # Joins of this node's members to rooms, counted; while messages are held, the recent
        # ones (count, member, room key): a member who joined a room after one of its messages
        # was said gets that message in the room's history, not live as well.
        self._joins = 0
        self._late: deque[tuple[int, Member, str]] = deque()
        # This node's users' info as last written to Redis (``#u:`` values; absent: ""),
        # and the users whose info may have changed this turn.
        self._info: dict[Member, str] = {}
        self._info_dirty: dict[Member, None] = {}

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

    def node_count(self) -> int:
        """This node and the others it knows (while in the cluster)."""
        return 1 + (len(self.presence.nodes) if self.ready else 0)

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
        self.info_changed(member)  # its real name, and the account its login proved
        return True

    def remove(self, member: Member) -> bool:
        """Unregister a local user, free its nickname and tell the other nodes."""
        if not super().remove(member):
            return False
        nick_key = nicknames.key(member.nickname or "")
        self._info.pop(member, None)
        self._info_dirty.pop(member, None)
        version = self.membership.release(nick_key)
        if version is not None:
            self.outbox.send(self.keys.room, UserLeft(nick_key, version))
        return True

    # -- what other users may know of this node's users -------------------------------------

    def info_changed(self, member: Member) -> None:
        """``member``'s info may have changed (its login, ``AWAY``, ``MODE +i``): at the end
        of this turn, if it did, write it in Redis (``#u:``) and tell the other nodes (a
        ``uinfo`` event, in an envelope of its own)."""
        if not self._info_dirty:
            self._clock.callLater(0, self._publish_info)
        self._info_dirty[member] = None

    def _publish_info(self) -> None:
        dirty, self._info_dirty = self._info_dirty, {}
        for member in dirty:
            nickname = member.nickname
            if nickname is None or self.local_member(nicknames.key(nickname)) is not member:
                continue
            info = self._describe(member)
            value = encode_info(info)
            if value == self._info.get(member, ""):
                continue
            self._info[member] = value
            nick_key = nicknames.key(nickname)
            version = self.membership.info_set([(nick_key, value)])
            if self.ready and version is not None:
                self.outbox.send(self.keys.room, UserInfoSet(nick_key, info, version), alone=True)

    def _describe(self, member: Member) -> UserInfo:
        describe = self.describe
        return describe(member) if describe is not None else NO_INFO

    def _recheck_info(self) -> None:
        """Every heartbeat: what changed without a word (an operator's status after a
        registration or a reload of ``--operator``) is told too."""
        for member in self.members():
            self.info_changed(member)

    def _restore_info(self) -> None:
        """After a (re)registration, which wrote the users hash afresh: this node's users'
        info again (the ``hello`` that follows makes the other nodes read it)."""
        self._info = {}
        infos = []
        for member in self.members():
            value = encode_info(self._describe(member))
            self._info[member] = value
            if value:
                infos.append((nicknames.key(member.nickname or ""), value))
        self.membership.info_set(infos, numbered=False)

    def remote_info(self, nickname: str) -> UserInfo | None:
        """What is known of ``nickname``, a user of another node, beyond its nickname and
        rooms (``None``: not a user of another node, or this node is out of the cluster)."""
        if not self.ready:
            return None
        return self.presence.info(nicknames.key(nickname))

    def say(self, event: Public, sender: Member) -> None:
        """Publish ``event`` once on its room's channel, for the other nodes that have members
        there, and deliver it to this node's members when it comes back from Redis, so that
        every node shows the room's messages in one order (:mod:`~twisted_chat.cluster.order`);
        while the room has members on this node only (nobody else listens), or Redis is
        unreachable, deliver it here at once and publish nothing."""
        if self.membership.ready:
            chatroom = self.rooms.get(event.room)  # type: ignore[arg-type]
            if chatroom is not None and self.replication.has_remote_members(chatroom):
                channel = self.keys.room_channel(chatroom.key)
                self.order.hold(channel, event, sender, self._joins)
                self.outbox.send(channel, PublicMessage(event))
                return
        super().say(event, sender)

    def _deliver_held(self, held: list[Held]) -> None:
        """This node's users' messages back from Redis (or given up waiting for): to this
        node's members of their rooms, in order, each but to its sender."""
        gather = self.handler.gather_output
        if len(held) > 1 and gather is not None:
            gather()  # one write per member for them all
        say = super().say
        late = self._late
        for event, sender, mark in held:
            if late and late[-1][0] > mark:
                self._say_but_to_late(event, sender, mark)
            else:
                say(event, sender)
        if late:  # keep only the joins after a message still held
            oldest = self.order.oldest_mark()
            while late and (oldest is None or late[0][0] <= oldest):
                late.popleft()

    def _say_but_to_late(self, event: Public, sender: Member, mark: int) -> None:
        """``event`` to this node's members of its room but its sender and those who joined
        the room after it was said (its history, shown to them on joining, holds it)."""
        if self.has_notices:
            self.flush_notices()
        chatroom = self.rooms.get(event.room)  # type: ignore[arg-type]
        if chatroom is None:
            return
        after = {m for count, m, key in self._late if count > mark and key == chatroom.key}
        count = 0
        for renderer, group in list(chatroom.groups.items()):
            members = {m: None for m in group if m not in after}
            if members:
                count += self._write(members, renderer.render(event), sender)
        self.deliveries += count

    def _link_down(self) -> None:
        """The link to Redis is down: what waited to come back is delivered here now."""
        self.order.release_all()
        self.membership.link_down()

    def send_to(self, node: str, event: PrivateMessage | UserNotice | RecadoFor) -> None:
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

    def erased(self, nick_key: str) -> None:
        """``/olvidar`` here: every node drops ``nick_key``'s messages from its buffers (a
        node that misses this, in an outage, reads its buffers again after it)."""
        if self.ready:
            self.outbox.send(self.keys.room, Forgotten(nick_key))

    # -- nickname changes: atomic in Redis, told to every node ------------------------------

    def claim_rename(self, member: Member, nickname: str) -> defer.Deferred[Claim]:
        """Claim ``nickname`` for ``member``'s change to it in the whole cluster and give back
        its old one, in one atomic script (:meth:`Membership.claim_rename`); taken if someone
        on any node holds it. Out of the cluster (an outage) only a change of case is made."""
        old = member.nickname or ""
        holder = self._users.get(nicknames.key(nickname))
        same_key = nicknames.key(old) == nicknames.key(nickname)
        if holder not in (None, member) or (not same_key and nickname in self):
            return defer.succeed(Claim.TAKEN)
        if same_key and not self.membership.ready:
            return defer.succeed(Claim.OK)  # its own nickname: the registration writes it
        return self.membership.claim_rename(old, nickname)

    def rename(self, member: Member, event: Renamed) -> bool:
        """Rename a local user (and tell this node's users), then every other node."""
        old_key = nicknames.key(event.old)
        if not super().rename(member, event):
            return False
        new_key = nicknames.key(event.new)
        self.replication.local_renamed(old_key, new_key)
        version = self.membership.renamed(new_key)
        if self.ready and version is not None:
            self.outbox.send(self.keys.room, UserRenamed(old_key, new_key, event, version))
        self.info_changed(member)  # an operator by OPER stays one under another nickname
        return True

    def remote_renamed(self, old_key: str, new_key: str, event: Renamed) -> None:
        """A user of another node changed its nickname (its replica is changed already): the
        rooms, their operators and the mutes follow here, and this node's members who share
        a room with it read ``event``."""
        if self.local_member(new_key) is not None:
            return  # a user of this node holds that nickname now (after a partition)
        self.replication.remote_renamed(old_key, new_key)
        self.renamed_in_rooms(old_key, new_key, event.new)
        if not self.ready:
            return
        if self.has_notices:
            self.flush_notices()
        recipients: dict[Member, None] = {}
        for chatroom in self.rooms.values():
            if new_key in chatroom.users:
                for group in chatroom.groups.values():
                    recipients.update(group)
        self.tell_rename(event, recipients)

    # -- history: what this node may have missed --------------------------------------------

    def missed(self, room_key: str) -> None:
        """This node starts listening to ``room_key``'s channel: what was said there meanwhile
        was not heard here (its history buffer is read again)."""
        hooks = self.history_hooks
        if hooks is not None:
            hooks.missed(room_key)

    def missed_everything(self) -> None:
        """This node or another one (re)joined the cluster, after an outage maybe: in a moment
        (:data:`RELOAD_DELAY`), read every history buffer again from the database, where each
        node stored its own users' messages meanwhile."""
        if self.history_hooks is None or (self._reload is not None and self._reload.active()):
            return
        self._reload = self._clock.callLater(RELOAD_DELAY, self._reload_history)

    def _reload_history(self) -> None:
        self._reload = None
        if self.history_hooks is not None:
            self.history_hooks.missed(None)

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

    # -- rooms: one set for the whole cluster (:mod:`~twisted_chat.cluster.rooms`) -------

    def local_member(self, nick_key: str) -> Member | None:
        """The member of this node whose nickname's key is ``nick_key``, if any."""
        return self._users.get(nick_key)

    @property
    def order_given_up(self) -> int:
        """This node's users' messages shown here without their envelope back from Redis
        (the metrics' ``chat_cluster_order_given_up_total``)."""
        return self.order.given_up

    @property
    def room_envelopes(self) -> dict[str, int]:
        """Public-message envelopes received from other nodes, by room key, for the rooms that
        exist (the metrics' ``chat_cluster_room_envelopes_received_total``)."""
        return self.replication.room_envelopes

    def _join(self, member: Member, nick_key: str, nickname: str, chatroom: ChatRoom) -> None:
        super()._join(member, nick_key, nickname, chatroom)
        self._joins += 1
        if self.order:  # messages are held: this member joined after them
            self._late.append((self._joins, member, chatroom.key))
        self.replication.joined(chatroom)

    def _part(self, member: Member, nick_key: str, chatroom: ChatRoom) -> None:
        self.replication.parted(chatroom)
        super()._part(member, nick_key, chatroom)

    def vacate(self, chatroom: ChatRoom) -> None:
        """Forget ``chatroom`` once nobody on any node is in it (and its creation claim and
        topic in Redis)."""
        super().vacate(chatroom)
        self.replication.vacated(chatroom)

    def user_gone(self, nick_key: str) -> None:
        """The user ``nick_key`` left the chat: no longer an operator nor a room's creator."""
        super().user_gone(nick_key)
        self.replication.user_gone(nick_key)

    def enter(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Move ``member`` to the room ``name``, claiming it in Redis if it is new."""
        return self.replication.enter(member, name)

    # -- several rooms at once: IRC users (:mod:`~twisted_chat.cluster.rooms`) ----------------

    def join(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Put ``member`` in the room ``name`` too (an IRC ``JOIN``), claiming it in Redis if
        it is new, and tell the other nodes."""
        return self.replication.join(member, name)

    def join_now(self, member: Member, name: str) -> Move:
        """:meth:`Room.join_now`, told to the other nodes (a room created here without asking
        Redis: during an outage, claimed again when it is back)."""
        move = super().join_now(member, name)
        chatroom = move.room
        if chatroom is not None and move.entered in (Entered.CREATED, Entered.MOVED):
            operator_of = chatroom.key if move.entered is Entered.CREATED else ""
            self.replication.rooms_changed(member, operator_of)
        return move

    def part_now(
        self,
        member: Member,
        chatroom: ChatRoom,
        quiet: bool = False,
        by: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """:meth:`Room.part_now`, told to the other nodes."""
        if not super().part_now(member, chatroom, quiet, by, reason):
            return False
        self.replication.rooms_changed(member, "", quiet, by, reason)
        return True

    def send_back(self, member: Member, by: str, reason: str | None) -> Move:
        """:meth:`Room.send_back`, told to the other nodes with who sent it out and why."""
        move = super().send_back(member, by, reason)
        if move.entered is Entered.MOVED:
            self.replication.rooms_changed(member, "", False, by, reason)
        return move

    def kick_from(self, nickname: str, chatroom: ChatRoom, reason: str, by: str) -> bool:
        """Ask the node of ``nickname``, a member of ``chatroom`` on another node, to send it
        out of the room (it tells every node, as its own ``KICK``)."""
        nick_key = nicknames.key(nickname)
        if not self.ready or nick_key in self._users or nick_key not in chatroom.users:
            return False
        found = self.presence.find(nick_key)
        if found is None:
            return False
        self.outbox.send(self.keys.to(found[0].node), RoomKick(nick_key, chatroom.key, reason, by))
        return True

    def room_kicked(self, nick_key: str, room_key: str, reason: str, by: str) -> None:
        """An operator on another node sends ``nick_key``, a member of this node, out of the
        room ``room_key`` (:attr:`room_kick` does it; nothing if it is not there any more)."""
        member = self._users.get(nick_key)
        chatroom = self.rooms.get(room_key)
        kick = self.room_kick
        if (
            member is not None
            and chatroom is not None
            and kick is not None
            and chatroom in self._rooms_of.get(member, ())
        ):
            kick(member, chatroom, reason, by)

    def broadcast_room_many(self, events: list[Event]) -> int:
        """Deliver ``events`` (public messages from other nodes) to this node's members of
        each one's room, in order, in one write per member for each room's run, and hand
        them to the rooms' history (stored by their sender's node, remembered here)."""
        if self.has_notices:
            self.flush_notices()
        hooks = self.history_hooks
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
                if hooks is not None:
                    for event in run:
                        hooks.heard(event)  # type: ignore[arg-type]
                for renderer, group in list(chatroom.groups.items()):
                    if group:
                        render = renderer.render
                        data = b"".join([render(event) for event in run])
                        count += self._write(group, data) * len(run)
            start = stop
        self.deliveries += count
        return count

    # -- topics (:mod:`~twisted_chat.cluster.topics`) -----------------------------------------

    def set_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """Set the topic here, in Redis, and on every node."""
        super().set_topic(chatroom, topic, by)
        self.topics.set(chatroom, topic, by)

    def set_modes(
        self,
        chatroom: ChatRoom,
        secret: bool,
        moderated: bool,
        voiced: Iterable[str],
        by: str = "",
        change: str = "",
    ) -> None:
        """Set the modes here and tell every node (while in the cluster): a ``modes`` event
        with what they are now. They are not kept in Redis: a node that learns of the room
        later, or comes back after an outage, knows them once they change again."""
        super().set_modes(chatroom, secret, moderated, voiced, by, change)
        if self.membership.ready:
            event = RoomModes(
                chatroom.key,
                chatroom.secret,
                chatroom.moderated,
                tuple(sorted(chatroom.voiced)),
                by,
                change,
            )
            self.outbox.send(self.keys.room, event)

    def modes_elsewhere(self, event: RoomModes) -> None:
        """Another node changed the modes of ``event.room_key``: here too (a room this node
        does not know is not made for it), told to its members here."""
        chatroom = self.rooms.get(event.room_key)
        if chatroom is None:
            return
        Room.set_modes(self, chatroom, event.secret, event.moderated, event.voiced)
        if self.modes_told is not None:
            self.modes_told(chatroom, event.by, event.change)
        else:
            text = Text("room_modes", nick=event.by, modes=event.change, room=chatroom.name)
            self.broadcast_room(self.events.notice_of(text, room=chatroom.key))

    def stored_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """The database's topic of a permanent room, unless Redis holds one (which wins)."""
        super().stored_topic(chatroom, topic, by)
        self.topics.stored(chatroom)
