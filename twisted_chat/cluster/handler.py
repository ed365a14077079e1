"""What the other nodes' events do on this node: one method per cluster event, in the manner of
Synapse's ``ReplicationCommandHandler`` (``synapse/replication/tcp/handler.py``).

:meth:`ClusterHandler.received` takes each pub/sub message from the Redis link: this node's own
envelopes are told by their first bytes and dropped without decoding; the others are decoded
(:mod:`twisted_chat.cluster.envelope`) and their events handed, in order, to the method of each
(:attr:`ClusterHandler.handlers`, built explicitly, never looked up by name). A malformed
envelope is logged at most every 10 s and dropped; one of a version this node does not speak is
logged once per version and dropped.

Every effect here goes through the room's own methods and its parts for the rooms and the
topics (so this node's users get what a local event would give them, rendered by their own
transports), the replicas of the other nodes'
users (:mod:`twisted_chat.cluster.presence`, whose changes the membership announces), and the
accounts and bans this node holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_chat.accounts import Accounts
from twisted_chat.bans import Bans
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Envelope, EnvelopeError, Origin, UnknownVersion
from twisted_chat.cluster.events import (
    AccountChanged,
    Announcement,
    BanAdded,
    BanLifted,
    Bye,
    ClusterEvent,
    Forgotten,
    Hello,
    Kick,
    Mute,
    PrivateMessage,
    PublicMessage,
    RecadoFor,
    RoomKick,
    RoomModes,
    RoomMoved,
    RoomsSet,
    TopicSet,
    UserInfoSet,
    UserJoined,
    UserLeft,
    UserNotice,
    UserRenamed,
)
from twisted_chat.cluster.membership import Membership
from twisted_chat.cluster.presence import Presence
from twisted_chat.events import Event
from twisted_chat.text import knows

if TYPE_CHECKING:
    from twisted_chat.cluster.room import ClusterRoom

#: Seconds between two warnings about malformed envelopes.
MALFORMED_LOG_INTERVAL: Final = 10.0
#: Most envelope versions warned about (each once); later ones count as malformed.
MAX_VERSIONS_LOGGED: Final = 16


class ClusterHandler:
    """Applies what other nodes publish to this node."""

    log = Logger()

    def __init__(
        self,
        room: ClusterRoom,
        origin: Origin,
        presence: Presence,
        membership: Membership,
        clock: IReactorTime,
    ) -> None:
        self.room = room
        self.origin = origin
        self.presence = presence
        self.membership = membership
        self.clock = clock
        #: Called before many events from one envelope are delivered, so that each recipient
        #: gets them in one write: the server's per-turn output gathering, when there is one.
        self.gather_output: Callable[[], None] | None = None
        #: The accounts (registered nicknames) to keep in step with the other nodes.
        self.accounts: Accounts | None = None
        #: The bans to keep in step with the other nodes.
        self.bans: Bans | None = None
        #: The method for each kind of event (public messages are handled in runs, apart).
        self.handlers: dict[type[ClusterEvent], Callable[[Origin, Any], None]] = {
            PrivateMessage: self.on_private,
            Announcement: self.on_announcement,
            UserNotice: self.on_user_notice,
            RecadoFor: self.on_recado,
            Forgotten: self.on_forgotten,
            UserJoined: self.on_join,
            UserLeft: self.on_leave,
            RoomMoved: self.on_room_moved,
            RoomsSet: self.on_rooms_set,
            UserInfoSet: self.on_user_info,
            RoomKick: self.on_room_kick,
            UserRenamed: self.on_renamed,
            TopicSet: self.on_topic,
            RoomModes: self.on_modes,
            Hello: self.on_hello,
            Bye: self.on_bye,
            AccountChanged: self.on_account,
            Kick: self.on_kick,
            Mute: self.on_mute,
            BanAdded: self.on_ban,
            BanLifted: self.on_unban,
        }
        self._own_prefix = envelope.own_prefix(origin)
        self._room_channels = room.keys.room_channel_prefix
        self._malformed = 0
        self._malformed_logged_at = float("-inf")
        self._versions_logged: set[int] = set()

    # -- receiving --------------------------------------------------------------------------

    def received(self, channel: str, data: str) -> None:
        """One pub/sub message: an envelope of events, from another node or from this one."""
        if data.startswith(self._own_prefix):
            # Our own, told without decoding it: its messages reach this node's members now.
            self.room.order.echoed(channel, data)
            return
        try:
            message = envelope.decode(data)
        except UnknownVersion as e:
            self._unknown_version(channel, e)
            return
        except EnvelopeError as e:
            self._malformed_envelope(channel, str(e))
            return
        if message.origin.instance == self.origin.instance:
            return  # our own
        if channel.startswith(self._room_channels):
            self.room.replication.envelope_received(channel[len(self._room_channels) :])
        try:
            self.handle(message)
        except Exception:
            self.log.failure(
                "cluster: applying events from {node} failed", node=message.origin.node
            )

    def _malformed_envelope(self, channel: str, why: str) -> None:
        self._malformed += 1
        now = self.clock.seconds()
        if now - self._malformed_logged_at >= MALFORMED_LOG_INTERVAL:
            self._malformed_logged_at = now
            self.log.warn(
                "cluster: dropped {count} malformed message(s) on {channel}: {why}",
                count=self._malformed,
                channel=channel,
                why=why,
            )
            self._malformed = 0

    def _unknown_version(self, channel: str, error: UnknownVersion) -> None:
        version = error.version
        if version in self._versions_logged:
            return
        if len(self._versions_logged) >= MAX_VERSIONS_LOGGED:
            self._malformed_envelope(channel, str(error))
            return
        self._versions_logged.add(version)
        self.log.warn(
            "cluster: dropping envelopes of version {version} on {channel} (this node speaks "
            "{ours}): is a node of another release in this cluster?",
            version=version,
            channel=channel,
            ours=envelope.VERSION,
        )

    def handle(self, message: Envelope) -> None:
        """Apply the events of ``message``, in order."""
        origin, events = message.origin, message.events
        if len(events) > 1 and self.gather_output is not None:
            self.gather_output()  # one write per recipient for the whole envelope
        handlers = self.handlers
        run: list[Event] = []
        for event in events:
            # Consecutive public messages go out together: one write per member for the run.
            if type(event) is PublicMessage:
                run.append(event.event)
                continue
            if run:
                self.on_public(run)
                run = []
            handlers[type(event)](origin, event)
        if run:
            self.on_public(run)

    # -- chat events ------------------------------------------------------------------------

    def on_public(self, events: list[Event]) -> None:
        """Public messages said on another node: to this node's members of their room."""
        self.room.broadcast_room_many(events)

    def on_private(self, origin: Origin, message: PrivateMessage) -> None:
        """A private message to a user of this node (gone already: dropped)."""
        event = message.event
        member = self.room.member(event.recipient)
        if member is not None:
            self.room.deliver(member, event)

    def on_announcement(self, origin: Origin, message: Announcement) -> None:
        """An operator's notice to everyone: to every user of this node, in its language."""
        self.room.broadcast(message.event)

    def on_user_notice(self, origin: Origin, message: UserNotice) -> None:
        """A notice to a user of this node (gone already: dropped; one whose catalogue entry
        this release lacks, from a node of a newer one: dropped with a warning, where saying it
        would fail the user's delivery and drop its connection)."""
        key = message.event.text.key
        if not knows(key):
            self.log.warn(
                "cluster: dropped a notice {key} from {node}: not in this release's catalogue",
                key=key,
                node=origin.node,
            )
            return
        member = self.room.member(message.nickname)
        if member is not None:
            self.room.deliver(member, message.event)

    # -- history and recados ----------------------------------------------------------------

    def on_recado(self, origin: Origin, message: RecadoFor) -> None:
        """A recado stored on ``origin`` for a user of this node: the recados deliver it (and
        answer its sender)."""
        hooks = self.room.recado_hooks
        if hooks is not None:
            hooks.arrived(message.recipient, message.recado)

    def on_forgotten(self, origin: Origin, message: Forgotten) -> None:
        """A user erased its stored messages on ``origin``: out of this node's buffers too."""
        hooks = self.room.history_hooks
        if hooks is not None:
            hooks.forgotten(message.nick_key)

    # -- who is where -----------------------------------------------------------------------

    def on_join(self, origin: Origin, event: UserJoined) -> None:
        """A user logged in on ``origin``."""
        self.membership.changed(
            self.presence.joined(
                origin.node, origin.instance, event.nick_key, event.nickname, event.version
            )
        )

    def on_leave(self, origin: Origin, event: UserLeft) -> None:
        """A user of ``origin`` left."""
        self.membership.changed(
            self.presence.left(origin.node, origin.instance, event.nick_key, event.version)
        )

    def on_room_moved(self, origin: Origin, event: RoomMoved) -> None:
        """A user of ``origin`` moved to another room (maybe one it created)."""
        self.membership.changed(
            self.presence.moved(
                origin.node,
                origin.instance,
                event.nick_key,
                event.name,
                event.operator,
                event.version,
            )
        )

    def on_rooms_set(self, origin: Origin, event: RoomsSet) -> None:
        """A user of ``origin`` is in other rooms now (an IRC user's ``JOIN``, ``PART`` or
        ``KICK``)."""
        self.membership.changed(
            self.presence.placed_in(
                origin.node,
                origin.instance,
                event.nick_key,
                event.names,
                event.operator_of,
                event.version,
                event.quiet,
                event.by,
                event.reason,
            )
        )

    def on_user_info(self, origin: Origin, event: UserInfoSet) -> None:
        """What is known of a user of ``origin`` changed (away, modes, account): its replica."""
        self.membership.changed(
            self.presence.info_set(
                origin.node, origin.instance, event.nick_key, event.info, event.version
            )
        )

    def on_room_kick(self, origin: Origin, event: RoomKick) -> None:
        """An operator on ``origin`` sends a user of this node out of a room."""
        self.room.room_kicked(event.nick_key, event.room_key, event.reason, event.by)

    def on_renamed(self, origin: Origin, event: UserRenamed) -> None:
        """A user of ``origin`` changed its nickname: its replica, then the rooms and this
        node's users who share one with it (a replica that cannot take it reads the node
        again: the change then shows as a leave and a join)."""
        changes, old = self.presence.renamed(
            origin.node,
            origin.instance,
            event.old_key,
            event.new_key,
            event.event.new,
            event.version,
        )
        if old is not None:
            self.room.remote_renamed(event.old_key, event.new_key, event.event)
        self.membership.changed(changes)

    def on_topic(self, origin: Origin, event: TopicSet) -> None:
        """Someone on ``origin`` set a room's topic: here too, told to the room's members."""
        self.room.topics.set_elsewhere(event.room_key, event.topic, event.by)

    def on_modes(self, origin: Origin, event: RoomModes) -> None:
        """Someone on ``origin`` changed a room's modes: here too, told to the room's
        members."""
        self.room.modes_elsewhere(event)

    def on_hello(self, origin: Origin, event: Hello) -> None:
        """``origin`` (re)joined the cluster: read its users, and (in a moment) the history
        its users' messages went to while it was away, if it was."""
        self.membership.fetch(origin.node)
        self.room.missed_everything()

    def on_bye(self, origin: Origin, event: Bye) -> None:
        """``origin`` is stopping: all its users left (unless it is another run by now)."""
        remote = self.presence.known(origin.node)
        if remote is not None and remote.instance == origin.instance:
            self.membership.changed(self.presence.forget(origin.node))

    # -- accounts and moderation ------------------------------------------------------------

    def on_account(self, origin: Origin, event: AccountChanged) -> None:
        """A nickname was registered, or its password changed, on ``origin``."""
        if self.accounts is not None:
            self.accounts.set_hash(event.nick_key, event.password_hash)

    def on_kick(self, origin: Origin, event: Kick) -> None:
        """An operator on ``origin`` kicked a user of this node."""
        self.room.kick_local(event.nick_key, event.reason, event.by)

    def on_mute(self, origin: Origin, event: Mute) -> None:
        """An operator muted (or unmuted) a nickname: here too."""
        self.room.mute_local(event.nick_key, event.until)

    def on_ban(self, origin: Origin, event: BanAdded) -> None:
        """An operator created a ban (stored already): apply it, disconnect whom it covers."""
        ban = event.ban()
        if self.bans is not None:
            self.bans.apply(ban)
        self.room.enforce_ban(ban)

    def on_unban(self, origin: Origin, event: BanLifted) -> None:
        """A ban was lifted."""
        if self.bans is not None:
            self.bans.forget(event.kind, event.target)
