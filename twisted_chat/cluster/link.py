"""The node's two connections to Redis, kept up by themselves, in the manner of Synapse's
``synapse/replication/tcp/redis.py``: one connection subscribes (a subscribed connection can
send nothing else), the other sends commands and publishes.

Both are txredisapi factories run under Twisted's ``ClientService`` (txredisapi 1.6's
``startConnecting(endpoint)``), which reconnects with a bounded backoff. What the library
would do on its own is changed in three places:

- AUTH and SELECT are sent here, not by txredisapi, whose protocol calls ``stopTrying()`` when
  AUTH fails or the connection drops during AUTH (txredisapi issue #126): a node must keep
  trying, as Synapse's does. Only an AUTH refused before the node was ever connected is
  reported as fatal (a password that can never work is a start-up error).
- Connections are not queued in txredisapi's pool: while Redis is away a command fails at once
  with :class:`RedisUnavailable` instead of waiting for a connection, so nothing is buffered
  without bound during an outage.
- Both connections are pinged every ``ping_interval``; a reply that does not come within it
  drops the connection (the library's ``replyTimeout``), so a dead peer is noticed even when no
  RST ever comes.

The link is *up* when the command connection is authenticated and the subscriber has
subscribed (again, after every reconnect); ``on_up`` and ``on_down`` report the changes.
Channels can be added and removed while it runs (:meth:`RedisLink.subscribe`,
:meth:`RedisLink.unsubscribe`: a room's channel while this node has members in it); after a
reconnect the subscriber subscribes to every channel of the moment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import txredisapi
from twisted.internet import defer, endpoints, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.cluster.scripts import Script
from twisted_chat.cluster.url import RedisURL


class RedisUnavailable(Exception):
    """Redis cannot be reached right now; nothing was sent."""


class RedisAuthError(Exception):
    """Redis refused the credentials (or the database number)."""


class _Connected:
    """What both protocols do once connected: AUTH, SELECT, then report to the link."""

    factory: Any
    transport: Any

    def _setup(self, proto: Any, link: RedisLink, subscriber: bool) -> None:
        @defer.inlineCallbacks
        def setup() -> Any:
            url = link.url
            try:
                if url.password is not None:
                    args = (url.username, url.password) if url.username else (url.password,)
                    reply = yield proto.execute_command("AUTH", *args)
                    if isinstance(reply, Exception):
                        raise RedisAuthError(str(reply))
                if url.db and not subscriber:
                    reply = yield proto.execute_command("SELECT", url.db)
                    if isinstance(reply, Exception):
                        raise RedisAuthError(f"SELECT {url.db}: {reply}")
                # Without a password, a server that needs one says so here (NOAUTH).
                yield proto.execute_command("PING")
            except txredisapi.ResponseError as e:
                link._setup_failed(RedisAuthError(str(e)))
                proto.transport.loseConnection()
                return
            except RedisAuthError as e:
                link._setup_failed(e)
                proto.transport.loseConnection()
                return
            except Exception as e:  # the connection dropped meanwhile
                link._setup_failed(e)
                return
            yield link._connected(proto, subscriber)

        setup().addErrback(lambda f: link.log.failure("Redis connection set-up failed", f))


class _CommandProtocol(txredisapi.RedisProtocol, _Connected):  # type: ignore[misc]
    link: RedisLink

    def connectionMade(self) -> Any:
        d = super().connectionMade()  # no password or dbid given to it: ready at once
        self._setup(self, self.factory.link, subscriber=False)
        return d

    def connectionLost(self, why: Failure) -> None:
        super().connectionLost(why)
        self.factory.link._lost(self, why)


class _SubscriberProtocol(txredisapi.SubscriberProtocol, _Connected):  # type: ignore[misc]
    def connectionMade(self) -> Any:
        d = super().connectionMade()
        self._setup(self, self.factory.link, subscriber=True)
        return d

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.link._message(channel, message)

    def connectionLost(self, why: Failure) -> None:
        super().connectionLost(why)
        self.factory.link._lost(self, why)


class _Unpooled:
    """txredisapi factory behaviour kept out of its pool (see the module docstring)."""

    def addConnection(self, conn: Any) -> None:
        """Connections are tracked by the link, not queued in the pool."""

    def delConnection(self, conn: Any) -> None:
        """Nothing was added to the pool."""


class _CommandFactory(_Unpooled, txredisapi.RedisFactory):  # type: ignore[misc]
    protocol = _CommandProtocol
    initialDelay = 0.25
    maxDelay = 2.0
    link: RedisLink


class _SubscriberFactory(_Unpooled, txredisapi.SubscriberFactory):  # type: ignore[misc]
    protocol = _SubscriberProtocol
    initialDelay = 0.25
    maxDelay = 2.0
    link: RedisLink


class RedisLink:
    """A subscriber and a command connection to one Redis, reconnecting by themselves."""

    log = Logger()

    def __init__(
        self,
        url: RedisURL,
        channels: Sequence[str],
        clock: IReactorTime,
        on_message: Callable[[str, str], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_fatal: Callable[[str], None],
        ping_interval: float = 3.0,
        endpoint_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.url = url
        self.channels = list(channels)
        self._clock = clock
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._on_fatal = on_fatal
        self.ping_interval = ping_interval
        self._endpoint_factory = endpoint_factory
        self._command: Any = None
        self._subscriber: Any = None
        self._subscribed = False
        # Channels whose SUBSCRIBE is on its way: the reply's Deferred.
        self._confirming: dict[str, defer.Deferred[Any]] = {}
        self.up = False
        self._ever_up = False
        self._factories: list[Any] = []
        self._pinger: task.LoopingCall | None = None
        self._scripts_loaded: set[str] = set()
        self._stopping = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect both connections (and keep reconnecting until :meth:`stop`)."""
        from twisted.internet import reactor

        timeout = max(0.5, self.ping_interval)
        command = _CommandFactory(
            self.url.describe(), None, 1, isLazy=True, charset="utf-8", replyTimeout=timeout
        )
        subscriber = _SubscriberFactory(isLazy=True)
        subscriber.replyTimeout = timeout
        for factory in (command, subscriber):
            factory.link = self
            endpoint = (
                self._endpoint_factory()
                if self._endpoint_factory is not None
                else endpoints.HostnameEndpoint(reactor, self.url.host, self.url.port, timeout=5)
            )
            factory.startConnecting(endpoint)
            self._factories.append(factory)
        self._pinger = task.LoopingCall(self._ping)
        self._pinger.clock = self._clock
        self._pinger.start(self.ping_interval, now=False)

    def stop(self) -> defer.Deferred[Any]:
        """Close both connections and stop reconnecting."""
        self._stopping = True
        if self._pinger is not None and self._pinger.running:
            self._pinger.stop()
        factories, self._factories = self._factories, []
        return defer.gatherResults(
            [defer.maybeDeferred(f.disconnect) for f in factories], consumeErrors=True
        ).addErrback(lambda _: None)

    # -- channels ---------------------------------------------------------------------------

    def subscribe(self, channel: str) -> defer.Deferred[None]:
        """Receive ``channel`` too, from now on (and after every reconnect). Fires once Redis
        has confirmed the subscription (or it failed: the reconnect subscribes again), from
        when on every message published on ``channel`` reaches this node; at once if the
        channel is subscribed already, or if the subscriber is not connected (then the link is
        not up, and the reconnect subscribes to every channel before it is up again)."""
        if channel in self.channels:
            return _follow(self._confirming.get(channel))
        self.channels.append(channel)
        sent = self._change_subscription("subscribe", channel)
        if sent is None:
            return defer.succeed(None)
        self._confirming[channel] = sent

        def confirmed(result: Any) -> Any:
            if self._confirming.get(channel) is sent:
                del self._confirming[channel]
            return result

        sent.addBoth(confirmed)
        return _follow(sent)

    def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel``."""
        if channel not in self.channels:
            return
        self.channels.remove(channel)
        self._change_subscription("unsubscribe", channel)

    def _change_subscription(self, verb: str, channel: str) -> defer.Deferred[Any] | None:
        """Send ``SUBSCRIBE`` or ``UNSUBSCRIBE`` now if subscribed (else at the reconnect);
        the reply's Deferred (a failure logged and swallowed), or ``None`` if not sent."""
        proto = self._subscriber
        if proto is None or not self._subscribed:
            return None
        try:
            d: defer.Deferred[Any]
            d = proto.subscribe([channel]) if verb == "subscribe" else proto.unsubscribe([channel])
        except txredisapi.ConnectionError:
            return None  # the reconnect subscribes to what is current then
        d.addErrback(lambda f: self.log.debug("{verb} failed: {f}", verb=verb, f=f.value))
        return d

    # -- commands ---------------------------------------------------------------------------

    def command(self, *args: Any) -> defer.Deferred[Any]:
        """Send one command; fails at once with :class:`RedisUnavailable` while disconnected."""
        proto = self._command
        if proto is None or not self.up:
            return defer.fail(RedisUnavailable("not connected to Redis"))
        try:
            d: defer.Deferred[Any] = proto.execute_command(*args)
        except txredisapi.ConnectionError as e:
            return defer.fail(RedisUnavailable(str(e)))
        return d

    def publish(self, channel: str, message: str) -> bool:
        """Publish ``message``; ``False`` (and nothing sent) while disconnected.

        Nobody waits for the reply, so publishes of one turn go out together (pipelined).
        """
        if self._command is None or not self.up:
            return False
        try:
            # No reply timeout: under load replies come late, and nobody waits for them; a
            # dead connection is noticed by the pings.
            self._command.execute_command(
                "PUBLISH", channel, message, apply_timeout=False
            ).addErrback(_ignore)
        except txredisapi.ConnectionError:
            return False
        return True

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> defer.Deferred[Any]:
        """Run a Lua script (``EVALSHA``, falling back to ``EVAL`` on ``NOSCRIPT``)."""
        if script.sha in self._scripts_loaded:
            d = self.command("EVALSHA", script.sha, len(keys), *keys, *args)

            def retry(failure: Failure) -> Any:
                if failure.check(txredisapi.ResponseError) and "NOSCRIPT" in str(failure.value):
                    self._scripts_loaded.discard(script.sha)
                    return self.run(script, keys, args)
                return failure

            return d.addErrback(retry)
        d = self.command("EVAL", script.source, len(keys), *keys, *args)

        def loaded(result: Any) -> Any:
            self._scripts_loaded.add(script.sha)
            return result

        return d.addCallback(loaded)

    # -- what the protocols report ----------------------------------------------------------

    def _setup_failed(self, error: Exception) -> None:
        if isinstance(error, RedisAuthError) and not self._ever_up and not self._stopping:
            self._on_fatal(
                f"Redis at {self.url.describe()} refused the credentials: {str(error).rstrip('.')}"
            )
            return
        self.log.debug("Redis connection set-up failed: {error}", error=error)

    @defer.inlineCallbacks
    def _connected(self, proto: Any, subscriber: bool) -> Any:
        if self._stopping:
            proto.transport.loseConnection()
            return
        if subscriber:
            self._subscriber = proto
            channels = list(self.channels)
            try:
                yield proto.subscribe(channels)
            except Exception as e:
                self.log.debug("SUBSCRIBE failed: {error}", error=e)
                proto.transport.loseConnection()
                return
            if self._subscriber is proto:
                self._subscribed = True
                # Channels added or removed while that SUBSCRIBE was on its way.
                for channel in self.channels:
                    if channel not in channels:
                        self._change_subscription("subscribe", channel)
                for channel in channels:
                    if channel not in self.channels:
                        self._change_subscription("unsubscribe", channel)
        else:
            self._scripts_loaded.clear()  # a restarted Redis knows no script
            self._command = proto
        self._check_up()

    def _lost(self, proto: Any, why: Failure) -> None:
        if proto is self._command:
            self._command = None
        elif proto is self._subscriber:
            self._subscriber = None
            self._subscribed = False
        else:
            return
        if self.up:
            self.up = False
            if not self._stopping:
                self._on_down()

    def _check_up(self) -> None:
        if not self.up and self._command is not None and self._subscribed:
            self.up = True
            self._ever_up = True
            self._on_up()

    def _message(self, channel: Any, message: Any) -> None:
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self._on_message(str(channel), str(message))

    def _ping(self) -> None:
        for proto in (self._command, self._subscriber):
            if proto is not None:
                with contextlib.suppress(txredisapi.ConnectionError):
                    proto.ping().addErrback(_ignore)  # a timeout drops the connection


def _ignore(failure: Failure) -> None:
    """Errors of fire-and-forget commands show up as a lost connection instead."""


def _follow(sent: defer.Deferred[Any] | None) -> defer.Deferred[None]:
    """A Deferred that fires (with ``None``) when ``sent`` does, leaving ``sent``'s result to
    its other callbacks; fired already when ``sent`` is ``None``."""
    if sent is None:
        return defer.succeed(None)
    follower: defer.Deferred[None] = defer.Deferred()

    def fire(result: Any) -> Any:
        follower.callback(None)
        return result

    sent.addBoth(fire)
    return follower
