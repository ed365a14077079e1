"""Unit tests of ``--metrics`` (twisted_chat.metrics): the collector against a real chat core and
factory on ``StringTransport`` clients, the histograms, ``/health`` with a ``Clock``, and the
two resources rendered as ``twisted.web`` renders them."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.support.expected import PROMPT
from tests.support.fakes import EPOCH, Clients, tcp_factory
from tests.support.scrape import Samples, parse, value
from twisted_chat import metrics
from twisted_chat.assembly import assemble
from twisted_chat.events import Text
from twisted_chat.limits import Limits
from twisted_chat.metrics import ChatMetrics, make_metrics_site
from twisted_chat.server import ChatServer
from twisted_chat.tcp import ChatTCPFactory
from twisted_chat.text import SPANISH


class FakeStore:
    """What the metrics read of a :class:`~twisted_chat.storage.LoginStore`."""

    def __init__(self) -> None:
        self.available = True
        self.outage_since: float | None = None
        self.queued = 0
        self.on_batch_written: Any = None


class FakeCluster:
    """What the metrics read of a clustered room."""

    def __init__(self) -> None:
        self.redis_up = True
        self.cluster_users = 0
        self.room_envelopes: dict[str, int] = {}
        self.order_given_up = 0


class MetricsTestCase(SynchronousTestCase):
    """Base: a chat on a ``Clock``, its factory, the metrics of both, and test clients."""

    limits = Limits(flood_rate=0, max_strikes=0)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.parts = assemble(SPANISH, self.clock, limits=self.limits)
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)
        self.store = FakeStore()
        self.metrics = ChatMetrics(self.server, self.store)  # type: ignore[arg-type]
        self.metrics.install()
        self.clients = Clients()

    def scrape(self) -> Samples:
        return parse(self.metrics.render().decode("utf-8"))

    def login(self, nickname: str) -> Any:
        client = self.clients.connect(self.factory)
        client.send(nickname + "\r\n")
        self.clients.drain()
        return client


class CollectorTests(MetricsTestCase):
    """The ``chat_*`` counters and gauges follow what the server does."""

    def test_every_metric_is_there_from_the_start(self) -> None:
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_connections", transport="tcp"), 0)
        self.assertEqual(value(samples, "chat_connections", transport="websocket"), 0)
        self.assertEqual(value(samples, "chat_connections", transport="irc"), 0)
        for name in (
            "chat_users",
            "chat_logins_total",
            "chat_room_joins_total",
            "chat_deliveries_total",
            "chat_flood_dropped_lines_total",
            "chat_db_queue_length",
            "chat_login_seconds_count",
            "chat_db_write_seconds_count",
        ):
            self.assertEqual(value(samples, name), 0, name)
        self.assertEqual(value(samples, "chat_db_up"), 1)
        self.assertEqual(value(samples, "chat_rooms"), 1)  # the default room, always there
        for kind in ("public", "private"):
            self.assertEqual(value(samples, "chat_messages_total", kind=kind), 0)
        for cause in metrics.DISCONNECT_CAUSES:
            self.assertEqual(value(samples, "chat_disconnects_total", cause=cause), 0, cause)
        self.assertIn(("process_open_fds", ()), samples)
        self.assertNotIn(("chat_redis_up", ()), samples)

    def test_logins_messages_and_deliveries(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.clients.drain()
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_users"), 3)
        self.assertEqual(value(samples, "chat_logins_total"), 3)
        self.assertEqual(value(samples, "chat_login_seconds_count"), 3)
        self.assertEqual(value(samples, "chat_connections", transport="tcp"), 3)
        before = value(samples, "chat_deliveries_total")
        ana.send("hola\r\n")
        self.assertEqual(bob.received(), ["<ana> hola"])
        bob.send("#carol psst\r\n")
        self.assertEqual(carol.received(), ["<ana> hola", "*bob* psst"])
        bob.send("#nadie hola\r\n")  # refused: not counted
        bob.send("/listar\r\n")  # a command: not a message
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_messages_total", kind="public"), 1)
        self.assertEqual(value(samples, "chat_messages_total", kind="private"), 1)
        self.assertEqual(value(samples, "chat_deliveries_total"), before + 3)

    def test_rooms_and_room_joins(self) -> None:
        """A login enters the default room; a room created by ``/unirse`` is counted while it
        has members, and each move is a join."""
        ana, bob = self.login("ana"), self.login("bob")
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_rooms"), 1)
        self.assertEqual(value(samples, "chat_room_joins_total"), 2)
        ana.send("/unirse juegos\r\n")
        self.assertEqual(ana.received()[0], "* Sala juegos (1): @ana")
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_rooms"), 2)
        self.assertEqual(value(samples, "chat_room_joins_total"), 3)
        bob.send("/unirse JUEGOS\r\n")  # an existing room, any case
        ana.send("/unirse general\r\n")
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_rooms"), 2)
        self.assertEqual(value(samples, "chat_room_joins_total"), 5)
        bob.send("/unirse general\r\n")  # juegos is empty now: it is gone
        bob.send("/unirse general\r\n")  # already there: not a join
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_rooms"), 1)
        self.assertEqual(value(samples, "chat_room_joins_total"), 6)

    def test_gathered_join_notices_are_deliveries(self) -> None:
        chat = assemble(SPANISH, self.clock, limits=self.limits, gather_notices=True)
        factory = tcp_factory(chat)
        collected = ChatMetrics(chat.server)
        for nick in ("ana", "bob", "carol"):
            self.clients.connect(factory).send(nick + "\r\n")
        self.clock.advance(1)  # the notices go out after a pause
        samples = parse(collected.render().decode("utf-8"))
        # ana hears of bob and carol (one write), bob of carol.
        self.assertEqual(value(samples, "chat_deliveries_total"), 2)

    def test_connections_by_transport(self) -> None:
        self.login("ana")
        browser = self.clients.connect(self.factory, "203.0.113.5", frames=self.parts.frames)
        self.assertEqual(browser.received(), [PROMPT])  # admitted and started
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_connections", transport="tcp"), 1)
        self.assertEqual(value(samples, "chat_connections", transport="websocket"), 1)
        browser.lose()
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_connections", transport="websocket"), 0)

    def test_disconnects_by_cause(self) -> None:
        ana = self.login("ana")
        ana.lose()
        bob = self.login("bob")
        bob.protocol.session.disconnect("kicked", Text("no_reason"))
        bob.lose()
        self.server.stats["ping_timeout"] += 1  # a cause of the WebSocket's
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_disconnects_total", cause="client"), 1)
        self.assertEqual(value(samples, "chat_disconnects_total", cause="kicked"), 1)
        self.assertEqual(value(samples, "chat_disconnects_total", cause="ping_timeout"), 1)
        self.assertEqual(value(samples, "chat_users"), 0)

    def test_refused_connections(self) -> None:
        server = ChatServer(self.chat, Limits(flood_rate=0, max_clients=1, max_per_ip=0))
        factory = ChatTCPFactory(server, self.parts.lines)
        collected = ChatMetrics(server)
        self.clients.connect(factory)
        self.clients.connect(factory)
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_disconnects_total", cause="refused_server_full"), 1)
        self.assertEqual(value(samples, "chat_connections", transport="tcp"), 1)

    def test_flood_dropped_lines(self) -> None:
        server = ChatServer(self.chat, Limits(flood_rate=1, flood_burst=1, flood_kick=1))
        factory = ChatTCPFactory(server, self.parts.lines)
        collected = ChatMetrics(server)
        client = self.clients.connect(factory)
        client.send("ana\r\n")
        client.send("uno\r\ndos\r\ntres\r\n")  # one token: two lines dropped
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_flood_dropped_lines_total"), 2)
        for _ in range(2):  # still over budget a second later
            self.clock.advance(0.6)
            client.send("cuatro\r\ncinco\r\nseis\r\n")
        self.assertTrue(client.closing)
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_disconnects_total", cause="flood"), 0)  # closing
        client.lose()
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_disconnects_total", cause="flood"), 1)

    def test_database_gauges_and_write_histogram(self) -> None:
        self.store.available = False
        self.store.queued = 7
        self.store.on_batch_written(0.02)
        samples = self.scrape()
        self.assertEqual(value(samples, "chat_db_up"), 0)
        self.assertEqual(value(samples, "chat_db_queue_length"), 7)
        self.assertEqual(value(samples, "chat_db_write_seconds_count"), 1)
        self.assertEqual(value(samples, "chat_db_write_seconds_bucket", le="0.025"), 1)
        self.assertEqual(value(samples, "chat_db_write_seconds_bucket", le="0.01"), 0)

    def test_cluster_gauges(self) -> None:
        cluster = FakeCluster()
        cluster.cluster_users = 5
        cluster.room_envelopes = {"general": 7, "juegos": 2}
        cluster.order_given_up = 3
        collected = ChatMetrics(self.server, None, cluster)
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_redis_up"), 1)
        self.assertEqual(value(samples, "chat_cluster_users"), 5)
        envelopes = "chat_cluster_room_envelopes_received_total"
        self.assertEqual(value(samples, envelopes, room="general"), 7)
        self.assertEqual(value(samples, envelopes, room="juegos"), 2)
        self.assertEqual(value(samples, "chat_cluster_order_given_up_total"), 3)
        self.assertNotIn(("chat_db_up", ()), samples)
        cluster.redis_up = False
        samples = parse(collected.render().decode("utf-8"))
        self.assertEqual(value(samples, "chat_redis_up"), 0)
        self.assertEqual(collected.health()[1]["redis"], "down")


class HealthTests(MetricsTestCase):
    """``/health``: 200 while serving, 503 while shutting down or after a long outage."""

    def test_healthy(self) -> None:
        self.login("ana")
        self.assertEqual(
            self.metrics.health(),
            (200, {"status": "ok", "db": "up", "redis": "off", "users": 1}),
        )

    def test_a_short_outage_is_healthy_a_long_one_is_not(self) -> None:
        self.store.available = False
        self.store.outage_since = self.clock.seconds()
        self.clock.advance(metrics.DB_DOWN_UNHEALTHY_AFTER)
        code, body = self.metrics.health()
        self.assertEqual((code, body["status"], body["db"]), (200, "ok", "down"))
        self.clock.advance(1)
        code, body = self.metrics.health()
        self.assertEqual((code, body["status"], body["db"]), (503, "db_down", "down"))

    def test_shutting_down(self) -> None:
        self.server.shutting_down = True
        code, body = self.metrics.health()
        self.assertEqual((code, body["status"]), (503, "shutting_down"))


class ResourceTests(MetricsTestCase):
    """The site: ``/metrics`` in the text format, ``/health`` as JSON, nothing else."""

    def get(self, path: bytes) -> tuple[DummyRequest, bytes]:
        site = make_metrics_site(self.metrics)
        request = DummyRequest([path])
        child = site.resource.getChildWithDefault(path, request)
        body = child.render(request)
        return request, body

    def test_metrics(self) -> None:
        request, body = self.get(b"metrics")
        content_type = request.responseHeaders.getRawHeaders(b"content-type")
        self.assertEqual(content_type, [CONTENT_TYPE_LATEST.encode("ascii")])
        self.assertEqual(value(parse(body.decode("utf-8")), "chat_users"), 0)

    def test_health(self) -> None:
        request, body = self.get(b"health")
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        self.server.shutting_down = True
        request, body = self.get(b"health")
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(json.loads(body)["status"], "shutting_down")

    def test_nothing_else(self) -> None:
        request, _ = self.get(b"ws")
        self.assertEqual(request.responseCode, 404)
