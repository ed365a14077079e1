"""IRCv3 client-only tags and ``TAGMSG`` without sockets: which tags a client's message keeps
(:func:`~twisted_chat.irc.message.client_tags`), the parser's limit on a client's tag data, the
IRC forms of a :class:`~twisted_chat.events.Tagged` event and of a message with client tags
per capability set, and a ``TAGMSG`` broadcast rendered once per renderer that reads it."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import EPOCH, FakeSession, decode_lines
from twisted_chat.events import Event, EventSource, Public
from twisted_chat.irc.message import MAX_CLIENT_TAGS, TooLong, client_tags, parse
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.room import Room
from twisted_chat.text import SPANISH, Language

SERVER = "irc.test"


class ClientTagsTests(SynchronousTestCase):
    """What a client's tags keep, and how many bytes of them it may send."""

    def test_only_well_formed_client_only_tags(self) -> None:
        tags = {
            "+typing": "active",
            "+draft/react": "l😃l",
            "+example.com/x-y": "",
            "label": "abc",
            "+": "no name",
            "+bad_name": "x",
            "+a/b/c": "x",
        }
        self.assertEqual(
            client_tags(tags),
            {"+typing": "active", "+draft/react": "l😃l", "+example.com/x-y": ""},
        )
        self.assertIsNone(client_tags({"label": "abc", "msgid": "x"}))
        self.assertIsNone(client_tags({}))

    def test_tag_data_up_to_4094_bytes_without_at_and_space(self) -> None:
        data = "+baz=" + "a" * (MAX_CLIENT_TAGS - 5)
        message = parse(f"@{data} TAGMSG #test")
        assert message is not None
        self.assertEqual(message.tags["+baz"], "a" * (MAX_CLIENT_TAGS - 5))
        self.assertRaises(TooLong, parse, f"@{data}a TAGMSG #test")
        # in bytes, not characters
        self.assertRaises(TooLong, parse, "@+baz=" + "ñ" * 2045 + " TAGMSG #test")


class CountingRenderer(IrcRenderer):
    """An IRC renderer that counts its renders."""

    __slots__ = ("renders",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.renders = 0

    def render(self, event: Event) -> bytes:
        self.renders += 1
        return super().render(event)


class FormTests(SynchronousTestCase):
    """``TAGMSG`` and client tags per capability set."""

    def setUp(self) -> None:
        clock = Clock()
        clock.advance(EPOCH.timestamp())
        self.events = EventSource(clock)
        language = Language(SPANISH)
        self.plain = IrcRenderer(language, SERVER)
        self.timed = IrcRenderer(language, SERVER, {"server-time"})
        self.tags = IrcRenderer(language, SERVER, {"message-tags"})

    def test_tagmsg_to_a_room_and_to_a_nickname(self) -> None:
        tags = {"+typing": "active", "+draft/react": "a b;c\\", "+x": ""}
        event = self.events.tagged("sala", "ana", None, tags)
        self.assertEqual(self.plain.render(event), b"")
        self.assertEqual(self.timed.render(event), b"")
        self.assertEqual(
            decode_lines(self.tags.render(event)),
            [
                f"@msgid={event.id};+typing=active;+draft/react=a\\sb\\:c\\\\;+x"
                f" :ana!ana@{SERVER} TAGMSG #sala"
            ],
        )
        private = self.events.tagged(None, "ana", "bob", {"+typing": "paused"})
        self.assertEqual(
            decode_lines(self.tags.render(private)),
            [f"@msgid={private.id};+typing=paused :ana!ana@{SERVER} TAGMSG bob"],
        )

    def test_client_tags_on_messages_for_message_tags_alone(self) -> None:
        public = self.events.public("sala", "ana", "hola")
        public.tags = {"+draft/reply": "x1"}
        self.assertEqual(
            decode_lines(self.plain.render(public)), [f":ana!ana@{SERVER} PRIVMSG #sala :hola"]
        )
        self.assertNotIn(b"+draft", self.timed.render(public))
        self.assertEqual(
            decode_lines(self.tags.render(public)),
            [f"@msgid={public.id};+draft/reply=x1 :ana!ana@{SERVER} PRIVMSG #sala :hola"],
        )
        private = self.events.private("ana", "bob", "hola")
        private.tags = {"+typing": "done"}
        self.assertEqual(
            decode_lines(self.tags.render(private)),
            [f"@msgid={private.id};+typing=done :ana!ana@{SERVER} PRIVMSG bob :hola"],
        )
        self.assertEqual(
            decode_lines(self.plain.render(private)), [f":ana!ana@{SERVER} PRIVMSG bob :hola"]
        )

    def test_a_split_text_carries_the_tags_on_its_first_line(self) -> None:
        public = Public("id1", 0, "sala", "lina", "palabra " * 120, tags={"+draft/reply": "x"})
        got = decode_lines(self.tags.render(public))
        self.assertGreater(len(got), 1)
        self.assertTrue(got[0].startswith("@msgid=id1;+draft/reply=x :lina!"), got[0])
        self.assertTrue(all(line.startswith(":lina!") for line in got[1:]), got)

    def test_without_client_tags_lines_are_as_before(self) -> None:
        public = self.events.public("sala", "ana", "hola")
        self.assertIsNone(public.tags)
        self.assertEqual(
            decode_lines(self.tags.render(public)),
            [f"@msgid={public.id} :ana!ana@{SERVER} PRIVMSG #sala :hola"],
        )


class BroadcastTests(SynchronousTestCase):
    """A ``TAGMSG`` to a room: rendered once per renderer that reads it, to no one else."""

    def test_once_per_renderer_that_reads_tags(self) -> None:
        language = Language(SPANISH)
        tags = CountingRenderer(language, SERVER, {"message-tags"})
        plain = CountingRenderer(language, SERVER)
        room = Room()
        ana, bob, cris, dan = (
            FakeSession(tags),
            FakeSession(tags),
            FakeSession(tags),
            FakeSession(plain),
        )
        lina = FakeSession()  # a line user: its renderer knows no Tagged event
        for nick, member in (
            ("ana", ana),
            ("bob", bob),
            ("cris", cris),
            ("dan", dan),
            ("lina", lina),
        ):
            member.nickname = nick
            self.assertTrue(room.add(member, nick))
        clock = Clock()
        event = EventSource(clock).tagged("general", "ana", None, {"+typing": "active"})
        count = room.broadcast_room_to(
            event,
            lambda r: isinstance(r, IrcRenderer) and r.client_tags,
            exclude=ana,
        )
        self.assertEqual(count, 2)
        self.assertEqual((tags.renders, plain.renders), (1, 0))
        self.assertEqual(bob.delivered, cris.delivered)
        self.assertEqual(len(bob.delivered), 1)
        self.assertTrue(bob.delivered[0].endswith(b" TAGMSG #general\r\n"))
        self.assertEqual((ana.delivered, dan.delivered, lina.delivered), ([], [], []))
