"""Unit tests of the cluster layer's pure parts: ``--redis`` and the other cluster options, the
key names, and the versioned replicas of other nodes' users (the events and the envelope
between nodes are tested in tests/unit/test_cluster_events.py).

What needs Redis (claims, outages, dead nodes) is tested end to end on a real ``redis-server``
in tests/e2e/test_cluster.py and tests/e2e/test_cluster_failures.py.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.support.options import parse
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import UserLeft
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.outbox import HOLD_TIMEOUT, Outbox
from twisted_chat.cluster.presence import Presence
from twisted_chat.cluster.url import BadRedisURL, RedisURL, parse_redis_url


class RedisURLTests(SynchronousTestCase):
    """``--redis redis://[:PASSWORD@]HOST[:PORT][/DB]``."""

    def test_host_only(self) -> None:
        self.assertEqual(parse_redis_url("redis://cache", {}), RedisURL("cache", 6379, 0))

    def test_everything(self) -> None:
        url = parse_redis_url("redis://:s%40cret@10.0.0.5:6380/3", {})
        self.assertEqual(
            (url.host, url.port, url.db, url.password), ("10.0.0.5", 6380, 3, "s@cret")
        )
        self.assertIsNone(url.username)

    def test_acl_user(self) -> None:
        url = parse_redis_url("redis://chat:pw@h", {})
        self.assertEqual((url.username, url.password), ("chat", "pw"))

    def test_password_from_the_environment(self) -> None:
        url = parse_redis_url("redis://h", {"CHAT_REDIS_PASSWORD": "envpw"})
        self.assertEqual(url.password, "envpw")

    def test_url_password_wins(self) -> None:
        url = parse_redis_url("redis://:mine@h", {"CHAT_REDIS_PASSWORD": "envpw"})
        self.assertEqual(url.password, "mine")

    def test_ipv6(self) -> None:
        self.assertEqual(parse_redis_url("redis://[::1]:7000", {}).host, "::1")

    def test_password_never_described(self) -> None:
        url = parse_redis_url("redis://:topsecret@h:1/2", {})
        self.assertNotIn("topsecret", url.describe())
        self.assertNotIn("topsecret", repr(url))

    def test_bad_urls(self) -> None:
        for value in (
            "http://h",
            "h:6379",
            "redis://",
            "redis://h:notaport",
            "redis://h:99999",
            "redis://h/x",
            "redis://h/0?x=1",
            "redis://h/99999999",
        ):
            with self.subTest(value=value), self.assertRaises(BadRedisURL):
                parse_redis_url(value, {})


class ClusterOptionsTests(SynchronousTestCase):
    """The cluster options of ``twistd chat``."""

    def test_off_by_default(self) -> None:
        self.assertIsNone(parse().settings.cluster)

    def test_defaults(self) -> None:
        config = parse("--redis", "redis://127.0.0.1").settings.cluster
        assert config is not None
        self.assertEqual((config.ttl, config.prefix), (10.0, "chat:"))
        self.assertTrue(config.node_id)

    def test_values(self) -> None:
        config = parse(
            "--redis",
            "redis://127.0.0.1:7000/2",
            "--node-id",
            "web-1.eu",
            "--cluster-ttl",
            "3",
            "--redis-prefix",
            "prod:",
        ).settings.cluster
        assert config is not None
        self.assertEqual(
            (config.url.port, config.url.db, config.node_id, config.ttl, config.prefix),
            (7000, 2, "web-1.eu", 3.0, "prod:"),
        )

    def test_bad_values_are_usage_errors(self) -> None:
        for args in (
            ("--redis", "http://x"),
            ("--redis", "redis://h:port"),
            ("--redis", "redis://h", "--node-id", "has space"),
            ("--redis", "redis://h", "--node-id", ""),
            ("--redis", "redis://h", "--node-id", "x" * 65),
            ("--redis", "redis://h", "--cluster-ttl", "0.5"),
            ("--redis", "redis://h", "--cluster-ttl", "soon"),
            ("--redis", "redis://h", "--redis-prefix", ""),
            ("--redis", "redis://h", "--redis-prefix", "a b"),
            ("--node-id", "n1"),
        ):
            with self.subTest(args=args), self.assertRaises(UsageError):
                parse(*args)


class KeysTests(SynchronousTestCase):
    """Every key and channel starts with the prefix."""

    def test_prefix(self) -> None:
        keys = Keys("p:")
        names = [keys.nodes, keys.room, keys.alive("n"), keys.users("n"), keys.nick("ana")]
        names.append(keys.to("n"))
        self.assertTrue(all(name.startswith("p:") for name in names))
        self.assertEqual(len(set(names)), len(names))
        self.assertTrue(keys.nick("ana").startswith(keys.nick_prefix))


class PresenceTests(SynchronousTestCase):
    """Replicas apply only newer events and snapshots, and report who joined and left."""

    def setUp(self) -> None:
        self.presence = Presence()
        self.presence.snapshot("n2", "n2/a", 2, {"ana": "Ana"})

    def test_snapshot_of_a_new_node_is_a_join_of_its_users(self) -> None:
        changes = self.presence.snapshot("n3", "n3/a", 7, {"bob": "Bob", "eve": "Eve"})
        self.assertEqual(sorted(changes.joined), ["Bob", "Eve"])
        self.assertEqual(self.presence.count(), 3)

    def test_events_in_order(self) -> None:
        changes = self.presence.joined("n2", "n2/a", "bob", "Bob", 3)
        self.assertEqual((changes.joined, changes.stale), (["Bob"], None))
        changes = self.presence.left("n2", "n2/a", "ana", 4)
        self.assertEqual((changes.left, changes.stale), (["Ana"], None))
        self.assertEqual(self.presence.users(), {"bob": "Bob"})

    def test_old_event_ignored(self) -> None:
        changes = self.presence.left("n2", "n2/a", "ana", 2)
        self.assertEqual((changes.left, changes.stale), ([], None))
        self.assertIsNotNone(self.presence.find("ana"))

    def test_gap_asks_for_a_snapshot(self) -> None:
        changes = self.presence.joined("n2", "n2/a", "bob", "Bob", 5)
        self.assertEqual(changes.stale, "n2")
        self.assertEqual(changes.joined, ["Bob"])

    def test_unknown_node_or_run_asks_for_a_snapshot(self) -> None:
        self.assertEqual(self.presence.joined("n9", "n9/a", "x", "X", 1).stale, "n9")
        self.assertEqual(self.presence.left("n2", "n2/other-run", "ana", 9).stale, "n2")
        self.assertIsNotNone(self.presence.find("ana"))

    def test_older_snapshot_ignored(self) -> None:
        self.presence.joined("n2", "n2/a", "bob", "Bob", 3)
        changes = self.presence.snapshot("n2", "n2/a", 2, {"ana": "Ana"})
        self.assertEqual((changes.joined, changes.left), ([], []))
        self.assertIsNotNone(self.presence.find("bob"))

    def test_newer_snapshot_reports_the_difference(self) -> None:
        changes = self.presence.snapshot("n2", "n2/a", 9, {"bob": "Bob"})
        self.assertEqual((changes.joined, changes.left), (["Bob"], ["Ana"]))

    def test_restarted_node_replaces_its_previous_run(self) -> None:
        changes = self.presence.snapshot("n2", "n2/b", 1, {"ana": "Ana"})
        self.assertEqual((changes.joined, changes.left), ([], []))
        self.assertEqual(self.presence.known("n2").instance, "n2/b")  # type: ignore[union-attr]

    def test_forget(self) -> None:
        self.assertEqual(self.presence.forget("n2").left, ["Ana"])
        self.assertIsNone(self.presence.find("ana"))
        self.assertEqual(self.presence.forget("n2").left, [])

    def test_find_gives_the_node_and_spelling(self) -> None:
        found = self.presence.find("ana")
        assert found is not None
        self.assertEqual((found[0].node, found[1]), ("n2", "Ana"))


class OutboxHoldTests(SynchronousTestCase):
    """A held channel's events wait, in order, until what they wait for happens."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.sent: list[tuple[str, list[str]]] = []
        self.outbox = Outbox(self, self.clock, Origin("n1", "n1/x"))

    def publish(self, channel: str, message: str) -> bool:
        events = envelope.decode(message).events
        self.sent.append((channel, [e.nick_key for e in events]))  # type: ignore[attr-defined]
        return True

    def test_held_events_go_out_in_order_once_released(self) -> None:
        self.outbox.send("room", UserLeft("a", 1))
        confirmed: defer.Deferred[None] = defer.Deferred()
        self.outbox.hold("room", confirmed)
        self.outbox.send("room", UserLeft("b", 2))
        self.outbox.send("to:n2", UserLeft("c", 3))  # another channel: not held
        self.clock.advance(0)
        self.assertEqual(self.sent, [("room", ["a"]), ("to:n2", ["c"])])
        self.outbox.send("room", UserLeft("d", 4))
        confirmed.callback(None)
        self.clock.advance(0)
        self.assertEqual(self.sent[2:], [("room", ["b", "d"])])
        self.assertFalse(self.outbox.held("room"))

    def test_a_hold_ends_after_its_timeout_or_when_leaving(self) -> None:
        self.outbox.hold("room", defer.Deferred())
        self.outbox.send("room", UserLeft("a", 1))
        self.clock.advance(HOLD_TIMEOUT)
        self.clock.advance(0)
        self.assertEqual(self.sent, [("room", ["a"])])
        never: defer.Deferred[None] = defer.Deferred()
        self.outbox.hold("room", never)
        self.outbox.send("room", UserLeft("b", 2))
        self.outbox.release_all()
        self.outbox.flush()
        self.assertEqual(self.sent[1:], [("room", ["b"])])
        # Cleared (Redis lost): dropped; a late answer of the old hold changes nothing.
        self.outbox.hold("room", never)
        self.outbox.send("room", UserLeft("c", 3))
        self.outbox.clear()
        never.callback(None)
        self.clock.advance(HOLD_TIMEOUT)
        self.assertEqual(self.sent[2:], [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
