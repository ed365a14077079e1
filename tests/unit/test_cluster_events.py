"""Unit tests of what crosses Redis: every cluster event's JSON form both ways, the malformed
forms each refuses, and the version-2 envelope around them."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.bans import Ban
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin, UnknownVersion
from twisted_chat.cluster.events import (
    EVENTS,
    AccountChanged,
    Announcement,
    BanAdded,
    BanLifted,
    Bye,
    ClusterEvent,
    EventError,
    Forgotten,
    Hello,
    Kick,
    Mute,
    PrivateMessage,
    PublicMessage,
    RecadoFor,
    RoomKick,
    RoomModes,
    RoomMoved,
    RoomsSet,
    TopicSet,
    UserInfoSet,
    UserJoined,
    UserLeft,
    UserNotice,
    UserRenamed,
    decode,
)
from twisted_chat.events import Notice, Private, Public, Renamed, Replayed, Text
from twisted_chat.userinfo import UserInfo

#: One event of every kind, with values at their edges (empty strings, zero, non-ASCII).
SAMPLES: list[ClusterEvent] = [
    PublicMessage(Public("p1-a", 1795509000000, "general", "Ana", "hola <b>ñ</b> 🎉")),
    PrivateMessage(Private("p1-b", 1795509000001, None, "Bob", "Ñandú", "psst")),
    Announcement(Notice("p1-c", 1795509000002, None, Text("announcement", by="ana", text=""))),
    UserNotice("Ñandú", Notice("p1-d", 1795509000003, None, Text("recado_read", nick="Bob"))),
    UserNotice("ana", Notice("p1-e", 1795509000004, None, Text("mute_done", nick="b", minutes=5))),
    RecadoFor("Ñandú", Replayed("p1-f", 1795509000005, None, "Ana", "vuelve ☕", True)),
    Forgotten("ñandú"),
    UserJoined("ñandú", "Ñandú", 3),
    UserLeft("bob", 4),
    RoomMoved("ñandú", "Juegos", True, 5),
    RoomMoved("bob", "general", False, 6),
    RoomsSet("ñandú", ("", "Juegos", "ajedrez"), "ajedrez", 7),
    RoomsSet("bob", (), "", 8, quiet=True),
    RoomsSet("bob", ("Juegos",), "", 9, by="Ñandú", reason="fuera ☕"),
    RoomsSet("bob", ("",), "", 10, reason=""),
    UserInfoSet("ñandú", UserInfo("Ñandú Real ☕", "comiendo", "ñandú", True, True, True), 11),
    UserInfoSet("bob", UserInfo(), 12),
    RoomKick("bob", "juegos", "", "Ñandú"),
    UserRenamed("ñandú", "ñu", Renamed("m7", 0, None, "Ñandú", "Ñu"), 7),
    TopicSet("juegos", "ajedrez ♞", "Ñandú"),
    RoomModes("juegos", True, False, ("bob", "ñandú"), "Ana", "+sv-m bob"),
    Hello(1),
    Bye(5),
    AccountChanged("ana", "$argon2id$v=19$..."),
    Kick("bob", "", "ana"),
    Mute("bob", 1795509000000),
    Mute("bob", 0),
    BanAdded("nick", "bob", "", "ana", 1795509000, 0),
    BanAdded("net", "10.0.0.0/8", "bots", "ana", 1795509000, 1795509600),
    BanAdded("net", "2001:db8::/32", "bots", "ana", 1795509000, 0),
    BanLifted("net", "10.0.0.0/8"),
]


def over_json(wire: list[Any]) -> Any:
    """``wire`` as another node reads it."""
    return json.loads(json.dumps(wire, ensure_ascii=False))


class EventTests(SynchronousTestCase):
    """Each event's JSON form, both ways."""

    def test_every_event_has_a_sample_and_a_distinct_name(self) -> None:
        self.assertEqual({type(e) for e in SAMPLES}, set(EVENTS.values()))
        self.assertEqual(sorted(EVENTS), sorted(cls.NAME for cls in EVENTS.values()))

    def test_round_trip(self) -> None:
        for event in SAMPLES:
            with self.subTest(event=event):
                wire = event.to_wire()
                self.assertEqual(wire[0], event.NAME)
                decoded = decode(over_json(wire))
                self.assertIs(type(decoded), type(event))
                self.assertEqual(decoded.to_wire(), wire)

    def test_plain_events_compare_equal_after_the_trip(self) -> None:
        for event in SAMPLES:
            chat_event = (
                PublicMessage,
                PrivateMessage,
                Announcement,
                UserNotice,
                RecadoFor,
                UserRenamed,
            )
            if not isinstance(event, chat_event):
                self.assertEqual(decode(over_json(event.to_wire())), event)

    def test_a_public_message_crosses_as_itself(self) -> None:
        decoded = decode(over_json(SAMPLES[0].to_wire()))
        assert isinstance(decoded, PublicMessage)
        event = decoded.event
        self.assertIsInstance(event, Public)
        self.assertEqual(
            (event.id, event.time, event.room, event.sender, event.text),
            ("p1-a", 1795509000000, "general", "Ana", "hola <b>ñ</b> 🎉"),
        )

    def test_a_private_message_crosses_as_itself_with_its_recipient(self) -> None:
        decoded = decode(over_json(SAMPLES[1].to_wire()))
        assert isinstance(decoded, PrivateMessage)
        event = decoded.event
        self.assertIsInstance(event, Private)
        self.assertEqual(
            (event.id, event.time, event.room, event.sender, event.recipient, event.text),
            ("p1-b", 1795509000001, None, "Bob", "Ñandú", "psst"),
        )

    def test_an_announcement_crosses_as_its_catalogue_key(self) -> None:
        decoded = decode(over_json(SAMPLES[2].to_wire()))
        assert isinstance(decoded, Announcement)
        self.assertIsInstance(decoded.event, Notice)
        self.assertEqual(decoded.event.text, Text("announcement", by="ana", text=""))
        self.assertEqual(decoded.event.id, "p1-c")

    def test_an_announcement_carries_only_text_arguments(self) -> None:
        notice = Notice("x", 1, None, Text("announcement", by="ana", text=Text("no_reason")))
        self.assertEqual(Announcement(notice).to_wire()[-1], {"by": "ana"})

    def test_rooms_options_are_optional_and_unknown_ones_ignored(self) -> None:
        # A later release may add options: this one reads the event all the same.
        raw = ["rooms", "bob", ["", "juegos", "juegos"], "juegos", 4, {"color": "red"}]
        self.assertEqual(decode(raw), RoomsSet("bob", ("", "juegos"), "juegos", 4))
        self.assertEqual(RoomsSet("bob", (), "", 1).to_wire(), ["rooms", "bob", [], "", 1, {}])

    def test_user_info_unknown_names_ignored_texts_bounded(self) -> None:
        # A later release may add names; a wrong type counts as absent; texts are cut.
        raw = ["uinfo", "bob", {"a": "x" * 5000, "r": 7, "o": "yes", "i": True, "z": 1}, 3]
        self.assertEqual(
            decode(raw), UserInfoSet("bob", UserInfo(away="x" * 300, invisible=True), 3)
        )
        self.assertEqual(UserInfoSet("bob", UserInfo(), 1).to_wire(), ["uinfo", "bob", {}, 1])
        with self.assertRaises(EventError):
            decode(["uinfo", "bob", [], 1])

    def test_an_unknown_event_is_an_error(self) -> None:
        # What a node of an earlier release makes of a later one's event: it drops it (the
        # handler counts the envelope as malformed) rather than failing.
        with self.assertRaises(EventError):
            decode(["someday", "bob", {}, 1])

    def test_mute_in_milliseconds_rounded_up(self) -> None:
        self.assertEqual(Mute.of("bob", 1795509000.0001), Mute("bob", 1795509000001))
        self.assertEqual(Mute.of("bob", 0), Mute("bob", 0))
        self.assertEqual(Mute("bob", 1500).until, 1.5)

    def test_ban_both_ways(self) -> None:
        for ban in (
            Ban("nick", "bob", "spam", "ana", 1795509000.5, None),
            Ban("net", "10.0.0.0/8", "", "ana", 1795509000.0, 1795509600.2),
        ):
            with self.subTest(ban=ban):
                event = BanAdded.of(ban)
                self.assertEqual(event.created, 1795509000)
                back = event.ban()
                self.assertEqual((back.kind, back.target, back.reason), (*ban.key, ban.reason))
                self.assertEqual(back.created_by, "ana")
        self.assertIsNone(BanAdded.of(Ban("nick", "b", "", "a", 1.0)).ban().expires_at)
        self.assertEqual(BanAdded.of(Ban("nick", "b", "", "a", 1.0, 9.2)).ban().expires_at, 10.0)

    def test_malformed(self) -> None:
        bad: list[object] = [
            None,
            "pub",
            [],
            [1, "a"],
            [["pub"], "a"],
            ["nope"],
            ["pub", "id", 1, "general", "Ana"],
            ["pub", "id", 1, "general", "Ana", "hola", "extra"],
            ["pub", "id", "1", "general", "Ana", "hola"],
            ["pub", "id", True, "general", "Ana", "hola"],
            ["pub", "id", 1.0, "general", "Ana", "hola"],
            ["pub", "id", 1, None, "Ana", "hola"],
            ["pub", "id", 1, "general", None, "hola"],
            ["pub", 5, 1, "general", "Ana", "hola"],
            ["priv", "id", 1, None, "Bob", "psst"],
            ["priv", "id", 1, 7, "Bob", "psst", "ana"],
            ["priv", "id", 1, None, "Bob", "psst", None],
            ["notice", "id", 1, None, "announcement"],
            ["notice", "id", 1, None, "announcement", []],
            ["notice", "id", 1, None, "announcement", {"by": 5}],
            ["notice", "id", 1, None, 5, {}],
            ["tell", "ana", "id", 1, "recado_read", {"nick": None}],
            ["tell", "ana", "id", 1, "recado_read", {"nick": True}],
            ["tell", None, "id", 1, "recado_read", {}],
            ["tell", "ana", "id", 1, "recado_read"],
            ["recado", "id", 1, "Ana", "bob"],
            ["recado", "id", "1", "Ana", "bob", "hola"],
            ["recado", "id", 1, "Ana", None, "hola"],
            ["forget"],
            ["modes", "juegos", True, False, ["bob"], "Ana"],
            ["modes", "juegos", 1, False, ["bob"], "Ana", "+s"],
            ["modes", "juegos", True, False, "bob", "Ana", "+s"],
            ["modes", "juegos", True, False, [5], "Ana", "+s"],
            ["modes", None, True, False, [], "Ana", "+s"],
            ["forget", 5],
            ["join", "a", "A", "3"],
            ["join", "a", "A", True],
            ["join", "a", "A"],
            ["leave", "a"],
            ["leave", None, 1],
            ["room", "a", "juegos", 1, 2],
            ["room", "a", "juegos", True],
            ["room", "a", None, False, 2],
            ["room", "a", "juegos", False, "2"],
            ["rooms", "a", ["juegos"], "", 2],
            ["rooms", "a", "juegos", "", 2, {}],
            ["rooms", "a", ["juegos", 5], "", 2, {}],
            ["rooms", "a", ["juegos"], None, 2, {}],
            ["rooms", "a", ["juegos"], "", "2", {}],
            ["rooms", "a", ["juegos"], "", 2, []],
            ["rooms", "a", ["juegos"], "", 2, {"quiet": 1}],
            ["rooms", "a", ["juegos"], "", 2, {"by": 5}],
            ["rooms", "a", ["juegos"], "", 2, {"reason": False}],
            ["roomkick", "bob", "juegos", ""],
            ["roomkick", "bob", None, "", "ana"],
            ["topic", "juegos", "t"],
            ["topic", "juegos", None, "ana"],
            ["hello"],
            ["bye", 1, 2],
            ["bye", 1.5],
            ["account", "ana"],
            ["account", "ana", None],
            ["kick", "bob", "spam"],
            ["kick", "bob", "spam", 5],
            ["mute", "bob", 1.5],
            ["mute", "bob", None],
            ["ban", "nick", "bob", "", "ana", 1, None],
            ["ban", "nick", "bob", "", "ana", 1],
            ["ban", "user", "bob", "", "ana", 1, 0],
            ["ban", "net", "10.0.0.1/8", "", "ana", 1, 0],
            ["ban", "net", "not a network", "", "ana", 1, 0],
            ["ban", "net", 10, "", "ana", 1, 0],
            ["unban", "user", "bob"],
            ["unban", "nick"],
            ["line", "a", "b"],
            ["private", "m", 1, "Bob", "ana", "psst"],
        ]
        for raw in bad:
            with self.subTest(raw=raw), self.assertRaises(EventError):
                decode(raw)


class EnvelopeTests(SynchronousTestCase):
    """The versioned JSON envelope between nodes."""

    origin = Origin("n1", "n1/abc")

    def test_round_trip(self) -> None:
        decoded = envelope.decode(envelope.encode(self.origin, SAMPLES))
        self.assertEqual(decoded.origin, self.origin)
        self.assertEqual([e.to_wire() for e in decoded.events], [e.to_wire() for e in SAMPLES])

    def test_version_2(self) -> None:
        self.assertEqual(envelope.VERSION, 2)
        self.assertEqual(json.loads(envelope.encode(self.origin, []))["v"], 2)

    def test_bytes_accepted(self) -> None:
        data = envelope.encode(self.origin, SAMPLES[:1]).encode()
        self.assertEqual(envelope.decode(data).events[0].to_wire(), SAMPLES[0].to_wire())

    def test_own_prefix(self) -> None:
        prefix = envelope.own_prefix(self.origin)
        self.assertTrue(envelope.encode(self.origin, SAMPLES).startswith(prefix))
        self.assertTrue(envelope.encode(self.origin, []).startswith(prefix))
        for other in (Origin("n1", "n1/abd"), Origin("n2", "n1/abc"), Origin("n", "n1/abc")):
            self.assertFalse(envelope.encode(other, SAMPLES).startswith(prefix))

    def test_other_versions(self) -> None:
        for version in (1, 3, 0, -1):
            message = {"v": version, "node": "n", "inst": "i", "events": [["whatever"]]}
            with self.subTest(version=version), self.assertRaises(UnknownVersion) as caught:
                envelope.decode(json.dumps(message))
            self.assertEqual(caught.exception.version, version)
            self.assertIsInstance(caught.exception, envelope.EnvelopeError)

    def test_malformed(self) -> None:
        good = {"v": 2, "node": "n", "inst": "i", "events": []}
        bad: list[object] = [
            "not json",
            b"\xff\xfe",
            "[]",
            "null",
            "2",
            {"node": "n", "inst": "i", "events": []},
            {**good, "v": "2"},
            {**good, "v": True},
            {**good, "v": 2.5},
            {**good, "v": None},
            {**good, "node": 5},
            {**good, "inst": None},
            {**good, "events": {}},
            {**good, "events": [[]]},
            {**good, "events": [["nope"]]},
            {**good, "events": [["pub", "a"]]},
            {**good, "events": ["pub"]},
            {**good, "events": [["join", "a", "A", 1], ["pub", "id", 1, "general", "A"]]},
        ]
        for message in bad:
            data = message if isinstance(message, (str, bytes)) else json.dumps(message)
            with self.subTest(data=data), self.assertRaises(envelope.EnvelopeError) as caught:
                envelope.decode(data)
            self.assertNotIsInstance(caught.exception, UnknownVersion)
