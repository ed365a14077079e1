"""This node's membership in the cluster: registration, heartbeat, the survey of the other nodes,
nickname claims, and what follows from them for this node's users.

- **Registration**: once connected to Redis the node claims its node id for this run (a live
  node holding the id is fatal; a dead run's entries are waited out), claims its users'
  nicknames again in the same script (after an outage a user whose nickname was taken meanwhile
  is told and disconnected), publishes a ``hello``, and reads the other nodes' users. Until
  then logins wait (at most :data:`STARTUP_GRACE`); during an outage they are refused.
- **Heartbeat**: every third of ``--cluster-ttl`` a script refreshes this run's keys and claims
  (a registration Redis lost, after a restart, is made again), then the **survey** compares the
  nodes in Redis with the replicas of their users (:mod:`twisted_chat.cluster.presence`): dead
  nodes are dropped, changed ones read again.
- **Claims**: a nickname is claimed for the whole cluster in one atomic script before a login
  is accepted, and released when the user leaves. Each change numbers this node's membership
  version, carried by its ``join`` and ``leave`` events.

Every change to the replicas, found here or by the handler of other nodes' events
(:mod:`twisted_chat.cluster.handler`), goes through :meth:`Membership.changed`, which hands it
to the room (:attr:`Membership.on_changes`: the rooms' members kept, this node's users told who
joined, left and moved elsewhere). A user's room is part of the node's membership: a move
numbers a new version too, and is written in the users hash (:meth:`Membership.moved`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames
from twisted_chat.cluster import scripts
from twisted_chat.cluster.config import ClusterConfig
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import Bye, Hello
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.outbox import Outbox
from twisted_chat.cluster.presence import (
    Changes,
    Presence,
    encode_rooms,
    room_sets,
    split_fields,
    user_info,
)
from twisted_chat.cluster.scripts import Script
from twisted_chat.events import EventSource
from twisted_chat.room import Claim, Room

#: How long a node waits for Redis at start-up before logging that it is unreachable.
STARTUP_GRACE: Final = 2.0
#: Longest wait for this node's goodbye to be written when it stops, in seconds.
STOP_TIMEOUT: Final = 1.0


class Link(Protocol):
    """What the membership needs of the Redis link
    (:class:`~twisted_chat.cluster.link.RedisLink`)."""

    @property
    def up(self) -> bool:
        """Whether both connections are up."""

    def start(self) -> None:
        """Connect, and keep reconnecting."""

    def stop(self) -> defer.Deferred[Any]:
        """Disconnect for good."""

    def command(self, *args: Any) -> defer.Deferred[Any]:
        """Send one command."""

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> defer.Deferred[Any]:
        """Run a Lua script."""


class Membership:
    """This node's place in the cluster, kept up while it runs."""

    log = Logger()

    def __init__(
        self,
        room: Room,
        events: EventSource,
        config: ClusterConfig,
        origin: Origin,
        keys: Keys,
        clock: IReactorTime,
        link: Link,
        outbox: Outbox,
        presence: Presence,
        on_fatal: Callable[[str], None],
    ) -> None:
        self.room = room
        self.events = events
        self.config = config
        self.origin = origin
        self.node_id = origin.node
        self.keys = keys
        self.clock = clock
        self.link = link
        self.outbox = outbox
        self.presence = presence
        self._on_fatal = on_fatal
        self._ttl_ms = max(1, int(config.ttl * 1000))
        self.heartbeat_interval = config.ttl / 3
        #: Whether this node is registered in the cluster (Redis up, users claimed).
        self.ready = False
        #: Called when this node joined the cluster again after an outage: re-read what other
        #: nodes may have changed meanwhile (accounts, bans).
        self.rejoined: list[Callable[[], object]] = []
        #: Called on every (re)registration before this node's ``hello`` is published: write
        #: again what the registration does not (this node's users' rooms).
        self.registering: list[Callable[[], object]] = []
        #: Called after every heartbeat that found this run registered.
        self.beating: list[Callable[[], object]] = []
        #: What a change to the replicas does here (the room's rooms and notices); by default
        #: the joins and leaves are announced in the default room.
        self.on_changes: Callable[[Changes], None] = self._announce
        self._registered_once = False
        self._outage_logged = False
        self._stopped = False
        self._version = 0
        self._claim_versions: dict[str, int] = {}
        # The membership versions of nickname changes made in Redis, by new nick key, until
        # the room publishes them.
        self._rename_versions: dict[str, int] = {}
        self._heartbeat: task.LoopingCall | None = None
        # When this node last registered again after an outage: for a TTL after that, a node
        # known from before that is missing from Redis is given time to register again too
        # (after a Redis restart every node does), instead of being announced as gone.
        self._rejoined_at = float("-inf")
        # Claims made before this node registered (just started, or just reconnected).
        self._waiting: list[defer.Deferred[None]] = []

    # -- life cycle -------------------------------------------------------------------------

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
            self.outbox.release_all()  # held events too (a subscription on its way)
            self.outbox.flush()  # what this turn said still reaches the others, before the bye
            keys = self.keys
            done = self.link.run(
                scripts.FORGET,
                [keys.alive(self.node_id), keys.users(self.node_id), keys.nodes],
                [self.node_id, keys.nick_prefix, self.origin.instance],
            )
            self._version += 1
            self.outbox.publish_now(keys.room, [Bye(self._version)])
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

    def fatal(self, message: str) -> None:
        """This node cannot be part of the cluster (wrong credentials, node id in use)."""
        self._stopped = True
        self._on_fatal(f"cluster: {message}")

    # -- Redis up and down ------------------------------------------------------------------

    def link_up(self) -> None:
        """Both connections to Redis are up (again): register."""
        if self._outage_logged:
            self.log.warn(
                "cluster: Redis reachable again at {redis}", redis=self.config.url.describe()
            )
            self._outage_logged = False
        self._register()

    def link_down(self) -> None:
        """A connection to Redis is lost: this node is on its own until it registers again."""
        self.ready = False
        self.outbox.clear()
        if not self._outage_logged and not self._stopped:
            self._outage_logged = True
            self.log.warn(
                "cluster: Redis unreachable at {redis}; this node's users chat among "
                "themselves until it is back",
                redis=self.config.url.describe(),
            )
        self._wake_waiting()

    # -- registration -----------------------------------------------------------------------

    def _register(self) -> None:
        """(Re)join the cluster: claim this node's id and its users' nicknames, publish."""
        self._version += 1
        version = self._version
        keys = self.keys
        args: list[Any] = [
            self.origin.instance,
            self._ttl_ms,
            self.node_id,
            version,
            keys.nick_prefix,
        ]
        for member in self.room.members():
            nickname = member.nickname or ""
            args += [nicknames.key(nickname), nickname]
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
            for restore in self.registering:
                restore()
            self.outbox.publish_now(keys.room, [Hello(version)])
            self._wake_waiting()
            if first:
                self.log.info(
                    "cluster: node {node} joined the cluster ({users} local users)",
                    node=self.node_id,
                    users=len(self.room),
                )
            else:
                self._rejoined_at = self.clock.seconds()
                for reread in self.rejoined:
                    reread()
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
                self.fatal(
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

    # -- nickname claims --------------------------------------------------------------------

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
        if nickname in self.room:
            return defer.succeed(Claim.TAKEN)
        nick_key = nicknames.key(nickname)
        self._version += 1
        version = self._version
        keys = self.keys
        claimed = self.link.run(
            scripts.CLAIM,
            [keys.nick(nick_key), keys.users(self.node_id)],
            [self.origin.instance, self._ttl_ms, nick_key, nickname, version],
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

    def logged_in(self, nick_key: str) -> int | None:
        """The login of the claimed ``nick_key`` happened: the membership version of its claim,
        for the ``join`` event (``None`` if it was not claimed here)."""
        return self._claim_versions.pop(nick_key, None)

    def unclaim(self, nickname: str) -> None:
        """The login of a claimed nickname did not happen: free it."""
        nick_key = nicknames.key(nickname)
        self._claim_versions.pop(nick_key, None)
        self._rename_versions.pop(nick_key, None)  # a nickname change that did not happen
        if self.room.member(nickname) is None:
            self.release(nick_key)

    def claim_rename(self, old: str, nickname: str) -> defer.Deferred[Claim]:
        """Change this node's user ``old`` to ``nickname`` in Redis, in one atomic script
        (:data:`~twisted_chat.cluster.scripts.RENAME`): the new nickname claimed for the
        whole cluster, the old one given back, the user's fields moved. ``UNAVAILABLE`` while
        this node is not in the cluster (a change then could give two users one nickname
        once it is back)."""
        if not self.ready:
            return defer.succeed(Claim.UNAVAILABLE)
        old_key = nicknames.key(old)
        new_key = nicknames.key(nickname)
        self._version += 1
        version = self._version
        keys = self.keys
        done = self.link.run(
            scripts.RENAME,
            [keys.nick(new_key), keys.nick(old_key), keys.users(self.node_id)],
            [self.origin.instance, self._ttl_ms, new_key, nickname, old_key, version],
        )

        def answered(result: Any) -> Claim:
            if result == 1:
                self._rename_versions[new_key] = version
                return Claim.OK
            if result == 0:
                return Claim.TAKEN
            return Claim.UNAVAILABLE

        def failed(failure: Failure) -> Claim:
            self.log.debug(
                "cluster: rename of {old} to {nick} failed: {f}",
                old=old,
                nick=nickname,
                f=failure.value,
            )
            return Claim.UNAVAILABLE

        return done.addCallbacks(answered, failed)

    def renamed(self, new_key: str) -> int | None:
        """The nickname change to ``new_key`` happened here: the membership version of its
        script, for the ``nick`` event (``None`` if it was not made in Redis)."""
        return self._rename_versions.pop(new_key, None)

    def moved(self, nick_key: str, name: str, operator_of: str) -> int | None:
        """This node's user ``nick_key`` moved to the room ``name`` (``""``: the default room),
        and is the operator of the room ``operator_of`` (``""``: of none new): record it in
        Redis; the new membership version, or ``None`` if offline."""
        if not self.ready:
            return None
        self._version += 1
        self.link.run(
            scripts.ROOM_MOVE,
            [self.keys.users(self.node_id)],
            [self.origin.instance, nick_key, name, self._version, operator_of],
        ).addErrback(lambda f: self.log.debug("cluster: room move failed: {f}", f=f.value))
        return self._version

    def rooms_set(self, nick_key: str, names: tuple[str, ...], operator_of: str) -> int | None:
        """This node's user ``nick_key`` is in the rooms ``names`` now (an IRC user's, any
        number; :data:`~twisted_chat.cluster.presence.DEFAULT` for the default room), and the
        operator of the room ``operator_of`` (``""``: of none new): record it in Redis
        (``#r:`` and ``#R:``); the new membership version, or ``None`` if offline."""
        if not self.ready:
            return None
        self._version += 1
        self.link.run(
            scripts.ROOMS_SET,
            [self.keys.users(self.node_id)],
            [self.origin.instance, self._version, operator_of, *rooms_fields(nick_key, names)],
        ).addErrback(lambda f: self.log.debug("cluster: rooms set failed: {f}", f=f.value))
        return self._version

    def info_set(self, infos: Sequence[tuple[str, str]], numbered: bool = True) -> int | None:
        """Record this node's users' info in Redis (``#u:``): ``infos`` are nick keys and
        their values (:func:`~twisted_chat.cluster.presence.encode_info`; ``""``: nothing to
        know). ``numbered``: a change, for a ``uinfo`` event: the new membership version
        (``None`` if offline); else a rewrite after a registration (``None``)."""
        if not self.ready or not infos:
            return None
        version: int | None = None
        if numbered:
            self._version += 1
            version = self._version
        args: list[Any] = [self.origin.instance, "" if version is None else version]
        for nick_key, value in infos:
            args += [nick_key, value]
        self.link.run(scripts.USER_INFO, [self.keys.users(self.node_id)], args).addErrback(
            lambda f: self.log.debug("cluster: user info failed: {f}", f=f.value)
        )
        return version

    def release(self, nick_key: str) -> int | None:
        """Free ``nick_key`` in Redis; the new membership version, or ``None`` if offline."""
        if not self.ready:
            return None
        self._version += 1
        keys = self.keys
        self.link.run(
            scripts.RELEASE,
            [keys.nick(nick_key), keys.users(self.node_id)],
            [self.origin.instance, nick_key, self._version],
        ).addErrback(lambda f: self.log.debug("cluster: release failed: {f}", f=f.value))
        return self._version

    def _lose(self, lost: list[Any]) -> None:
        """Local users whose nickname another node now holds: tell them and disconnect them."""
        if not lost:
            return
        room = self.room
        members = {nicknames.key(m.nickname or ""): m for m in room.members()}
        for nick_key in lost:
            member = members.get(str(nick_key))
            if member is None:
                continue
            nickname = member.nickname or ""
            self.log.info(
                "cluster: {nick} is held by another node now; disconnecting it here", nick=nickname
            )
            # Not ours any more: the room's removal releases the claim (which frees nothing of
            # the other holder's: the script checks the holder) and tells the other nodes.
            rooms = room.rooms_of(member)
            room.remove(member)
            for chatroom in rooms:
                room.announce(self.events.left(chatroom.key, nickname))
            member.deliver(self.events.error("nick_lost", nick=nickname))
            member.close()

    # -- heartbeat and survey ---------------------------------------------------------------

    def _beat(self) -> None:
        """Every third of the TTL: keep this node's claims alive, and look at the others."""
        if not self.ready:
            return
        keys = self.keys
        done = self.link.run(
            scripts.HEARTBEAT,
            [keys.alive(self.node_id), keys.users(self.node_id)],
            [self.origin.instance, self._ttl_ms, keys.nick_prefix],
        )

        def beaten(lost: Any) -> None:
            if lost is None:  # Redis lost our registration (restarted, flushed): again
                self.ready = False
                self.outbox.clear()
                self._register()
                return
            self._lose(list(lost))
            for beat in self.beating:
                beat()
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
                        self.changed(self.presence.forget(node))
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
                    self.fetch(node)
            for node in list(self.presence.nodes):
                if node not in seen and not self._in_rejoin_grace():
                    self.changed(self.presence.forget(node))

        self.link.run(scripts.SURVEY, [keys.nodes], [keys.prefix]).addCallbacks(
            surveyed, lambda f: self.log.debug("cluster: survey: {f}", f=f.value)
        )

    def _in_rejoin_grace(self) -> bool:
        return self.clock.seconds() - self._rejoined_at < self.config.ttl

    def fetch(self, node: str) -> defer.Deferred[None]:
        """Read ``node``'s users hash and bring its replica up to date; fires once done (or
        failed: logged)."""
        if node == self.node_id:
            return defer.succeed(None)

        def read(flat: Any) -> None:
            fields = _pairs(flat)
            instance = fields.pop("#i", None)
            version = fields.pop("#v", None)
            if instance is None or version is None or not version.isdigit():
                if self.presence.known(node) is not None and not self._in_rejoin_grace():
                    self.changed(self.presence.forget(node))
                return
            users, rooms, operators = split_fields(fields)
            sets = room_sets(fields)
            infos = user_info(fields)
            self.changed(
                self.presence.snapshot(
                    node, instance, int(version), users, rooms, operators, sets, infos
                )
            )

        return self.link.command("HGETALL", self.keys.users(node)).addCallbacks(
            read, lambda f: self.log.debug("cluster: reading {node}: {f}", node=node, f=f.value)
        )

    def changed(self, changes: Changes) -> None:
        """Apply a change to the replicas here (:attr:`on_changes`); re-read a stale node."""
        self.on_changes(changes)
        if changes.stale is not None:
            self.fetch(changes.stale)

    def _announce(self, changes: Changes) -> None:
        """Tell this node's users who joined and left elsewhere (in the default room)."""
        if self.ready:
            room = self.room
            for nickname in changes.left:
                room.announce(self.events.left(room.default.key, nickname))
            for nickname in changes.joined:
                room.announce(self.events.joined(room.default.key, nickname))


def rooms_fields(nick_key: str, names: tuple[str, ...]) -> list[str]:
    """The ``ROOMS_SET`` arguments of a user in the rooms ``names``: its nick key, its
    ``#r:`` value (the last room; ``""``: the default room or none) and its ``#R:`` value
    (``""`` when it is in one room, which ``#r:`` says alone)."""
    last = names[-1] if names else ""
    return [nick_key, last, "" if len(names) == 1 else encode_rooms(names)]


def _pairs(flat: Any) -> dict[str, str]:
    """A Redis hash reply (a dict, or a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat or [])
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}
