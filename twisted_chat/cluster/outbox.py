"""What this node publishes: its cluster events, gathered per reactor turn into envelopes.

Publishing is fire and forget, as in Synapse's replication: nobody waits for Redis's reply, and
pub/sub is not a queue, so what cannot be published (Redis unreachable) is dropped, never kept
for later. A turn's events for one channel go out as one envelope (a busy node sends one
envelope for many messages), in the order they were sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

from twisted.internet.interfaces import IReactorTime

from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import ClusterEvent

#: Most events in one envelope (a busier turn is split into several).
MAX_EVENTS: Final = 1000


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
        self._flush_scheduled = False
        #: Told of every envelope once published: its channel, its text (``None``: not
        #: published, Redis unreachable) and how many events it carries.
        self.on_published: Callable[[str, str | None, int], None] | None = None

    def send(self, channel: str, event: ClusterEvent) -> None:
        """Publish ``event`` on ``channel`` at the end of this turn, with the turn's others
        (consecutive events for one channel share one envelope)."""
        queued = self._queued
        if queued and queued[-1][0] == channel and len(queued[-1][1]) < MAX_EVENTS:
            queued[-1][1].append(event)
        else:
            queued.append((channel, [event]))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Publish what is queued now."""
        self._flush_scheduled = False
        queued, self._queued = self._queued, []
        for channel, events in queued:
            self.publish_now(channel, events)

    def clear(self) -> None:
        """Drop what is queued (this node is no longer connected to the cluster)."""
        queued, self._queued = self._queued, []
        if self.on_published is not None:
            for channel, events in queued:
                self.on_published(channel, None, len(events))

    def publish_now(self, channel: str, events: Sequence[ClusterEvent]) -> None:
        """Publish ``events`` on ``channel`` at once, in one envelope, before what is queued."""
        data = envelope.encode(self._origin, events)
        published = self._link.publish(channel, data)
        if self.on_published is not None:
            self.on_published(channel, data if published else None, len(events))
