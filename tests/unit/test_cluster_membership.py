"""Unit tests of :class:`~twisted_chat.cluster.membership.Membership` on an in-memory link:
registration and re-registration, claims and their versions, the heartbeat and the survey of
the other nodes, losing a nickname to another node, a node id already in use, and leaving."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import cluster_chat
from tests.support.fakes import Client, Clients, tcp_factory
from twisted_chat.cluster.events import Bye, Hello, PublicMessage, UserJoined, UserLeft
from twisted_chat.cluster.membership import STARTUP_GRACE
from twisted_chat.room import Claim
from twisted_chat.text import SPANISH

#: The heartbeat interval of :func:`cluster_chat`'s nodes (a third of their 3 s TTL).
BEAT = 1.0


class MembershipTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.fatal: list[str] = []
        self.parts, self.room, self.link = cluster_chat(self.clock, self.fatal)
        self.membership = self.room.membership
        self.instance = self.room.origin.instance
        self.clients = Clients()
        self.rereads: list[str] = []
        self.membership.rejoined.append(lambda: self.rereads.append("reread"))
        self.membership.start()
        self.link.answers["claim"] = 1

    def tearDown(self) -> None:
        if not self.link.stopped:
            self.membership.stop()

    def login(self, nickname: str) -> Client:
        client = self.clients.connect(tcp_factory(self.parts))
        client.send(f"{nickname}\n")
        client.received()
        return client

    def joined(self) -> None:
        """Connect and register; forget what that sent."""
        self.link.connect()
        self.link.ran.clear()
        self.link.published.clear()

    def claimed(self, nickname: str) -> Claim:
        return self.successResultOf(self.membership.claim(nickname))

    # -- registration -----------------------------------------------------------------------

    def test_registration_claims_the_local_users_and_says_hello(self) -> None:
        self.joined()
        self.login("ana")
        self.login("Bea")
        self.link.disconnect()
        self.assertFalse(self.membership.ready)
        self.link.ran.clear()
        self.link.connect()
        self.assertTrue(self.membership.ready)
        [(name, args), survey] = self.link.ran
        self.assertEqual(name, "register")
        self.assertEqual(args[:3], [self.instance, 3000, "n1"])
        self.assertEqual(args[4:], ["t:nick:", "ana", "ana", "bea", "Bea"])
        self.assertEqual(survey[0], "survey")
        [(channel, hello)] = self.link.published
        self.assertEqual(channel, "t:room")
        self.assertEqual(hello.events, [Hello(args[3])])

    def test_only_a_rejoin_rereads_what_others_changed(self) -> None:
        self.link.connect()
        self.assertEqual(self.rereads, [])
        self.link.disconnect()
        self.link.connect()
        self.assertEqual(self.rereads, ["reread"])

    def test_a_failed_registration_is_retried_while_the_link_is_up(self) -> None:
        del self.link.answers["register"]
        self.link.connect()
        name, pending = self.link.pending.pop()
        self.assertEqual(name, "register")
        pending.errback(ConnectionError("reply lost"))
        self.clock.advance(0.5)
        self.assertEqual(self.link.scripts(), ["register", "register"])

    def test_a_dead_run_of_this_node_id_is_waited_out(self) -> None:
        self.link.answers["register"] = [0, "n1/dead"]
        ttls = iter([3000, 1500])  # counting down: nobody heartbeats it
        self.link.replies["PTTL"] = lambda *_: next(ttls)
        self.link.replies["GET"] = "n1/dead"
        self.link.connect()
        self.clock.advance(1.5)  # the id check's wait
        self.link.answers["register"] = [1, []]
        self.clock.advance(1.5 + 0.05)
        self.assertEqual(self.fatal, [])
        self.assertTrue(self.membership.ready)

    def test_a_live_node_with_this_id_is_fatal(self) -> None:
        self.link.answers["register"] = [0, "n1/other"]
        self.link.replies["PTTL"] = 3000  # refreshed meanwhile: alive
        self.link.replies["GET"] = "n1/other"
        self.link.connect()
        self.clock.advance(1.5)
        self.assertEqual(len(self.fatal), 1)
        self.assertIn("node id 'n1' is in use", self.fatal[0])

    # -- claims -----------------------------------------------------------------------------

    def test_a_claim_waits_for_registration(self) -> None:
        claim = self.membership.claim("ana")
        self.assertNoResult(claim)
        self.link.connect()
        self.assertEqual(self.successResultOf(claim), Claim.OK)

    def test_a_claim_gives_up_when_redis_never_answers(self) -> None:
        claim = self.membership.claim("ana")
        self.clock.advance(STARTUP_GRACE)
        self.assertEqual(self.successResultOf(claim), Claim.UNAVAILABLE)
        self.assertEqual(self.claimed("bea"), Claim.UNAVAILABLE)  # an outage now: at once
        self.assertNotIn("claim", self.link.scripts())

    def test_a_claim_carries_the_membership_version_into_the_join(self) -> None:
        self.joined()
        self.assertEqual(self.claimed("Ana"), Claim.OK)
        [(name, args)] = self.link.ran
        self.assertEqual((name, args[:4]), ("claim", [self.instance, 3000, "ana", "Ana"]))
        self.assertEqual(self.membership.logged_in("ana"), args[4])
        self.assertIsNone(self.membership.logged_in("ana"))

    def test_the_join_of_a_login_is_published_with_its_version(self) -> None:
        self.joined()
        self.login("Ana")
        version = self.link.ran[0][1][4]
        self.clock.advance(0)
        self.assertEqual(self.link.events(), [UserJoined("ana", "Ana", version)])

    def test_a_nickname_held_anywhere_is_taken_without_asking_redis(self) -> None:
        self.joined()
        self.login("ana")
        self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"})
        self.link.ran.clear()
        self.assertEqual(self.claimed("ANA"), Claim.TAKEN)
        self.assertEqual(self.claimed("BOB"), Claim.TAKEN)
        self.assertEqual(self.link.ran, [])

    def test_a_claim_redis_refuses_or_loses(self) -> None:
        self.joined()
        self.link.answers["claim"] = 0
        self.assertEqual(self.claimed("ana"), Claim.TAKEN)
        del self.link.answers["claim"]
        claim = self.membership.claim("ana")
        self.link.pending.pop()[1].errback(ConnectionError("lost"))
        self.assertEqual(self.successResultOf(claim), Claim.UNAVAILABLE)

    def test_releases_number_the_membership_and_are_published(self) -> None:
        self.joined()
        ana = self.login("ana")
        ana.lose()
        self.clock.advance(0)
        claim_version = self.link.ran[0][1][4]
        name, args = self.link.ran[-1]
        self.assertEqual((name, args), ("release", [self.instance, "ana", claim_version + 1]))
        self.assertEqual(self.link.events()[-1], UserLeft("ana", claim_version + 1))

    def test_nothing_is_released_offline(self) -> None:
        self.assertIsNone(self.membership.release("ana"))
        self.assertEqual(self.link.ran, [])

    # -- heartbeat and survey ---------------------------------------------------------------

    def test_heartbeat_then_survey(self) -> None:
        self.joined()
        self.clock.advance(BEAT)
        self.assertEqual(self.link.scripts(), ["heartbeat", "survey"])
        self.assertEqual(self.link.ran[0][1], [self.instance, 3000, "t:nick:"])

    def test_no_heartbeat_offline(self) -> None:
        self.clock.advance(BEAT)
        self.assertEqual(self.link.scripts(), [])

    def test_a_registration_redis_lost_is_made_again(self) -> None:
        self.joined()
        self.link.answers["heartbeat"] = None
        self.clock.advance(BEAT)
        self.assertEqual(self.link.scripts(), ["heartbeat", "register", "survey"])
        self.assertTrue(self.membership.ready)

    def test_a_nickname_another_node_took_disconnects_its_local_user(self) -> None:
        self.joined()
        ana, bea = self.login("ana"), self.login("bea")
        self.clock.advance(0)
        self.clients.drain()
        self.link.published.clear()
        self.link.answers["heartbeat"] = ["ana"]
        self.clock.advance(BEAT)
        self.assertEqual(ana.received(), [f"! {SPANISH.nick_lost.format(nick='ana')}"])
        self.assertTrue(ana.closing)
        self.assertEqual(bea.received(), ["* ana ha salido del chat."])
        self.assertNotIn("ana", self.room)
        self.assertIsInstance(self.link.events()[0], UserLeft)
        ana.lose()
        self.assertEqual(bea.received(), [])  # left once

    def survey(self, *rows: list[str]) -> None:
        self.link.answers["survey"] = [list(row) for row in rows]
        self.clock.advance(BEAT)

    def test_the_survey_drops_dead_nodes(self) -> None:
        self.joined()
        bea = self.login("bea")
        self.room.presence.snapshot("n2", "n2/x", 4, {"bob": "Bob"})
        bea.received()
        self.survey(["n1", self.instance, "2"], ["n2", "", ""])
        self.assertEqual(bea.received(), ["* Bob ha salido del chat."])
        self.assertIsNone(self.room.presence.known("n2"))
        self.assertEqual(self.link.ran[-1], ("forget", ["n2", "t:nick:", ""]))

    def test_the_survey_reads_changed_and_new_nodes(self) -> None:
        self.joined()
        self.room.presence.snapshot("n2", "n2/x", 4, {})
        self.survey(["n2", "n2/x", "4"], ["n3", "n3/y", "1"], ["n4", "n4/z", "9"])
        self.assertEqual(self.link.commands, [("HGETALL", "t:users:n3"), ("HGETALL", "t:users:n4")])
        self.link.commands.clear()
        self.survey(["n2", "n2/x", "5"])
        self.assertEqual(self.link.commands, [("HGETALL", "t:users:n2")])

    def test_a_node_missing_from_redis_is_gone_unless_everyone_is_rejoining(self) -> None:
        self.joined()
        self.room.presence.snapshot("n2", "n2/x", 4, {"bob": "Bob"})
        self.link.disconnect()
        self.link.connect()  # a rejoin: Redis may have restarted empty
        self.survey()
        self.assertIsNotNone(self.room.presence.known("n2"))
        self.clock.advance(3)  # a TTL later
        self.survey()
        self.assertIsNone(self.room.presence.known("n2"))

    # -- leaving ----------------------------------------------------------------------------

    def test_stop_forgets_this_run_and_says_bye(self) -> None:
        self.joined()
        self.login("ana")
        version = self.link.ran[0][1][4]
        self.clock.advance(0)  # the join goes out
        self.link.published.clear()
        self.successResultOf(self.membership.stop())
        self.assertEqual(self.link.ran[-1], ("forget", ["n1", "t:nick:", self.instance]))
        self.assertEqual(self.link.events(), [Bye(version + 1)])
        self.assertTrue(self.link.stopped)
        self.assertEqual(self.claimed("bea"), Claim.UNAVAILABLE)
        self.clock.advance(BEAT)
        self.assertEqual(self.link.scripts()[-1], "forget")  # no heartbeat any more

    def test_what_the_last_turn_said_goes_out_before_the_bye(self) -> None:
        self.joined()
        ana = self.login("ana")
        # someone on another node, so that what is said here is published
        self.membership.changed(self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"}))
        self.clock.advance(0)
        self.link.published.clear()
        ana.send("adiós a todos\n")  # queued for the end of this turn, which stop() cuts short
        self.successResultOf(self.membership.stop())
        said, bye = self.link.events()
        self.assertIsInstance(said, PublicMessage)
        assert isinstance(said, PublicMessage)
        self.assertEqual((said.event.sender, said.event.text), ("ana", "adiós a todos"))
        self.assertIsInstance(bye, Bye)

    def test_stop_while_offline_only_disconnects(self) -> None:
        result: Any = self.membership.stop()
        self.successResultOf(result)
        self.assertEqual(self.link.ran, [])
        self.assertTrue(self.link.stopped)
