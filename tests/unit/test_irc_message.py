"""IRC messages: parsing what clients send (tags, source, trailing parameter, limits) and
writing what the server sends."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.irc.message import (
    MAX_LINE,
    Message,
    TooLong,
    escape_tag_value,
    format_message,
    parse,
    unescape_tag_value,
)


class ParseTests(SynchronousTestCase):
    """What a client's line means."""

    def test_command_and_params(self) -> None:
        self.assertEqual(parse("nick ana"), Message("NICK", ("ana",)))
        self.assertEqual(
            parse("USER u 0 * :Ana María"), Message("USER", ("u", "0", "*", "Ana María"))
        )

    def test_trailing_keeps_spaces_and_colons(self) -> None:
        message = parse("PRIVMSG #juegos :hola  :) a todos ")
        assert message is not None
        self.assertEqual(message.params, ("#juegos", "hola  :) a todos "))

    def test_empty_trailing(self) -> None:
        self.assertEqual(parse("TOPIC #a :"), Message("TOPIC", ("#a", "")))

    def test_spaces_between_params_are_one(self) -> None:
        self.assertEqual(parse("JOIN   #a   key"), Message("JOIN", ("#a", "key")))

    def test_source_is_read(self) -> None:
        self.assertEqual(parse(":ana!u@h PING x"), Message("PING", ("x",), "ana!u@h"))

    def test_tags(self) -> None:
        message = parse("@label=1;+draft/reply=abc;flag PRIVMSG bob :hi")
        assert message is not None
        self.assertEqual(message.tags, {"label": "1", "+draft/reply": "abc", "flag": ""})
        self.assertEqual(message.command, "PRIVMSG")

    def test_tag_values_are_unescaped(self) -> None:
        self.assertEqual(unescape_tag_value(r"a\sb\:c\\d\r\n\x"), "a b;c\\d\r\nx")
        self.assertEqual(unescape_tag_value("end\\"), "end")

    def test_nothing_is_no_message(self) -> None:
        for line in ("", "   ", ":source", "@a=b", "@a=b :src", ":x :y"):
            self.assertIsNone(parse(line), line)

    def test_too_many_params_join_the_last(self) -> None:
        message = parse("CMD " + " ".join(str(n) for n in range(20)))
        assert message is not None
        self.assertEqual(len(message.params), 15)
        self.assertEqual(message.params[-1], " ".join(str(n) for n in range(14, 20)))

    def test_a_line_of_512_bytes_passes_one_more_does_not(self) -> None:
        base = "PRIVMSG #a :"
        fits = base + "x" * (MAX_LINE - 2 - len(base))
        self.assertIsNotNone(parse(fits))
        self.assertRaises(TooLong, parse, fits + "x")

    def test_multibyte_characters_count_as_bytes(self) -> None:
        base = "PRIVMSG #a :"
        self.assertRaises(TooLong, parse, base + "ñ" * 250)

    def test_tags_do_not_count_in_the_512(self) -> None:
        base = "PRIVMSG #a :"
        line = "@" + "a=" + "b" * 1000 + " " + base + "x" * (MAX_LINE - 2 - len(base))
        self.assertIsNotNone(parse(line))

    def test_tags_have_their_own_limit(self) -> None:
        self.assertRaises(TooLong, parse, "@a=" + "b" * 5000 + " PING x")


class FormatTests(SynchronousTestCase):
    """What the server writes."""

    def test_trailing_only_when_needed(self) -> None:
        self.assertEqual(format_message("PING", ["tok"]), "PING tok")
        self.assertEqual(
            format_message("PRIVMSG", ["#a", "hola a todos"]), "PRIVMSG #a :hola a todos"
        )
        self.assertEqual(format_message("PRIVMSG", ["#a", ":)"]), "PRIVMSG #a ::)")
        self.assertEqual(format_message("TOPIC", ["#a", ""]), "TOPIC #a :")

    def test_source_and_tags(self) -> None:
        line = format_message(
            "PRIVMSG", ["#a", "hi"], "ana!u@h", {"time": "2026-12-06T03:34:47.000Z", "x": ""}
        )
        self.assertEqual(line, "@time=2026-12-06T03:34:47.000Z;x :ana!u@h PRIVMSG #a hi")

    def test_tag_values_are_escaped(self) -> None:
        self.assertEqual(escape_tag_value("a b;c\\"), r"a\sb\:c\\")


_WORD = st.text(
    alphabet=st.characters(exclude_characters=" \r\n\x00:", exclude_categories=["Cs"]),
    min_size=1,
    max_size=10,
)


class RoundTripTests(SynchronousTestCase):
    """Whatever the server writes, a client parses back the same."""

    @given(
        st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
        st.lists(_WORD, max_size=5),
        st.text(
            alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
            max_size=40,
        ),
        st.dictionaries(
            st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(max_size=8), max_size=3
        ),
    )
    def test_round_trip(
        self, command: str, middle: list[str], last: str, tags: dict[str, str]
    ) -> None:
        params = [*middle, last]
        line = format_message(command, params, "srv", tags)
        try:
            message = parse(line)
        except TooLong:
            return
        assert message is not None
        self.assertEqual(message.command, command)
        self.assertEqual(list(message.params), params)
        self.assertEqual(message.source, "srv")
        self.assertEqual(dict(message.tags), tags)

    @given(st.text(max_size=600))
    def test_anything_a_client_sends_parses_or_is_refused(self, line: str) -> None:
        with contextlib.suppress(TooLong):
            parse(line)
