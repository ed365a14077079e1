"""IRCv3 ``labeled-response`` (:mod:`twisted_chat.irc.labels`): the answer of a labeled command
as ``ACK``, one labeled line or a ``labeled-response`` batch, with the later answer of a
database read kept in it and other users' traffic of meanwhile left out. On recording
transports over a whole chat (the harness of ``test_irc_chathistory``); no sockets."""

from __future__ import annotations

import re
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from tests.unit.test_irc_chathistory import HISTORY_CAPS, SERVER, _IrcChat
from twisted_chat.irc.commands import CAPABILITIES
from twisted_chat.irc.labels import LabeledResponse, add_tag, has_batch_tag, too_long
from twisted_chat.irc.message import escape_tag_value
from twisted_chat.irc.session import IrcSession

#: A client of labeled responses (and echo-message, to see its own messages' echoes).
LABEL_CAPS = "batch labeled-response echo-message"
#: Characters a line may not hold (refused before it is read): no label has them.
_NOT_PRINTABLE: Final = ("Cs", "Cc", "Cf", "Zl", "Zp")
_LABELED_BATCH = re.compile(rf"@label=(\S+) :{re.escape(SERVER)} BATCH \+(\S+) labeled-response")


class RenderTests(_IrcChat):
    """What a kept answer is written as."""

    def response(self, *lines: str) -> list[str]:
        if not hasattr(self, "proto"):
            self.proto, _ = self.user("ana", LABEL_CAPS)
        session = self.proto.session
        assert isinstance(session, IrcSession)
        response = LabeledResponse(session, "a b;c")
        response.lines = [line.encode() + b"\r\n" for line in lines]
        return response.render(SERVER).decode().split("\r\n")[:-1]

    def test_no_line_is_an_ack(self) -> None:
        self.assertEqual(self.response(), [rf"@label=a\sb\:c :{SERVER} ACK"])

    def test_one_line_is_labeled(self) -> None:
        self.assertEqual(
            self.response(f":{SERVER} PONG {SERVER} x"),
            [rf"@label=a\sb\:c :{SERVER} PONG {SERVER} x"],
        )
        self.assertEqual(
            self.response("@time=T :a!a@s PRIVMSG #s :hi"),
            [r"@label=a\sb\:c;time=T :a!a@s PRIVMSG #s :hi"],
        )

    def test_several_lines_are_a_batch_nesting_a_chathistory_batch(self) -> None:
        got = self.response(
            ":s 001 ana :x",
            ":s BATCH +h1 chathistory #sala",
            "@batch=h1;time=T :b!b@s PRIVMSG #sala :m0",
            ":s BATCH -h1",
        )
        start = _LABELED_BATCH.fullmatch(got[0])
        assert start is not None, got
        self.assertEqual(start.group(1), r"a\sb\:c")
        ref = start.group(2)
        self.assertEqual(
            got[1:],
            [
                f"@batch={ref} :s 001 ana :x",
                f"@batch={ref} :s BATCH +h1 chathistory #sala",
                "@batch=h1;time=T :b!b@s PRIVMSG #sala :m0",  # stays in its own batch
                f"@batch={ref} :s BATCH -h1",
                f":{SERVER} BATCH -{ref}",
            ],
        )

    def test_helpers(self) -> None:
        self.assertEqual(add_tag(b":s ACK", b"label=x"), b"@label=x :s ACK")
        self.assertEqual(add_tag(b"@a=1 :s ACK", b"label=x"), b"@label=x;a=1 :s ACK")
        self.assertTrue(has_batch_tag(b"@time=1;batch=z :s X"))
        self.assertFalse(has_batch_tag(b"@time=1 :s X :batch=z"))
        self.assertFalse(has_batch_tag(b":s X batch=z"))
        self.assertTrue(too_long("x" * 65))
        self.assertTrue(too_long("é" * 33))  # 66 bytes
        self.assertFalse(too_long("x" * 64))
        self.assertTrue(too_long(""))


class LabeledCommandTests(_IrcChat):
    """Labeled commands of a registered client, answered through the whole chat."""

    def test_offered(self) -> None:
        self.assertIn("labeled-response", CAPABILITIES)

    def test_one_line_answers_and_ack(self) -> None:
        ana, ana_t = self.user("ana", LABEL_CAPS)
        self.assertEqual(
            self.say(ana, ana_t, "@label=p1 PING x"), [f"@label=p1 :{SERVER} PONG {SERVER} x"]
        )
        self.assertEqual(self.say(ana, ana_t, "@label=p2 PONG x"), [f"@label=p2 :{SERVER} ACK"])
        self.assertEqual(
            self.say(ana, ana_t, "@label=p3 FOO"),
            [f"@label=p3 :{SERVER} 421 ana FOO :Unknown command"],
        )
        # a label holding escaped line ends goes back escaped: one line, never two
        got = self.say(ana, ana_t, r"@label=a\rb\nc\sd PING x")
        self.assertEqual(got, [rf"@label=a\rb\nc\sd :{SERVER} PONG {SERVER} x"])
        # unlabeled lines are answered as ever
        self.assertEqual(self.say(ana, ana_t, "PING y"), [f":{SERVER} PONG {SERVER} y"])

    def test_label_ignored_without_the_capability_or_too_long(self) -> None:
        bob, bob_t = self.user("bob", "batch")
        self.assertEqual(self.say(bob, bob_t, "@label=p1 PING x"), [f":{SERVER} PONG {SERVER} x"])
        ana, ana_t = self.user("ana", "labeled-response")  # without batch
        self.assertEqual(self.say(ana, ana_t, "@label=p1 PING x"), [f":{SERVER} PONG {SERVER} x"])
        carol, carol_t = self.user("carol", LABEL_CAPS)
        long = "x" * 65
        self.assertEqual(
            self.say(carol, carol_t, f"@label={long} PING x"), [f":{SERVER} PONG {SERVER} x"]
        )

    def test_join_is_a_batch_and_the_others_see_no_label(self) -> None:
        bob, bob_t = self.user("bob")
        self.say(bob, bob_t, "JOIN #sala")
        ana, ana_t = self.user("ana", LABEL_CAPS)
        got = self.say(ana, ana_t, "@label=j JOIN #sala")
        start = _LABELED_BATCH.fullmatch(got[0])
        assert start is not None, got
        ref = start.group(2)
        self.assertEqual(got[1], f"@batch={ref} :ana!ana@{SERVER} JOIN #sala")
        self.assertTrue(all(line.startswith(f"@batch={ref} ") for line in got[1:-1]), got)
        self.assertIn(" 366 ana #sala ", got[-2])
        self.assertEqual(got[-1], f":{SERVER} BATCH -{ref}")
        self.assertEqual(self.received(bob_t), [f":ana!ana@{SERVER} JOIN #sala"])

    def test_echo_of_a_message_to_a_channel(self) -> None:
        bob, bob_t = self.user("bob", LABEL_CAPS)
        ana, ana_t = self.user("ana", LABEL_CAPS)
        self.say(bob, bob_t, "JOIN #sala")
        self.say(ana, ana_t, "JOIN #sala")
        self.received(bob_t)
        got = self.say(ana, ana_t, "@label=m1;+draft/reply=x PRIVMSG #sala :hola")
        self.assertEqual(got, [f"@label=m1 :ana!ana@{SERVER} PRIVMSG #sala :hola"])
        self.assertEqual(self.received(bob_t), [f":ana!ana@{SERVER} PRIVMSG #sala :hola"])
        # an error is the answer too
        got = self.say(ana, ana_t, "@label=m2 PRIVMSG #nada :hola")
        self.assertEqual(got, [f"@label=m2 :{SERVER} 403 ana #nada :No such channel"])

    def test_message_to_itself_labels_the_echo_only(self) -> None:
        ana, ana_t = self.user("ana", LABEL_CAPS)
        got = self.say(ana, ana_t, "@label=me PRIVMSG ana :hola")
        self.assertEqual(
            got,
            [
                f":ana!ana@{SERVER} PRIVMSG ana :hola",  # the delivery: never the answer
                f"@label=me :ana!ana@{SERVER} PRIVMSG ana :hola",  # the echo-message
            ],
        )

    def test_message_to_someone_else(self) -> None:
        _, bob_t = self.user("bob", LABEL_CAPS)
        ana, ana_t = self.user("ana", LABEL_CAPS)
        got = self.say(ana, ana_t, "@label=pm NOTICE bob :hola")
        self.assertEqual(got, [f"@label=pm :ana!ana@{SERVER} NOTICE bob :hola"])
        self.assertEqual(self.received(bob_t), [f":ana!ana@{SERVER} NOTICE bob :hola"])


class PropertyTests(_IrcChat):
    """Any labeled command gets exactly one labeled logical answer, its batches balanced."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.text(
                    st.characters(blacklist_categories=_NOT_PRINTABLE),
                    min_size=1,
                    max_size=20,
                ).filter(lambda t: len(t.encode()) <= 64),
                st.sampled_from(
                    [
                        "PING x",
                        "PONG x",
                        "JOIN #a,#b",
                        "PART #a",
                        "PRIVMSG #a :hola",
                        "PRIVMSG {me} :yo",
                        "NOTICE bob :hola",
                        "PRIVMSG nadie :x",
                        "TOPIC #a :t",
                        "TOPIC #a",
                        "NAMES #a",
                        "WHO #a",
                        "WHOIS bob",
                        "LIST",
                        "LUSERS",
                        "MODE {me}",
                        "CHATHISTORY LATEST #a * 5",
                        "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00Z "
                        "timestamp=2262-01-01T00:00:00Z 5",
                        "HISTORIAL #a 3",
                        "CAP LIST",
                        "AWAY :fuera",
                        "FOO bar",
                        "USER a 0 * :b",
                    ]
                ),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def test_one_labeled_answer_per_command(self, commands: list[tuple[str, str]]) -> None:
        if not hasattr(self, "bob"):
            self.bob, bob_t = self.user("bob")
            self.say(self.bob, bob_t, "JOIN #a")
        nick = f"u{self.port}"
        proto, transport = self.user(nick, f"{HISTORY_CAPS} labeled-response echo-message")
        try:
            for label, command in commands:
                escaped = escape_tag_value(label)
                got = self.say(proto, transport, f"@label={escaped} {command.format(me=nick)}")
                labeled = [line for line in got if line.startswith(f"@label={escaped}")]
                self.assertEqual(len(labeled), 1, got)
                self.assertEqual(sum("label=" in line.split(" ", 1)[0] for line in got), 1, got)
                start = _LABELED_BATCH.fullmatch(labeled[0])
                if start is not None:
                    self.assertEqual(got[-1], f":{SERVER} BATCH -{start.group(2)}", got)
                batches = [re.search(r" BATCH ([+-])(\S+)", line) for line in got]
                opened = [b.group(2) for b in batches if b is not None and b.group(1) == "+"]
                closed = [b.group(2) for b in batches if b is not None and b.group(1) == "-"]
                self.assertEqual(sorted(opened), sorted(closed), got)
        finally:
            proto.connectionLost(Failure(ConnectionDone()))


class LaterAnswerTests(_IrcChat):
    """Answers read from the database: kept in the response, and nothing else of meanwhile."""

    def setup_room(self, caps: str) -> tuple:  # type: ignore[type-arg]
        bob, bob_t = self.user("bob")
        self.say(bob, bob_t, "JOIN #sala")
        ana, ana_t = self.user("ana", caps)
        self.say(ana, ana_t, "JOIN #sala")
        for number in range(8):
            self.clock.advance(1)
            self.say(bob, bob_t, f"PRIVMSG #sala :m{number}")
        self.storage.write()
        self.received(ana_t)
        return ana, ana_t, bob, bob_t

    def test_chathistory_from_the_database(self) -> None:
        ana, ana_t, bob, bob_t = self.setup_room(f"{HISTORY_CAPS} labeled-response")
        self.storage.holding = True
        got = self.say(ana, ana_t, "@label=h CHATHISTORY LATEST #sala * 50\r\n@label=b PING z")
        self.assertEqual(got, [])
        # bob speaks meanwhile: ana gets it at once, unlabeled, outside the response
        self.say(bob, bob_t, "PRIVMSG #sala :meanwhile")
        got = self.received(ana_t)
        self.assertEqual(len(got), 1, got)
        self.assertRegex(got[0], r"^@time=[^;]+;msgid=\S+ :bob!bob@\S+ PRIVMSG #sala :meanwhile$")
        self.storage.release()
        got = self.received(ana_t)
        start = _LABELED_BATCH.fullmatch(got[0])
        assert start is not None, got
        self.assertEqual(start.group(1), "h")
        ref = start.group(2)
        self.assertRegex(got[1], rf"^@batch={ref} :{SERVER} BATCH \+(\S+) chathistory #sala$")
        inner = got[1].split()[3][1:]
        texts = [line.rsplit(" :", 1)[1] for line in got[2:-3]]
        # (the double reads when released: what was said meanwhile is history by then)
        self.assertEqual(texts, [*(f"m{n}" for n in range(8)), "meanwhile"])
        self.assertTrue(all(line.startswith(f"@batch={inner};") for line in got[2:-3]), got)
        self.assertEqual(got[-3], f"@batch={ref} :{SERVER} BATCH -{inner}")
        self.assertEqual(got[-2], f":{SERVER} BATCH -{ref}")
        # the held PING ran after the answer, with its own label
        self.assertEqual(got[-1], f"@label=b :{SERVER} PONG {SERVER} z")

    def test_historial_from_the_database(self) -> None:
        ana, ana_t, bob, bob_t = self.setup_room("batch labeled-response")
        self.storage.holding = True
        got = self.say(ana, ana_t, "@label=v HISTORIAL 7")
        self.assertEqual(got, [])
        self.say(bob, bob_t, "PRIVMSG #sala :meanwhile")
        self.assertEqual(self.received(ana_t), [f":bob!bob@{SERVER} PRIVMSG #sala :meanwhile"])
        self.storage.release()
        got = self.received(ana_t)
        start = _LABELED_BATCH.fullmatch(got[0])
        assert start is not None, got
        ref = start.group(2)
        self.assertTrue(
            all(line.startswith(f"@batch={ref} :{SERVER} NOTICE ") for line in got[1:-1])
        )
        self.assertEqual(len(got), 1 + 1 + 7 + 1 + 1, got)  # header, 7 lines, "more", end
        self.assertEqual(got[-1], f":{SERVER} BATCH -{ref}")
        self.assertEqual(self.say(ana, ana_t, "PING q"), [f":{SERVER} PONG {SERVER} q"])

    def test_released_from_inside_its_answer(self) -> None:
        """An answer that releases the session itself (a clustered ``JOIN``'s continuation):
        the response is written first, then the held lines run, outside it."""
        proto, transport = self.user("ana", LABEL_CAPS)
        session = proto.session
        assert isinstance(session, IrcSession)
        later: Deferred[None] = Deferred()

        def command() -> None:
            session.reply("998", "now")
            session.hold()

            def answer(_: object) -> None:
                session.reply("999", "later")
                session.release()

            later.addCallback(session.as_answer(answer))

        session.labeled("x", command)
        self.assertEqual(self.say(proto, transport, "@label=y PING z"), [])
        later.callback(None)
        got = self.received(transport)
        start = _LABELED_BATCH.fullmatch(got[0])
        assert start is not None, got
        ref = start.group(2)
        self.assertEqual(
            got[1:],
            [
                f"@batch={ref} :{SERVER} 998 ana :now",
                f"@batch={ref} :{SERVER} 999 ana :later",
                f":{SERVER} BATCH -{ref}",
                f"@label=y :{SERVER} PONG {SERVER} z",
            ],
        )
        self.assertIsNone(session.pending_label)
        self.assertIsNone(session.label)
