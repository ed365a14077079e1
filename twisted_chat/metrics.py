"""``--metrics``: Prometheus metrics at ``/metrics`` and a health check at ``/health``.

The metrics are read at scrape time, on the reactor thread, from plain counters and attributes
the server already keeps (the factory's open sessions and disconnect causes, the room and its
rooms, the login store, the cluster link) and from a few integers the chat core increments once
per message, per broadcast or per room entered (never per recipient, and never through a
``prometheus_client`` call, whose lock would cost on the hot path): see :class:`ChatCollector`.
The two histograms are real ``prometheus_client`` histograms, observed once per login and once
per database batch.

The site is a small ``twisted.web`` resource that renders with ``generate_latest`` on the
reactor thread, as Synapse's ``synapse/metrics/_twisted_exposition.py`` does (not
``prometheus_client.twisted.MetricsResource``, which collects in a worker thread, racing the
reactor over the counters). The metric names are a contract (dashboards depend on them): they
are listed in ``docs/OPERATIONS.md``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from twisted.web import pages, resource, server
from twisted.web.server import Request

from twisted_chat.server import ChatServer
from twisted_chat.storage import LoginStore

#: Seconds the database may be unreachable before ``/health`` answers 503 (an outage shorter
#: than this is one the chat rides out by queueing logins; see the README, "What is stored").
DB_DOWN_UNHEALTHY_AFTER = 60.0

#: The disconnect causes always exported (0 until one happens), as counted in
#: :attr:`ChatServer.stats <twisted_chat.server.ChatServer.stats>`; any other cause found
#: there (a WebSocket's ``ping_timeout`` or ``too_big``) is exported too.
DISCONNECT_CAUSES = (
    "client",
    "sendq",
    "flood",
    "strikes",
    "login_timeout",
    "idle_timeout",
    "shutdown",
    "refused_server_full",
    "refused_per_ip",
    "kicked",
    "banned",
)

#: Buckets of ``chat_db_write_seconds`` (a batch of logins in one transaction).
DB_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Buckets of ``chat_login_seconds`` (argon2 password checks take tens of milliseconds).
LOGIN_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


#: The help texts of the gauges of the login store and of the cluster (no labels).
_GAUGE_HELP = {
    "chat_db_up": "1 while the database is reachable, 0 during an outage.",
    "chat_db_queue_length": "Login records waiting to be written to the database.",
    "chat_history_queue_length": "Public messages waiting to be written to history.",
    "chat_redis_up": "1 while this node is connected to Redis, 0 otherwise.",
    "chat_cluster_users": "Users logged in on the whole cluster, as this node knows them.",
}


class ClusterStatus(Protocol):
    """What the metrics read of a clustered room
    (:class:`~twisted_chat.cluster.room.ClusterRoom`)."""

    @property
    def redis_up(self) -> bool:
        """Whether this node is connected to Redis."""

    @property
    def cluster_users(self) -> int:
        """Users of the whole cluster that this node knows of."""

    @property
    def room_envelopes(self) -> dict[str, int]:
        """Public-message envelopes received from other nodes, by room key (rooms that
        exist)."""

    @property
    def order_given_up(self) -> int:
        """This node's users' messages shown here without their envelope back from Redis
        (possibly out of the room's order)."""


class HistoryStatus(Protocol):
    """What the metrics read of the history store
    (:class:`~twisted_chat.storage.history.HistoryStore`)."""

    @property
    def queued(self) -> int:
        """Messages waiting to be written."""

    #: Messages dropped from a full outage queue.
    dropped: int
    #: Transactions that wrote a batch.
    batches_written: int


class ChatCollector(Collector):
    """Every ``chat_*`` metric but the histograms, computed from the server's state at scrape
    time."""

    def __init__(
        self,
        factory: ChatServer,
        store: LoginStore | None = None,
        cluster: ClusterStatus | None = None,
        history: HistoryStatus | None = None,
    ) -> None:
        self.factory = factory
        self.store = store
        self.cluster = cluster
        self.history = history

    def collect(self) -> Iterator[Metric]:
        """The metrics as they are now."""
        factory = self.factory
        chat = factory.chat
        kinds: Counter[str] = Counter(session.transport.kind for session in factory.connections)
        connections = GaugeMetricFamily(
            "chat_connections", "Open client connections, by transport.", labels=["transport"]
        )
        for transport in ("tcp", "websocket", "irc"):
            connections.add_metric([transport], kinds[transport])
        yield connections
        room = chat.room
        yield GaugeMetricFamily("chat_users", "Users logged in on this node.", value=len(room))
        yield GaugeMetricFamily(
            "chat_rooms",
            "Rooms that exist now, as this node sees them (permanent ones included).",
            value=len(room.rooms),
        )
        yield CounterMetricFamily(
            "chat_room_joins",
            "Times a user entered a room on this node (logins included).",
            value=room.room_joins,
        )
        yield CounterMetricFamily("chat_logins", "Logins accepted.", value=chat.login_count)
        messages = CounterMetricFamily(
            "chat_messages", "Messages accepted from clients, by kind.", labels=["kind"]
        )
        messages.add_metric(["public"], chat.public_messages)
        messages.add_metric(["private"], chat.private_messages)
        yield messages
        yield CounterMetricFamily(
            "chat_deliveries",
            "Lines (messages and join/leave notices) handed to this node's recipients.",
            value=room.deliveries,
        )
        stats = factory.stats
        disconnects = CounterMetricFamily(
            "chat_disconnects",
            "Connections ended or refused, by cause (client: the client closed it).",
            labels=["cause"],
        )
        for cause in DISCONNECT_CAUSES:
            disconnects.add_metric([cause], stats.get(cause, 0))
        for cause in sorted(set(stats) - set(DISCONNECT_CAUSES)):
            disconnects.add_metric([cause], stats[cause])
        yield disconnects
        yield CounterMetricFamily(
            "chat_flood_dropped_lines",
            "Client lines dropped by flood control.",
            value=chat.flood_dropped,
        )
        store = self.store
        if store is not None:
            yield _gauge("chat_db_up", int(store.available))
            yield _gauge("chat_db_queue_length", store.queued)
        history = self.history
        if history is not None:
            yield _gauge("chat_history_queue_length", history.queued)
            yield CounterMetricFamily(
                "chat_history_dropped",
                "Public messages never stored: dropped from the full queue of a database "
                "outage (--db-queue).",
                value=history.dropped,
            )
            yield CounterMetricFamily(
                "chat_history_batches",
                "Transactions that wrote a batch of public messages to history.",
                value=history.batches_written,
            )
        cluster = self.cluster
        if cluster is not None:
            yield _gauge("chat_redis_up", int(cluster.redis_up))
            yield _gauge("chat_cluster_users", cluster.cluster_users)
            envelopes = CounterMetricFamily(
                "chat_cluster_room_envelopes_received",
                "Envelopes of public messages received from other nodes, by room (rooms that "
                "exist).",
                labels=["room"],
            )
            for room_key, count in sorted(cluster.room_envelopes.items()):
                envelopes.add_metric([room_key], count)
            yield envelopes
            yield CounterMetricFamily(
                "chat_cluster_order_given_up",
                "This node's users' public messages shown here without their envelope back "
                "from Redis within 1 s (possibly out of the room's order).",
                value=cluster.order_given_up,
            )


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    """The gauge ``name`` of :data:`_GAUGE_HELP`, without labels, at ``value``."""
    return GaugeMetricFamily(name, _GAUGE_HELP[name], value=value)


class ChatMetrics:
    """The registry of one server: its collector, the two histograms, and the process and
    platform collectors of ``prometheus_client`` (a registry of its own, not the global one)."""

    def __init__(
        self,
        factory: ChatServer,
        store: LoginStore | None = None,
        cluster: ClusterStatus | None = None,
        history: HistoryStatus | None = None,
    ) -> None:
        self.factory = factory
        self.store = store
        self.cluster = cluster
        self.registry = CollectorRegistry()
        self.collector = ChatCollector(factory, store, cluster, history)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.login_seconds = Histogram(
            "chat_login_seconds",
            "Seconds from a nickname line to its welcome (password checks included).",
            buckets=LOGIN_BUCKETS,
            registry=self.registry,
        )
        self.db_write_seconds = Histogram(
            "chat_db_write_seconds",
            "Seconds each batch of logins took to write to the database.",
            buckets=DB_WRITE_BUCKETS,
            registry=self.registry,
        )

    def install(self) -> None:
        """Start observing the histograms (the chat core and the store call them)."""
        self.factory.chat.on_login = self.login_seconds.observe
        if self.store is not None:
            self.store.on_batch_written = self.db_write_seconds.observe

    def render(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)

    def health(self) -> tuple[int, dict[str, object]]:
        """The health check: an HTTP status (200, or 503 while shutting down or after the
        database has been unreachable for :data:`DB_DOWN_UNHEALTHY_AFTER` seconds) and its
        JSON body."""
        factory = self.factory
        chat = factory.chat
        store = self.store
        db_up = store is None or store.available
        redis = "off" if self.cluster is None else ("up" if self.cluster.redis_up else "down")
        status = "ok"
        if factory.shutting_down:
            status = "shutting_down"
        elif store is not None and not db_up:
            since = store.outage_since
            if since is not None and chat.clock.seconds() - since > DB_DOWN_UNHEALTHY_AFTER:
                status = "db_down"
        body: dict[str, object] = {
            "status": status,
            "db": "up" if db_up else "down",
            "redis": redis,
            "users": len(chat.room),
        }
        return (200 if status == "ok" else 503), body


class _MetricsPage(resource.Resource):
    """A page of the metrics site, rendered from one :class:`ChatMetrics`."""

    isLeaf = True

    def __init__(self, metrics: ChatMetrics) -> None:
        super().__init__()
        self.metrics = metrics


class MetricsResource(_MetricsPage):
    """``/metrics``: rendered on the reactor thread, as Synapse's exposition resource does."""

    def render_GET(self, request: Request) -> bytes:
        """The metrics, in the text format."""
        body = self.metrics.render()
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-cache")
        return body


class HealthResource(_MetricsPage):
    """``/health``: 200 and a small JSON body, or 503 (see :meth:`ChatMetrics.health`)."""

    def render_GET(self, request: Request) -> bytes:
        """The status and the JSON body."""
        code, body = self.metrics.health()
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-cache")
        return json.dumps(body).encode("utf-8") + b"\n"


#: Seconds an HTTP connection to the metrics site may stay silent before it is closed.
HTTP_TIMEOUT = 30


class _Root(resource.Resource):
    """The site's root: its two children, and 404 for anything else."""

    def getChild(self, path: bytes, request: Request) -> resource.IResource:
        """Not found (``twisted.web``'s default page for it is deprecated)."""
        return pages.notFound()


def make_metrics_site(metrics: ChatMetrics) -> server.Site:
    """The site of ``--metrics``: ``/metrics`` and ``/health``, nothing else."""
    root = _Root()
    root.putChild(b"metrics", MetricsResource(metrics))
    root.putChild(b"health", HealthResource(metrics))
    site = server.Site(root, timeout=HTTP_TIMEOUT)
    site.noisy = False
    site.displayTracebacks = False
    return site
