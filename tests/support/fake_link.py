"""A Redis link for unit tests of the cluster layer: no sockets, every script and command
answered from a table (or left pending), every publish recorded and decoded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer

from twisted_chat.assembly import Chat, RoomPlan, assemble
from twisted_chat.cluster import envelope
from twisted_chat.cluster.events import ClusterEvent
from twisted_chat.cluster.room import ClusterConfig, ClusterRoom
from twisted_chat.cluster.scripts import Script
from twisted_chat.cluster.url import RedisURL
from twisted_chat.events import EventSource
from twisted_chat.limits import Limits
from twisted_chat.notices import NoticeGathering
from twisted_chat.text import SPANISH, Catalogue


class FakeLink:
    """Stands in for :class:`~twisted_chat.cluster.link.RedisLink`: records what the node
    sends; scripts answer from :attr:`answers` (by script name) or stay pending in
    :attr:`pending`; commands answer from :attr:`replies` (by command name, else ``{}``; a
    callable there is called with the command)."""

    def __init__(self, url: RedisURL, channels: Sequence[str], clock: Any, **hooks: Any) -> None:
        self.channels = list(channels)
        self.on_message: Callable[[str, str], None] = hooks["on_message"]
        self.on_up: Callable[[], None] = hooks["on_up"]
        self.on_down: Callable[[], None] = hooks["on_down"]
        self.up = False
        self.started = False
        self.stopped = False
        self.published: list[tuple[str, envelope.Envelope]] = []
        self.ran: list[tuple[str, list[Any]]] = []
        self.commands: list[tuple[Any, ...]] = []
        self.pending: list[tuple[str, defer.Deferred[Any]]] = []
        self.answers: dict[str, Any] = {
            "register": [1, []],
            "release": 1,
            "survey": [],
            "heartbeat": [],
            "forget": 1,
        }
        self.replies: dict[str, Any] = {}
        #: Whether subscriptions wait for the test to confirm them (see :meth:`subscribe`).
        self.confirm_later = False
        self.confirming: dict[str, defer.Deferred[None]] = {}

    def start(self) -> None:
        """Nothing to connect."""
        self.started = True

    def stop(self) -> defer.Deferred[None]:
        self.stopped = True
        return defer.succeed(None)

    def subscribe(self, channel: str) -> defer.Deferred[None]:
        """Subscribed, and confirmed at once; or, with :attr:`confirm_later`, when the test
        fires its Deferred in :attr:`confirming`."""
        if channel in self.channels:
            return defer.succeed(None)
        self.channels.append(channel)
        if not self.confirm_later:
            return defer.succeed(None)
        confirmed: defer.Deferred[None] = defer.Deferred()
        self.confirming[channel] = confirmed
        return confirmed

    def unsubscribe(self, channel: str) -> None:
        if channel in self.channels:
            self.channels.remove(channel)

    def connect(self) -> None:
        self.up = True
        self.on_up()

    def disconnect(self) -> None:
        self.up = False
        self.on_down()

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> defer.Deferred[Any]:
        self.ran.append((script.name, list(args)))
        if not self.up:
            return defer.fail(ConnectionError("down"))
        if script.name in self.answers:
            return defer.succeed(self.answers[script.name])
        d: defer.Deferred[Any] = defer.Deferred()
        self.pending.append((script.name, d))
        return d

    def command(self, *args: Any) -> defer.Deferred[Any]:
        self.commands.append(args)
        reply = self.replies.get(args[0], {})
        return defer.succeed(reply(*args) if callable(reply) else reply)

    def publish(self, channel: str, message: str) -> bool:
        if not self.up:
            return False
        self.published.append((channel, envelope.decode(message)))
        return True

    def events(self) -> list[ClusterEvent]:
        """Every event published so far, in order."""
        return [event for _, message in self.published for event in message.events]

    def scripts(self) -> list[str]:
        """The names of the scripts run so far, in order."""
        return [name for name, _ in self.ran]


def cluster_chat(
    clock: Any,
    fatal: list[str] | None = None,
    node: str = "n1",
    texts: Catalogue = SPANISH,
    **options: Any,
) -> tuple[Chat, ClusterRoom, FakeLink]:
    """A chat speaking ``texts`` assembled on a :class:`ClusterRoom` of node ``node`` (TTL 3 s,
    prefix ``t:``) over a :class:`FakeLink` (not connected yet, not started); ``fatal`` collects
    what the node finds fatal; ``options`` go to :func:`~twisted_chat.assembly.assemble`."""
    links: list[FakeLink] = []

    def link_factory(*args: Any, **kwargs: Any) -> FakeLink:
        links.append(FakeLink(*args, **kwargs))
        return links[-1]

    def room(events: EventSource, gathering: NoticeGathering | None, plan: RoomPlan) -> ClusterRoom:
        return ClusterRoom(
            events,
            gathering,
            plan,
            ClusterConfig(RedisURL("127.0.0.1"), node, ttl=3, prefix="t:"),
            clock,
            (fatal if fatal is not None else []).append,
            link_factory=link_factory,  # type: ignore[arg-type]
        )

    options.setdefault("limits", Limits(flood_rate=0, max_per_ip=0))
    parts = assemble(texts, clock, room=room, **options)
    assert isinstance(parts.room, ClusterRoom)
    return parts, parts.room, links[0]


#: The scripts a started node's tests answer at once with 1 (done), unless told others.
DONE_SCRIPTS = ("claim", "room_move", "room_release", "room_refresh")


def start_beside_n2(
    room: ClusterRoom,
    link: FakeLink,
    *,
    done: Sequence[str] = DONE_SCRIPTS,
    answers: dict[str, Any] | None = None,
    n2_users_hash: bool = True,
) -> None:
    """Start ``room``'s membership and connect ``link``, its scripts in ``done`` answered with
    1, ``restore`` with nothing, and ``answers`` (by script name) as given; the survey finds
    this node and node n2 (``n2/x``), unchanged, so nobody is dropped or re-read, and n2 is
    known with nobody yet; with ``n2_users_hash``, so is its users hash in Redis (read when a
    room claim names a user of n2 that this node has not heard of)."""
    room.membership.start()
    link.connect()
    for script in done:
        link.answers[script] = 1
    link.answers["restore"] = []
    link.answers.update(answers or {})
    link.answers["survey"] = [["n1", room.origin.instance, "1"], ["n2", "n2/x", "1"]]
    room.membership.changed(room.presence.snapshot("n2", "n2/x", 1, {}))
    if n2_users_hash:
        link.replies["HGETALL"] = {"#i": "n2/x", "#v": "1"}
