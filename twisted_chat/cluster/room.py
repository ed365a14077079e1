"""The clustered room: the same interface as :class:`twisted_chat.core.Room`, over Redis.

The chat core, the commands and the protocol call this room exactly as they call one process's
room; what is different is underneath, in the manner of Synapse's replication layer:

- **Nicknames** are claimed in Redis (``PREFIX nick:KEY``, set only if free, expiring after
  ``--cluster-ttl`` unless this node's heartbeat refreshes it), so one nickname is held by one
  user of the whole cluster. A user who leaves frees it at once.
- **Users of other nodes** are known from their join and leave events and from their nodes'
  users hashes (:mod:`twisted_chat.cluster.presence`): ``/listar``, ``#nick`` and the nickname
  check see the whole cluster without asking Redis.
- **Messages** are published once per event, not once per recipient, gathered per reactor turn
  into one envelope (:mod:`twisted_chat.cluster.envelope`); each node fans out to its own users
  with the usual write path. A private message goes only to the node of its recipient.
- **Outages**: while Redis is unreachable the node's own users go on chatting among themselves,
  new logins get one ``! `` line, nothing is published or buffered, and the outage and the
  recovery are logged once each. On reconnection the node registers again, claims its users'
  nicknames again (a user whose nickname was taken meanwhile is told and disconnected), and
  reads the other nodes' users, announcing whoever joined or left meanwhile.
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Ban, Bans
from twisted_chat.cluster import envelope, scripts
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.presence import Changes, Presence
from twisted_chat.cluster.url import RedisURL
from twisted_chat.events import Event, EventSource, Notice, Private, Public, Text
from twisted_chat.notices import NoticeGathering
from twisted_chat.room import Claim, Member, Recipient, Room

#: Most events in one envelope (a busier turn is split into several).
MAX_EVENTS = 1000
#: How long a node waits for Redis at start-up before logging that it is unreachable.
STARTUP_GRACE = 2.0
#: Longest wait for this node's goodbye to be written when it stops, in seconds.
STOP_TIMEOUT = 1.0


@dataclass(frozen=True)
class ClusterConfig:
    """The cluster options of one node."""

    url: RedisURL
    node_id: str
    ttl: float = 10.0
    prefix: str = "chat:"


class RemoteUser:
    """A user logged in on another node, as the chat core sees it (a
    :class:`~twisted_chat.room.Recipient`).

    Delivering to it publishes the event to that node alone, which hands it to the user's
    connection: that is how a private message crosses nodes.
    """

    def __init__(self, room: ClusterRoom, node: str, nick_key: str, nickname: str) -> None:
        self._room = room
        self.node = node
        self.nick_key = nick_key
        self.nickname: str | None = nickname

    def deliver(self, event: Event) -> None:
        """Send ``event`` (a private message) to the user's node (dropped while Redis is
        unreachable)."""
        if isinstance(event, Private):
            self._room.send_to(
                self.node,
                ["private", event.id, event.time, event.sender, self.nick_key, event.text],
            )


class ClusterRoom(Room):
    """One node's room in a cluster of nodes joined through Redis pub/sub."""

    log = Logger()

    def __init__(
        self,
        events: EventSource,
        gathering: NoticeGathering | None,
        config: ClusterConfig,
        clock: IReactorTime,
        on_fatal: Callable[[str], None],
        link_factory: Callable[..., RedisLink] = RedisLink,
    ) -> None:
        super().__init__(gathering=gathering)
        self.events = events
        self.config = config
        self.node_id = config.node_id
        self.instance = f"{config.node_id}/{uuid.uuid4().hex[:12]}"
        self.keys = Keys(config.prefix)
        self._own_prefix = envelope.encode(self.node_id, self.instance, [])[: -len("[]}")]
        self.clock = clock
        self.presence = Presence()
        self.accounts: Accounts | None = None
        self.bans: Bans | None = None
        self._on_fatal = on_fatal
        self._ttl_ms = max(1, int(config.ttl * 1000))
        self.heartbeat_interval = config.ttl / 3
        self.link = link_factory(
            config.url,
            [self.keys.room, self.keys.to(self.node_id)],
            clock,
            on_message=self._message,
            on_up=self._link_up,
            on_down=self._link_down,
            on_fatal=self._fatal,
            ping_interval=self.heartbeat_interval,
        )
        #: Whether this node is registered in the cluster (Redis up, users claimed).
        self.ready = False
        self._registered_once = False
        self._outage_logged = False
        self._version = 0
        self._claim_versions: dict[str, int] = {}
        self._outbox: list[tuple[str, list[envelope.Event]]] = []
        self._flush_scheduled = False
        self._heartbeat: task.LoopingCall | None = None
        self._bad_envelopes = 0
        self._bad_logged_at = float("-inf")
        self._stopped = False
        # When this node last registered again after an outage: for a TTL after that, a node
        # known from before that is missing from Redis is given time to register again too
        # (after a Redis restart every node does), instead of being announced as gone.
        self._rejoined_at = float("-inf")
        # Claims made before this node registered (just started, or just reconnected).
        self._waiting: list[defer.Deferred[None]] = []

    # -- life cycle (called by ClusterService) ----------------------------------------------

    def attach_accounts(self, accounts: Accounts | None) -> None:
        """Share registrations and password changes with the other nodes."""
        self.accounts = accounts
        if accounts is not None:
            accounts.changed.append(self._account_changed)

    def attach_bans(self, bans: Bans | None) -> None:
        """Apply the bans made on other nodes here; re-read them after an outage."""
        self.bans = bans

    def start(self) -> None:
        """Connect to Redis; register this node once connected."""
        self.log.info(
            "cluster: node {node} connecting to Redis at {redis} (prefix {prefix!r}, TTL {ttl}s)",
            node=self.node_id,
            redis=self.config.url.describe(),
            prefix=self.config.prefix,
            ttl=self.config.ttl,
        )
        self.link.start()
        self.clock.callLater(STARTUP_GRACE, self._startup_check)
        self._heartbeat = task.LoopingCall(self._beat)
        self._heartbeat.clock = self.clock
        self._heartbeat.start(self.heartbeat_interval, now=False)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Leave the cluster at once: the other nodes drop this node's users now, not after the
        TTL. Bounded by :data:`STOP_TIMEOUT`."""
        self._stopped = True
        self._wake_waiting()
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self.ready:
            self.ready = False
            self._flush()
            keys = self.keys
            done = self.link.run(
                scripts.FORGET,
                [keys.alive(self.node_id), keys.users(self.node_id), keys.nodes],
                [self.node_id, keys.nick_prefix, self.instance],
            )
            self._version += 1
            self._publish_now(keys.room, [["bye", self._version]])
            timeout = self.clock.callLater(STOP_TIMEOUT, done.cancel)
            try:
                yield done
            except Exception as e:
                self.log.warn("cluster: could not leave the cluster cleanly: {error}", error=e)
            if timeout.active():
                timeout.cancel()
        yield self.link.stop()

    def _startup_check(self) -> None:
        if not self.link.up and not self._outage_logged and not self._stopped:
            self._outage_logged = True
            self.log.warn(
                "cluster: Redis unreachable at {redis}; this node's users chat among "
                "themselves and new logins wait until it answers",
                redis=self.config.url.describe(),
            )
            self._wake_waiting()

    def _fatal(self, message: str) -> None:
        self._stopped = True
        self._on_fatal(f"cluster: {message}")

    # -- the Room interface -----------------------------------------------------------------

    def __contains__(self, nickname: str) -> bool:
        nick_key = nicknames.key(nickname)
        if nick_key in self._users:
            return True
        return self.ready and self.presence.find(nick_key) is not None

    def find(self, nickname: str) -> Recipient | None:
        """The local session, or the :class:`RemoteUser` on another node, of ``nickname``."""
        nick_key = nicknames.key(nickname)
        session = self._users.get(nick_key)
        if session is not None or not self.ready:
            return session
        found = self.presence.find(nick_key)
        if found is None:
            return None
        remote, spelling = found
        return RemoteUser(self, remote.node, nick_key, spelling)

    def nicknames(self) -> list[str]:
        """Every user of the cluster this node can reach, sorted by their casefolded form."""
        everyone = self.presence.users() if self.ready else {}
        for nick_key, session in self._users.items():
            everyone[nick_key] = session.nickname or ""
        return [everyone[k] for k in sorted(everyone)]

    def claim(self, nickname: str) -> defer.Deferred[Claim]:
        """Claim ``nickname`` for the whole cluster (one atomic script in Redis).

        Just after start-up or a reconnection, before this node has registered, the claim
        waits for that (at most :data:`STARTUP_GRACE`); during an outage it is refused at once.
        """
        if not self.ready:
            if self._outage_logged or self._stopped:
                return defer.succeed(Claim.UNAVAILABLE)
            waiter: defer.Deferred[None] = defer.Deferred()
            self._waiting.append(waiter)
            timeout = self.clock.callLater(STARTUP_GRACE, self._give_up_waiting, waiter)

            def registered(_: object) -> defer.Deferred[Claim]:
                if timeout.active():
                    timeout.cancel()
                return self.claim(nickname) if self.ready else defer.succeed(Claim.UNAVAILABLE)

            return waiter.addCallback(registered)
        if nickname in self:
            return defer.succeed(Claim.TAKEN)
        nick_key = nicknames.key(nickname)
        self._version += 1
        version = self._version
        keys = self.keys
        claimed = self.link.run(
            scripts.CLAIM,
            [keys.nick(nick_key), keys.users(self.node_id)],
            [self.instance, self._ttl_ms, nick_key, nickname, version],
        )

        def answered(result: Any) -> Claim:
            if result == 1:
                self._claim_versions[nick_key] = version
                return Claim.OK
            return Claim.TAKEN

        def failed(failure: Failure) -> Claim:
            self.log.debug("cluster: claim of {nick} failed: {f}", nick=nickname, f=failure.value)
            return Claim.UNAVAILABLE

        return claimed.addCallbacks(answered, failed)

    def _give_up_waiting(self, waiter: defer.Deferred[None]) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)
            waiter.callback(None)

    def _wake_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(None)

    def unclaim(self, nickname: str) -> None:
        """The login of a claimed nickname did not happen: free it."""
        nick_key = nicknames.key(nickname)
        self._claim_versions.pop(nick_key, None)
        if nick_key not in self._users:
            self._release(nick_key)

    def add(self, session: Member, nickname: str) -> bool:
        """Register a local user and tell the other nodes."""
        if not super().add(session, nickname):
            return False
        nick_key = nicknames.key(nickname)
        version = self._claim_versions.pop(nick_key, None)
        if self.ready and version is not None:
            self._send(self.keys.room, ["join", nick_key, nickname, version])
        return True

    def remove(self, session: Member) -> bool:
        """Unregister a local user, free its nickname and tell the other nodes."""
        if not super().remove(session):
            return False
        nickname = session.nickname or ""
        nick_key = nicknames.key(nickname)
        version = self._release(nick_key)
        if version is not None:
            self._send(self.keys.room, ["leave", nick_key, version])
        return True

    def say(self, event: Public, sender: Member) -> None:
        """Relay ``event`` to this node's users and publish it once for the others."""
        super().say(event, sender)
        if self.ready:
            self._send(self.keys.room, ["pub", event.id, event.time, event.sender, event.text])

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
        self.send_to(found[0].node, ["kick", nick_key, reason, by])
        return True

    def mute(self, nickname: str, until: float) -> None:
        """Mute here, and on every node (wherever the user logs in meanwhile)."""
        super().mute(nickname, until)
        if self.ready:
            until_ms = math.ceil(until * 1000) if until > 0 else 0
            self._send(self.keys.room, ["mute", nicknames.key(nickname), until_ms])

    def ban_added(self, ban: Ban) -> list[str]:
        """Disconnect the local users the ban covers, and have every other node do so."""
        gone = super().ban_added(ban)
        if self.ready:
            expires = 0 if ban.expires_at is None else math.ceil(ban.expires_at)
            event = [ban.kind, ban.target, ban.reason, ban.created_by, int(ban.created_at)]
            self._send(self.keys.room, ["ban", *event, expires])
        return gone

    def ban_removed(self, ban: Ban) -> None:
        """Tell every node that the ban is lifted."""
        super().ban_removed(ban)
        if self.ready:
            self._send(self.keys.room, ["unban", ban.kind, ban.target])

    def notice_all(self, event: Event) -> None:
        """The notice to this node's users, and to every other node's."""
        super().notice_all(event)
        if self.ready and isinstance(event, Notice):
            text = event.text
            args = {name: value for name, value in text.args.items() if isinstance(value, str)}
            self._send(self.keys.room, ["notice", event.id, event.time, text.key, args])

    def _ban_received(self, event: envelope.Event) -> None:
        kind, target, reason, by, created, expires = event[1:]
        if kind == "net":
            try:
                ipaddress.ip_network(target)
            except ValueError:
                self.log.warn("cluster: dropped a ban of a bad network {target!r}", target=target)
                return
        elif kind != "nick":
            self.log.warn("cluster: dropped a ban of unknown kind {kind!r}", kind=kind)
            return
        ban = Ban(kind, target, reason, by, float(created), float(expires) if expires else None)
        if self.bans is not None:
            self.bans.apply(ban)
        self._enforce_ban(ban)

    def send_to(self, node: str, event: envelope.Event) -> None:
        """Queue ``event`` for ``node`` alone (dropped while Redis is unreachable)."""
        if self.ready:
            self._send(self.keys.to(node), event)

    @property
    def redis_up(self) -> bool:
        """Whether both connections to Redis are up (the metrics' ``chat_redis_up``)."""
        return bool(self.link.up)

    def deliver(self, recipient: Recipient, event: Event) -> bool:
        """Deliver to one user; a user of another node is counted in ``deliveries`` by the
        node that holds it, not here (where it is published)."""
        delivered = super().deliver(recipient, event)
        if delivered and isinstance(recipient, RemoteUser):
            self.deliveries -= 1
        return delivered

    @property
    def cluster_users(self) -> int:
        """Users of the whole cluster that this node knows of."""
        return len(self._users) + (self.presence.count() if self.ready else 0)

    # -- claims -----------------------------------------------------------------------------

    def _release(self, nick_key: str) -> int | None:
        """Free ``nick_key`` in Redis; the new membership version, or ``None`` if offline."""
        if not self.ready:
            return None
        self._version += 1
        keys = self.keys
        self.link.run(
            scripts.RELEASE,
            [keys.nick(nick_key), keys.users(self.node_id)],
            [self.instance, nick_key, self._version],
        ).addErrback(lambda f: self.log.debug("cluster: release failed: {f}", f=f.value))
        return self._version

    def _lose(self, lost: list[Any]) -> None:
        """Local users whose nickname another node now holds: tell them and disconnect them."""
        for nick_key in lost:
            session = self._users.get(str(nick_key))
            if session is None:
                continue
            self.log.info(
                "cluster: {nick} is held by another node now; disconnecting it here",
                nick=session.nickname,
            )
            # Not ours any more: the release frees nothing of the other holder's (it checks
            # the claim's holder) but takes the user out of this node's list, for everyone.
            self._drop(str(nick_key))
            version = self._release(str(nick_key))
            if version is not None:
                self._send(self.keys.room, ["leave", str(nick_key), version])
            nickname = session.nickname or ""
            self.announce(self.events.left(self.name, nickname))
            session.deliver(self.events.error("nick_lost", nick=nickname))
            session.close()

    # -- publishing -------------------------------------------------------------------------

    def _send(self, channel: str, event: envelope.Event) -> None:
        """Queue ``event`` for ``channel``; everything queued in one turn goes out together,
        in order (consecutive events for one channel share one envelope)."""
        outbox = self._outbox
        if outbox and outbox[-1][0] == channel and len(outbox[-1][1]) < MAX_EVENTS:
            outbox[-1][1].append(event)
        else:
            outbox.append((channel, [event]))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.clock.callLater(0, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox, self._outbox = self._outbox, []
        if not self.ready:
            return  # pub/sub is not a queue: what could not be published is dropped
        for channel, events in outbox:
            self._publish_now(channel, events)

    def _publish_now(self, channel: str, events: list[envelope.Event]) -> None:
        self.link.publish(channel, envelope.encode(self.node_id, self.instance, events))

    def _account_changed(self, nick_key: str, password_hash: str) -> None:
        if self.ready:
            self._send(self.keys.room, ["account", nick_key, password_hash])

    # -- receiving --------------------------------------------------------------------------

    def _message(self, channel: str, data: str) -> None:
        """One pub/sub message: an envelope of events from another node."""
        if data.startswith(self._own_prefix):
            return  # our own, told without decoding it (encode() writes its keys in order)
        try:
            message = envelope.decode(data)
        except envelope.EnvelopeError as e:
            self._bad_envelope(channel, str(e))
            return
        if message.instance == self.instance:
            return  # our own
        try:
            self._apply(message)
        except Exception:
            self.log.failure("cluster: applying events from {node} failed", node=message.node)

    def _bad_envelope(self, channel: str, why: str) -> None:
        self._bad_envelopes += 1
        now = self.clock.seconds()
        if now - self._bad_logged_at >= 10.0:
            self._bad_logged_at = now
            self.log.warn(
                "cluster: dropped {count} malformed message(s) on {channel}: {why}",
                count=self._bad_envelopes,
                channel=channel,
                why=why,
            )
            self._bad_envelopes = 0

    # One branch per event kind until the cluster's events get a handler of their own (issue 13,
    # item 5, under way).
    def _apply(self, message: envelope.Envelope) -> None:  # noqa: C901
        node, instance = message.node, message.instance
        events = message.events
        if len(events) > 1 and self.gather_output is not None:
            self.gather_output()  # one write per recipient for the whole envelope
        public: list[Event] = []
        for event in events:
            kind = event[0]
            if kind == "pub":
                public.append(Public(event[1], event[2], self.name, event[3], event[4]))
                continue
            if public:
                self.broadcast_many(public)
                public = []
            if kind == "join":
                self._changed(self.presence.joined(node, instance, event[1], event[2], event[3]))
            elif kind == "leave":
                self._changed(self.presence.left(node, instance, event[1], event[2]))
            elif kind == "private":
                member = self._users.get(event[4])
                if member is not None:
                    private = Private(
                        event[1], event[2], None, event[3], member.nickname or "", event[5]
                    )
                    self.deliver(member, private)
            elif kind == "account":
                if self.accounts is not None:
                    self.accounts.set_hash(event[1], event[2])
            elif kind == "kick":
                self._kick_local(event[1], event[2], event[3])
            elif kind == "mute":
                self._mute_local(event[1], event[2] / 1000)
            elif kind == "ban":
                self._ban_received(event)
            elif kind == "unban":
                if self.bans is not None:
                    self.bans.forget(event[1], event[2])
            elif kind == "notice":
                args = {str(name): str(value) for name, value in event[4].items()}
                self.broadcast(Notice(event[1], event[2], None, Text(event[3], **args)))
            elif kind == "bye":
                remote = self.presence.known(node)
                if remote is not None and remote.instance == instance:
                    self._changed(self.presence.forget(node))
            elif kind == "hello":
                self._fetch(node)
        if public:
            self.broadcast_many(public)

    def _changed(self, changes: Changes) -> None:
        """Tell this node's users who joined and left elsewhere; re-read a stale node."""
        if self.ready:
            for nickname in changes.left:
                self.announce(self.events.left(self.name, nickname))
            for nickname in changes.joined:
                self.announce(self.events.joined(self.name, nickname))
        if changes.stale is not None:
            self._fetch(changes.stale)

    # -- Redis up and down ------------------------------------------------------------------

    def _link_up(self) -> None:
        if self._outage_logged:
            self.log.warn(
                "cluster: Redis reachable again at {redis}", redis=self.config.url.describe()
            )
            self._outage_logged = False
        self._register()

    def _link_down(self) -> None:
        self.ready = False
        self._outbox = []
        if not self._outage_logged and not self._stopped:
            self._outage_logged = True
            self.log.warn(
                "cluster: Redis unreachable at {redis}; this node's users chat among "
                "themselves until it is back",
                redis=self.config.url.describe(),
            )
        self._wake_waiting()

    def _register(self) -> None:
        """(Re)join the cluster: claim this node's id and its users' nicknames, publish."""
        self._version += 1
        version = self._version
        keys = self.keys
        local = [(k, s.nickname or "") for k, s in self._users.items()]
        args: list[Any] = [self.instance, self._ttl_ms, self.node_id, version, keys.nick_prefix]
        for nick_key, nickname in local:
            args += [nick_key, nickname]
        done = self.link.run(
            scripts.REGISTER, [keys.alive(self.node_id), keys.users(self.node_id), keys.nodes], args
        )

        def registered(result: Any) -> None:
            status, detail = result[0], result[1]
            if status != 1:
                self._id_in_use(str(detail))
                return
            first = not self._registered_once
            self._registered_once = True
            self.ready = True
            self._lose(list(detail))
            self._publish_now(keys.room, [["hello", version]])
            self._wake_waiting()
            if first:
                self.log.info(
                    "cluster: node {node} joined the cluster ({users} local users)",
                    node=self.node_id,
                    users=len(self._users),
                )
            else:
                self._rejoined_at = self.clock.seconds()
                if self.accounts is not None:
                    self.accounts.reload()  # registrations made elsewhere meanwhile
                if self.bans is not None:
                    self.bans.reload()  # bans made or lifted elsewhere meanwhile
            self._survey()

        def failed(failure: Failure) -> None:
            self.log.debug("cluster: registration failed: {f}", f=failure.value)
            # The link reconnects and calls us again; if it stays up, retry soon.
            if self.link.up and not self._stopped:
                self.clock.callLater(0.5, self._retry_register)

        done.addCallbacks(registered, failed)

    def _retry_register(self) -> None:
        if self.link.up and not self.ready and not self._stopped:
            self._register()

    def _id_in_use(self, holder: str) -> None:
        """Another run holds this node id: a live node (fatal) or a dead one (wait it out)."""
        alive = self.keys.alive(self.node_id)

        @defer.inlineCallbacks
        def check() -> Any:
            first = yield self.link.command("PTTL", alive)
            wait = self.heartbeat_interval * 1.5
            yield task.deferLater(self.clock, wait, lambda: None)
            second = yield self.link.command("PTTL", alive)
            current = yield self.link.command("GET", alive)
            if current is None or second < 0:
                self._retry_register()
            elif current == holder and second > first - wait * 1000 + 200:
                self._fatal(
                    f"node id {self.node_id!r} is in use by a live node of the cluster "
                    "(pick another --node-id)"
                )
            else:  # a previous run that died: its registration expires within the TTL
                self.log.info(
                    "cluster: node id {node} was used by a run that stopped heartbeating; "
                    "waiting {s:.1f}s for it to expire",
                    node=self.node_id,
                    s=second / 1000,
                )
                self.clock.callLater(second / 1000 + 0.05, self._retry_register)

        check().addErrback(lambda f: self.log.debug("cluster: id check failed: {f}", f=f.value))

    # -- heartbeat and survey ---------------------------------------------------------------

    def _beat(self) -> None:
        """Every third of the TTL: keep this node's claims alive, and look at the others."""
        if not self.ready:
            return
        keys = self.keys
        done = self.link.run(
            scripts.HEARTBEAT,
            [keys.alive(self.node_id), keys.users(self.node_id)],
            [self.instance, self._ttl_ms, keys.nick_prefix],
        )

        def beaten(lost: Any) -> None:
            if lost is None:  # Redis lost our registration (restarted, flushed): again
                self.ready = False
                self._register()
                return
            self._lose(list(lost))
            self._survey()

        done.addCallbacks(beaten, lambda f: self.log.debug("cluster: heartbeat: {f}", f=f.value))

    def _survey(self) -> None:
        """Compare the nodes in Redis with the replicas: drop dead ones, read changed ones."""
        keys = self.keys

        def surveyed(rows: Any) -> None:
            seen = set()
            for node, instance, version in rows:
                node = str(node)
                seen.add(node)
                if node == self.node_id:
                    continue
                remote = self.presence.known(node)
                if not instance:  # stopped heartbeating longer than the TTL ago: dead
                    if remote is not None:
                        self.log.info("cluster: node {node} is gone", node=node)
                        self._changed(self.presence.forget(node))
                    self.link.run(
                        scripts.FORGET,
                        [keys.alive(node), keys.users(node), keys.nodes],
                        [node, keys.nick_prefix, ""],
                    ).addErrback(lambda _: None)
                elif (
                    remote is None
                    or remote.instance != instance
                    or (str(version).isdigit() and int(version) > remote.version)
                ):
                    self._fetch(node)
            for node in list(self.presence.nodes):
                if node not in seen and not self._in_rejoin_grace():
                    self._changed(self.presence.forget(node))

        self.link.run(scripts.SURVEY, [keys.nodes], [keys.prefix]).addCallbacks(
            surveyed, lambda f: self.log.debug("cluster: survey: {f}", f=f.value)
        )

    def _in_rejoin_grace(self) -> bool:
        return self.clock.seconds() - self._rejoined_at < self.config.ttl

    def _fetch(self, node: str) -> None:
        """Read ``node``'s users hash and bring its replica up to date."""
        if node == self.node_id:
            return

        def read(flat: Any) -> None:
            fields = _pairs(flat)
            instance = fields.pop("#i", None)
            version = fields.pop("#v", None)
            if instance is None or version is None or not version.isdigit():
                if self.presence.known(node) is not None and not self._in_rejoin_grace():
                    self._changed(self.presence.forget(node))
                return
            self._changed(self.presence.snapshot(node, instance, int(version), fields))

        self.link.command("HGETALL", self.keys.users(node)).addCallbacks(
            read, lambda f: self.log.debug("cluster: reading {node}: {f}", node=node, f=f.value)
        )


def _pairs(flat: Any) -> dict[str, str]:
    """A Redis hash reply (a dict, or a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat or [])
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}
