"""What this node publishes: its cluster events, gathered per reactor turn into envelopes.

Publishing is fire and forget, as in Synapse's replication: nobody waits for Redis's reply, and
pub/sub is not a queue, so what cannot be published (Redis unreachable) is dropped, never kept
for later. A turn's events for one channel go out as one envelope (a busy node sends one
envelope for many messages), in the order they were sent.

A channel can be *held* (:meth:`Outbox.hold`) until something happens: its events wait, in
order, and go out once it has happened (or after :data:`HOLD_TIMEOUT`). The rooms hold the
``room`` channel while this node's subscription to a room's channel is on its way, so that no
node hears of a member here before its messages for that room would reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import ClusterEvent

#: Most events in one envelope (a busier turn is split into several).
MAX_EVENTS: Final = 1000
#: Longest a held channel's events wait (seconds), whatever they wait for.
HOLD_TIMEOUT: Final = 1.0


class Publisher(Protocol):
    """What the outbox needs of the Redis link."""

    def publish(self, channel: str, message: str) -> bool:
        """Publish ``message`` on ``channel`` (``False``: not connected, nothing sent)."""


class Outbox:
    """The events this node publishes in the current reactor turn, by channel, in order."""

    def __init__(self, link: Publisher, clock: IReactorTime, origin: Origin) -> None:
        self._link = link
        self._clock = clock
        self._origin = origin
        self._queued: list[tuple[str, list[ClusterEvent]]] = []
        # Whether the last queued envelope takes no more events (it holds an event alone).
        self._sealed = False
        self._flush_scheduled = False
        #: Told of every envelope once published: its channel, its text (``None``: not
        #: published, Redis unreachable) and how many events it carries.
        self.on_published: Callable[[str, str | None, int], None] | None = None
        # Held channels: what they wait for (each hold's token and its timeout), and their
        # events meanwhile, in order.
        self._holds: dict[str, dict[object, IDelayedCall]] = {}
        self._parked: dict[str, list[tuple[ClusterEvent, bool]]] = {}

    def hold(self, channel: str, until: defer.Deferred[Any]) -> None:
        """Keep the events sent on ``channel`` from now on until ``until`` fires (or fails),
        or :data:`HOLD_TIMEOUT` passes; then they go out, in order, at the end of that turn."""
        token = object()
        timeout = self._clock.callLater(HOLD_TIMEOUT, self._release, channel, token)
        self._holds.setdefault(channel, {})[token] = timeout

        def fired(result: object) -> object:
            if timeout.active():
                timeout.cancel()
            self._release(channel, token)
            return None

        until.addBoth(fired)

    def held(self, channel: str) -> bool:
        """Whether ``channel``'s events wait now."""
        return channel in self._holds

    def _release(self, channel: str, token: object) -> None:
        holds = self._holds.get(channel)
        if holds is None or holds.pop(token, None) is None or holds:
            return
        del self._holds[channel]
        for event, alone in self._parked.pop(channel, []):
            self.send(channel, event, alone)

    def release_all(self) -> None:
        """Every held channel's events go out now (this node is leaving the cluster)."""
        for channel, holds in list(self._holds.items()):
            for token, timeout in list(holds.items()):
                if timeout.active():
                    timeout.cancel()
                self._release(channel, token)

    def send(self, channel: str, event: ClusterEvent, alone: bool = False) -> None:
        """Publish ``event`` on ``channel`` at the end of this turn, with the turn's others
        (consecutive events for one channel share one envelope), in order; later if the
        channel is held. ``alone``: in an envelope of its own (an event nodes of an earlier
        release do not know, and drop with the envelope that holds it)."""
        if channel in self._holds:
            self._parked.setdefault(channel, []).append((event, alone))
            return
        queued = self._queued
        if (
            not alone
            and not self._sealed
            and queued
            and queued[-1][0] == channel
            and len(queued[-1][1]) < MAX_EVENTS
        ):
            queued[-1][1].append(event)
        else:
            queued.append((channel, [event]))
        self._sealed = alone
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Publish what is queued now."""
        self._flush_scheduled = False
        self._sealed = False
        queued, self._queued = self._queued, []
        for channel, events in queued:
            self.publish_now(channel, events)

    def clear(self) -> None:
        """Drop what is queued, and held (this node is no longer connected to the cluster)."""
        for holds in self._holds.values():
            for timeout in holds.values():
                if timeout.active():
                    timeout.cancel()
        self._holds.clear()
        parked, self._parked = self._parked, {}
        queued = [*self._queued, *((c, [e for e, _ in p]) for c, p in parked.items())]
        self._queued = []
        self._sealed = False
        if self.on_published is not None:
            for channel, events in queued:
                self.on_published(channel, None, len(events))

    def publish_now(self, channel: str, events: Sequence[ClusterEvent]) -> None:
        """Publish ``events`` on ``channel`` at once, in one envelope, before what is queued."""
        data = envelope.encode(self._origin, events)
        published = self._link.publish(channel, data)
        if self.on_published is not None:
            self.on_published(channel, data if published else None, len(events))
