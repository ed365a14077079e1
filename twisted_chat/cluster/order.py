"""One order per room for the whole cluster: this node's users' public messages, in a room with
members on other nodes, reach this node's members when they come back from Redis.

Redis runs one ``PUBLISH`` at a time and writes each message of a channel to every subscriber
in that order, so every node subscribed to a room's channel (``room:ROOM``) receives the room's
envelopes in one order, its own among them. A node that delivered its own users' messages at
once, and the others' on receipt, would show two messages said at the same moment on two nodes
in two orders. So, while a room has members elsewhere, :class:`RoomOrder` holds each message of
this node's users (:meth:`RoomOrder.hold`) until its envelope comes back on the room's channel
(:meth:`RoomOrder.echoed`, told by its first bytes, never decoded), and only then delivers it
here: every node shows the room's messages in Redis's order. The cost is one round trip to
Redis before this node's own members see a message, and nothing per recipient.

Nothing is lost to the wait: what could not be published (Redis unreachable) is delivered at
once, what is waiting when the link drops is delivered then (:meth:`RoomOrder.release_all`),
and an envelope that does not come back within :data:`ECHO_TIMEOUT` (a channel subscribed a
moment too late) is delivered then, with everything before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from twisted_chat.events import Public
from twisted_chat.room import Member

#: Seconds an own envelope may take to come back from Redis before its messages are delivered
#: without it.
ECHO_TIMEOUT: Final = 1.0

#: A message held until its envelope comes back: the event, who said it (not sent to them) and
#: the holder's mark at that moment (the room's count of joins: see ``ClusterRoom``).
Held = tuple[Public, Member, int]


class _Sent:
    """One published envelope of a room's channel and the messages it carries."""

    __slots__ = ("data", "held", "sent_at")

    def __init__(self, data: str, held: list[Held], sent_at: float) -> None:
        self.data = data
        self.held = held
        self.sent_at = sent_at


class RoomOrder:
    """This node's messages waiting for their envelope to come back on their room's channel."""

    log = Logger()

    def __init__(
        self,
        deliver: Callable[[list[Held]], None],
        clock: IReactorTime,
        timeout: float = ECHO_TIMEOUT,
    ) -> None:
        #: Delivers held messages to this node's members (in order).
        self._deliver = deliver
        self._clock = clock
        self._timeout = timeout
        # Per channel: messages handed to the outbox, not yet published, in order.
        self._queued: dict[str, deque[Held]] = {}
        # Per channel: envelopes published and not yet back, in order.
        self._sent: dict[str, deque[_Sent]] = {}
        self._timer: IDelayedCall | None = None
        #: Messages delivered without their envelope back (given up after the timeout).
        self.given_up = 0

    def __bool__(self) -> bool:
        return bool(self._queued) or bool(self._sent)

    def hold(self, channel: str, event: Public, sender: Member, mark: int = 0) -> None:
        """``event`` (said by ``sender``; ``mark``: handed back with it) is published on
        ``channel`` this turn: deliver it here when it comes back."""
        queued = self._queued.get(channel)
        if queued is None:
            queued = self._queued[channel] = deque()
        queued.append((event, sender, mark))

    def published(self, channel: str, data: str | None, count: int) -> None:
        """The outbox published (``data``) or dropped (``None``) the next ``count`` events of
        ``channel``; dropped ones are delivered at once."""
        queued = self._queued.get(channel)
        if queued is None:
            return
        held = [queued.popleft() for _ in range(min(count, len(queued)))]
        if not queued:
            del self._queued[channel]
        if data is None:
            self._deliver(held)
            return
        sent = self._sent.get(channel)
        if sent is None:
            sent = self._sent[channel] = deque()
        sent.append(_Sent(data, held, self._clock.seconds()))
        if self._timer is None:
            self._timer = self._clock.callLater(self._timeout, self._expire)

    def echoed(self, channel: str, data: str) -> None:
        """This node's envelope ``data`` came back on ``channel``: deliver its messages (and
        any sent before it whose envelope never came back)."""
        sent = self._sent.get(channel)
        if not sent:
            return
        if sent[0].data != data and all(s.data != data for s in sent):
            return  # one given up on already
        held: list[Held] = []
        while sent:
            first = sent.popleft()
            held += first.held
            if first.data == data:
                break
        if not sent:
            del self._sent[channel]
        self._deliver(held)

    def oldest_mark(self) -> int | None:
        """The mark of the oldest message held (``None``: none is)."""
        marks = [q[0][2] for q in self._queued.values()]
        marks += [s[0].held[0][2] for s in self._sent.values() if s[0].held]
        return min(marks, default=None)

    def release_all(self) -> None:
        """Deliver everything waiting (the link to Redis is down: nothing will come back)."""
        queued, self._queued = self._queued, {}
        sent, self._sent = self._sent, {}
        for envelopes in sent.values():
            self._deliver([h for s in envelopes for h in s.held])
        for held in queued.values():
            self._deliver(list(held))

    def _expire(self) -> None:
        """Deliver what waited longer than the timeout; look again later if more waits."""
        self._timer = None
        oldest = self._clock.seconds() - self._timeout
        for channel in list(self._sent):
            sent = self._sent[channel]
            held: list[Held] = []
            while sent and sent[0].sent_at <= oldest:
                held += sent.popleft().held
            if not sent:
                del self._sent[channel]
            if held:
                self.given_up += len(held)
                self.log.info(
                    "cluster: {count} message(s) of {channel} shown here without their envelope "
                    "back from Redis within {timeout}s ({total} so far)",
                    count=len(held),
                    channel=channel,
                    timeout=self._timeout,
                    total=self.given_up,
                )
                self._deliver(held)
        if self._sent:
            self._timer = self._clock.callLater(self._timeout / 2, self._expire)
