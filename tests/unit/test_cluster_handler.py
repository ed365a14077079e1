"""Unit tests of :class:`~twisted_chat.cluster.handler.ClusterHandler`: what each event from
another node does to this node's users, replicas, accounts and bans, and how envelopes that
cannot be applied are dropped. A clustered room on an in-memory link, TCP clients on recording
transports, a ``Clock`` for time."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import cluster_chat
from tests.support.fakes import Client, Clients, tcp_factory
from tests.support.logs import record_logs
from twisted_chat.accounts import Accounts
from twisted_chat.bans import Bans
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Envelope, Origin
from twisted_chat.cluster.events import (
    EVENTS,
    AccountChanged,
    Announcement,
    BanAdded,
    BanLifted,
    Bye,
    ClusterEvent,
    Hello,
    Kick,
    Mute,
    PrivateMessage,
    PublicMessage,
    UserJoined,
    UserLeft,
)
from twisted_chat.events import Notice, Private, Public, Text
from twisted_chat.text import ENGLISH

N2 = Origin("n2", "n2/x")


def public(number: int, text: str) -> PublicMessage:
    return PublicMessage(Public(f"m{number}", number, "general", "Bob", text))


class HandlerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.accounts = Accounts(None, self.clock, defer.maybeDeferred)
        self.bans = Bans(None, self.clock)
        self.parts, self.room, self.link = cluster_chat(
            self.clock, texts=ENGLISH, accounts=self.accounts, bans=self.bans
        )
        self.gathered = 0
        self.room.attach(self.accounts, self.bans, self.gather)
        self.handler = self.room.handler
        self.room.membership.start()
        self.link.answers["claim"] = 1
        self.link.connect()
        self.room.presence.snapshot("n2", "n2/x", 1, {})
        self.clients = Clients()
        self.ana = self.login("ana")
        self.link.commands.clear()

    def tearDown(self) -> None:
        self.room.membership.stop()

    def gather(self) -> None:
        self.gathered += 1

    def login(self, nickname: str) -> Client:
        client = self.clients.connect(tcp_factory(self.parts))
        client.send(f"{nickname}\n")
        client.received()
        return client

    def apply(self, *events: ClusterEvent, origin: Origin = N2) -> None:
        self.handler.handle(Envelope(origin, list(events)))

    def test_every_event_has_its_method(self) -> None:
        handled = {*self.handler.handlers, PublicMessage}
        self.assertEqual(handled, set(EVENTS.values()))
        for method in self.handler.handlers.values():
            self.assertTrue(method.__name__.startswith("on_"))

    # -- chat events ------------------------------------------------------------------------

    def test_public_messages_to_every_local_user(self) -> None:
        bea = self.login("bea")
        self.ana.received()
        self.apply(public(1, "hola"))
        self.assertEqual(self.ana.received(), ["<Bob> hola"])
        self.assertEqual(bea.received(), ["<Bob> hola"])

    def test_a_run_of_public_messages_is_one_write_each(self) -> None:
        self.ana.transport.writes.clear()
        self.apply(public(1, "uno"), public(2, "dos"), UserJoined("eve", "Eve", 2), public(3, "x"))
        self.assertEqual(
            self.ana.received(),
            ["<Bob> uno", "<Bob> dos", "* Eve joined the chat.", "<Bob> x"],
        )
        self.assertEqual(len(self.ana.transport.writes), 3)  # run, join, run

    def test_output_is_gathered_for_an_envelope_of_several_events(self) -> None:
        self.apply(public(1, "uno"))
        self.assertEqual(self.gathered, 0)
        self.apply(public(2, "dos"), public(3, "tres"))
        self.assertEqual(self.gathered, 1)

    def test_private_message_to_a_local_user(self) -> None:
        self.apply(PrivateMessage(Private("m1", 1, None, "Bob", "ANA", "psst")))
        self.assertEqual(self.ana.received(), ["*Bob* psst"])

    def test_private_message_to_someone_gone_is_dropped(self) -> None:
        logs = record_logs(self)
        self.apply(PrivateMessage(Private("m1", 1, None, "Bob", "carol", "psst")))
        self.assertEqual(self.ana.received(), [])
        self.assertEqual(logs.tracebacks(), [])

    def test_announcement_in_this_nodes_language(self) -> None:
        text = Text("announcement", by="ana", text="hola")
        self.apply(Announcement(Notice("m1", 1, None, text)))
        self.assertEqual(self.ana.received(), ["* Announcement from ana: hola"])

    # -- who is where -----------------------------------------------------------------------

    def test_join_and_leave(self) -> None:
        self.apply(UserJoined("bob", "Bob", 2))
        self.assertEqual(self.ana.received(), ["* Bob joined the chat."])
        self.assertEqual(self.room.nicknames(), ["ana", "Bob"])
        self.apply(UserLeft("bob", 3))
        self.assertEqual(self.ana.received(), ["* Bob left the chat."])
        self.assertIsNone(self.room.find("bob"))
        self.assertEqual(self.link.commands, [])

    def test_an_event_of_an_unknown_run_reads_its_node(self) -> None:
        self.apply(UserJoined("bob", "Bob", 2), origin=Origin("n2", "n2/restarted"))
        self.assertEqual(self.link.commands, [("HGETALL", "t:users:n2")])
        self.assertEqual(self.ana.received(), [])

    def test_hello_reads_the_node(self) -> None:
        self.link.replies["HGETALL"] = {"#i": "n3/y", "#v": "4", "carol": "Carol"}
        self.apply(Hello(4), origin=Origin("n3", "n3/y"))
        self.assertEqual(self.link.commands, [("HGETALL", "t:users:n3")])
        self.assertEqual(self.ana.received(), ["* Carol joined the chat."])

    def test_bye_of_this_run_only(self) -> None:
        self.apply(UserJoined("bob", "Bob", 2))
        self.ana.received()
        self.apply(Bye(3), origin=Origin("n2", "n2/older-run"))
        self.assertIsNotNone(self.room.find("bob"))
        self.apply(Bye(3))
        self.assertEqual(self.ana.received(), ["* Bob left the chat."])
        self.assertIsNone(self.room.presence.known("n2"))

    # -- accounts and moderation ------------------------------------------------------------

    def test_account(self) -> None:
        self.assertFalse(self.accounts.is_registered("carol"))
        self.apply(AccountChanged("carol", "$argon2id$x"))
        self.assertTrue(self.accounts.is_registered("Carol"))

    def test_kick(self) -> None:
        self.apply(Kick("nobody", "spam", "op"))
        self.apply(Kick("ana", "spam", "op"))
        self.assertEqual(self.ana.received(), ["! op kicked you: spam"])
        self.assertTrue(self.ana.closing)

    def test_mute_and_unmute(self) -> None:
        now = self.clock.seconds()
        self.apply(Mute.of("ana", now + 60))
        self.assertEqual(self.room.muted_until("ana", now), now + 60)
        self.apply(Mute("ana", 0))
        self.assertIsNone(self.room.muted_until("ana", now))

    def test_ban_and_unban(self) -> None:
        self.apply(BanAdded("nick", "ana", "spam", "op", int(self.clock.seconds()), 0))
        self.assertEqual(self.ana.received(), ["! op banned you (permanent): spam"])
        self.assertTrue(self.ana.closing)
        self.assertIsNotNone(self.bans.nick_ban("ANA"))
        self.apply(BanLifted("nick", "ana"))
        self.assertIsNone(self.bans.nick_ban("ana"))

    # -- what is not applied ----------------------------------------------------------------

    def receive(self, data: str) -> None:
        self.link.on_message("t:room", data)

    def test_own_envelopes_are_dropped_before_decoding(self) -> None:
        logs = record_logs(self)
        own = envelope.encode(self.room.origin, [public(1, "eco")])
        self.receive(own)
        self.receive(own[:-3] + "oops")  # not even decoded
        self.assertEqual(self.ana.received(), [])
        self.assertEqual(logs.at(LogLevel.warn), [])

    def test_unknown_versions_are_logged_once_each(self) -> None:
        logs = record_logs(self)
        for version in (1, 3, 1, 3, 1):
            message: dict[str, Any] = {"v": version, "node": "n2", "inst": "n2/x", "events": []}
            self.receive(json.dumps(message))
        warnings = [e["version"] for e in logs.at(LogLevel.warn)]
        self.assertEqual(warnings, [1, 3])
        self.receive(envelope.encode(N2, [public(1, "hola")]))
        self.assertEqual(self.ana.received(), ["<Bob> hola"])

    def test_a_failing_event_is_logged_and_the_node_goes_on(self) -> None:
        logs = record_logs(self)
        del self.handler.handlers[Kick]
        self.receive(envelope.encode(N2, [Kick("ana", "", "op")]))
        self.assertEqual(len(logs.tracebacks()), 1)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.receive(envelope.encode(N2, [public(1, "hola")]))
        self.assertEqual(self.ana.received(), ["<Bob> hola"])
