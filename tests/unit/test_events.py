"""Unit tests of the event model: message ids, the event source, texts localised at render time,
and protocol v1's renderer."""

from __future__ import annotations

import re

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.events import (
    DEFAULT_ROOM,
    ByLang,
    Error,
    EventSource,
    Joined,
    Left,
    Notice,
    Private,
    Public,
    Text,
)
from twisted_chat.ids import FIRST_NUMBER, MessageIds, base32, run_prefix
from twisted_chat.text import ENGLISH, SPANISH, Language, localise
from twisted_chat.wire import LineRenderer

#: What an id looks like: the base-32 prefix, then ``0x`` and the counter.
ID = re.compile(r"[0-9a-v]{9,}0x[0-9a-f]+")


class MessageIdTests(SynchronousTestCase):
    """Ids unique for all time: a per-run prefix (start time and random bits) and a counter."""

    def test_base32(self) -> None:
        self.assertEqual(
            [base32(n) for n in (0, 1, 31, 32, 1023, 1024)], ["0", "1", "v", "10", "vv", "100"]
        )

    def test_prefix_is_the_start_time_then_forty_random_bits(self) -> None:
        prefix = run_prefix(now=1795509000.0, random_bytes=b"\x00\x00\x00\x00\x01")
        self.assertEqual(prefix, base32(1795509000000) + "00000001")
        self.assertEqual(len(run_prefix(now=1795509000.0, random_bytes=b"\xff" * 5)), 9 + 8)

    def test_ids_of_one_run_are_unique_and_ordered(self) -> None:
        ids = MessageIds("p")
        made = [ids.next() for _ in range(5000)]
        self.assertEqual(len(set(made)), 5000)
        self.assertEqual(made[:3], ["p0x1000000000000", "p0x1000000000001", "p0x1000000000002"])
        # As strings too: the database orders a room's messages of one millisecond by id.
        self.assertEqual(sorted(made), made)

    def test_two_runs_never_share_a_prefix(self) -> None:
        prefixes = {MessageIds().prefix for _ in range(200)}
        self.assertEqual(len(prefixes), 200)
        for prefix in prefixes:
            self.assertRegex(prefix + "0x1", ID)


class EventSourceTests(SynchronousTestCase):
    """Every event gets a new id and the clock's time in milliseconds."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1795509000.1234)
        self.source = EventSource(self.clock, MessageIds("run"))

    def test_each_builder_stamps_id_and_time(self) -> None:
        events = [
            self.source.public(DEFAULT_ROOM, "ana", "hola"),
            self.source.private("ana", "bob", "psst"),
            self.source.joined(DEFAULT_ROOM, "ana"),
            self.source.left(DEFAULT_ROOM, "ana"),
            self.source.notice("prompt"),
            self.source.error("nick_taken", nick="ana"),
            self.source.notice_of(Text("pong")),
            self.source.error_of(Text("bad_utf8")),
        ]
        self.assertEqual([e.id for e in events], [f"run{hex(FIRST_NUMBER + n)}" for n in range(8)])
        self.assertEqual({e.time for e in events}, {1795509000123})
        self.clock.advance(2)
        self.assertEqual(self.source.public(DEFAULT_ROOM, "a", "b").time, 1795509002123)
        self.assertEqual(self.source.now_ms(), 1795509002123)

    def test_rooms(self) -> None:
        self.assertEqual(self.source.public("juegos", "ana", "x").room, "juegos")
        self.assertIsNone(self.source.private("ana", "bob", "x").room)
        self.assertIsNone(self.source.notice("prompt").room)
        self.assertEqual(self.source.notice_of(Text("pong"), "juegos").room, "juegos")

    def test_notices_carry_a_catalogue_key_not_text(self) -> None:
        event = self.source.error("nick_taken", nick="ana")
        self.assertEqual(event.text, Text("nick_taken", nick="ana"))
        self.assertNotEqual(event.text, Text("nick_taken", nick="bob"))
        self.assertEqual(repr(event.text), "Text('nick_taken', nick='ana')")


class LocaliseTests(SynchronousTestCase):
    """Texts are said in the language of the moment, their arguments too."""

    def test_plain_and_with_arguments(self) -> None:
        self.assertEqual(localise(SPANISH, Text("pong")), "pong")
        self.assertEqual(
            localise(ENGLISH, Text("welcome", nick="ana")), ENGLISH.welcome.format(nick="ana")
        )

    def test_nested_texts_and_texts_in_every_language(self) -> None:
        text = Text("banned_now", by="ana", until=Text("permanent"), reason=Text("no_reason"))
        self.assertEqual(localise(SPANISH, text), "ana te ha baneado (permanente): sin motivo")
        self.assertEqual(localise(ENGLISH, text), "ana banned you (permanent): no reason given")
        line = Text(
            "help_line",
            words="/x",
            usage=ByLang({"es": " A", "en": " B"}),
            help=ByLang({"es": "ea", "en": "eb"}),
        )
        self.assertEqual(localise(SPANISH, line), "/x A: ea")
        self.assertEqual(localise(ENGLISH, line), "/x B: eb")

    def test_language_follows_a_change(self) -> None:
        language = Language(SPANISH)
        self.assertEqual((language.lang, language.say(Text("bans_none"))), ("es", "No hay baneos."))
        language.use(ENGLISH)
        self.assertEqual((language.lang, language.say(Text("bans_none"))), ("en", "No bans."))


class LineRendererTests(SynchronousTestCase):
    """Protocol v1's five line forms, from events."""

    def setUp(self) -> None:
        self.language = Language(SPANISH)
        self.renderer = LineRenderer(self.language)
        self.source = EventSource(Clock())

    def test_every_form(self) -> None:
        private = self.source.private("ana", "bob", "psst")
        render = self.renderer.render
        self.assertEqual(
            render(self.source.public(DEFAULT_ROOM, "ana", "hola ñ")), "<ana> hola ñ\r\n".encode()
        )
        self.assertEqual(render(private), b"*ana* psst\r\n")
        self.assertEqual(self.renderer.render_echo(private), b"-> *bob* psst\r\n")
        self.assertEqual(
            render(self.source.joined(DEFAULT_ROOM, "ana")),
            b"* ana se ha unido al chat.\r\n",
        )
        self.assertEqual(
            render(self.source.left(DEFAULT_ROOM, "ana")), b"* ana ha salido del chat.\r\n"
        )
        self.assertEqual(render(self.source.notice("pong")), b"* pong\r\n")
        self.assertEqual(
            render(self.source.error("private_self")), f"! {SPANISH.private_self}\r\n".encode()
        )
        self.assertEqual(
            render(self.source.error("nick_taken", nick="ana")),
            f"! {SPANISH.nick_taken.format(nick='ana')}\r\n".encode(),
        )

    def test_every_event_type_has_a_form(self) -> None:
        for kind in (Public, Private, Joined, Left, Notice, Error):
            self.assertIn(kind, self.renderer._forms)

    def test_notices_are_said_in_the_language_of_the_moment(self) -> None:
        prompt = self.source.notice("prompt")
        self.assertEqual(self.renderer.render(prompt), f"* {SPANISH.prompt}\r\n".encode())
        self.language.use(ENGLISH)
        self.assertEqual(self.renderer.render(prompt), f"* {ENGLISH.prompt}\r\n".encode())
        self.assertEqual(
            self.renderer.render(self.source.left(DEFAULT_ROOM, "ana")), b"* ana left the chat.\r\n"
        )
        self.assertEqual(self.renderer.text(Text("bans_none")), "No bans.")
