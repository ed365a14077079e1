"""Hypothesis properties of nickname, command and message parsing, through the real protocol.

Whatever a client sends, a logged-in line gets either nothing (blank), a relay of exactly the
text, or exactly one ``! `` line; a nickname line is either accepted (welcome first) or gets
exactly one ``! ``; and the server never raises.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import Clients, tcp_factory
from twisted_chat import nicknames
from twisted_chat.assembly import assemble
from twisted_chat.limits import Limits
from twisted_chat.lines import has_control_characters, split_first_word
from twisted_chat.text import SPANISH

text_lines = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=60,
)


class NicknameProperties(SynchronousTestCase):
    """Nickname normalisation and identity."""

    @given(text_lines)
    def test_key_is_idempotent_and_case_blind(self, raw: str) -> None:
        nick = nicknames.normalize(raw)
        self.assertEqual(nicknames.key(nicknames.key(nick)), nicknames.key(nick))
        self.assertEqual(nicknames.key(nick.upper()), nicknames.key(nick.upper().lower()))

    @given(text_lines)
    def test_valid_nicknames_are_short_nfc_and_clean(self, raw: str) -> None:
        nick = nicknames.normalize(raw)
        if nicknames.is_valid(nick):
            self.assertTrue(1 <= len(nick) <= 20)
            self.assertEqual(unicodedata.normalize("NFC", nick), nick)
            self.assertFalse(has_control_characters(nick))
            self.assertNotIn(" ", nick)

    @given(text_lines)
    def test_nickname_line_gets_welcome_or_exactly_one_error(self, raw: str) -> None:
        limits = Limits(flood_rate=0, max_strikes=0)
        factory = tcp_factory(assemble(SPANISH, Clock(), limits=limits))
        client = Clients().connect(factory)
        client.received()  # the prompt
        client.send(raw.encode("utf-8") + b"\n")
        lines = client.received()
        nickname = client.protocol.nickname
        if nickname is None:
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("! "), lines)
        else:
            self.assertTrue(lines[0].startswith("* ") and nickname in lines[0], lines)


class LineProperties(SynchronousTestCase):
    """Lines after login."""

    def setUp(self) -> None:
        limits = Limits(flood_rate=0, max_strikes=0)
        self.parts = assemble(SPANISH, Clock(), limits=limits)
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()
        self.ana = self.clients.connect(self.factory)
        self.ana.send(b"ana\n")
        self.bob = self.clients.connect(self.factory)
        self.bob.send(b"bob\n")
        self.clients.drain()

    @settings(max_examples=300)
    @given(text_lines)
    def test_every_line_is_ignored_relayed_verbatim_or_refused_once(self, text: str) -> None:
        if text.startswith("/") and split_first_word(text[1:])[0].lower() in ("salir", "quit"):
            return  # closes the connection; covered elsewhere
        self.ana.send(text.encode("utf-8") + b"\r\n")
        to_ana, to_bob = self.ana.received(), self.bob.received()
        if has_control_characters(text):
            self.assertEqual(len(to_ana), 1)
            self.assertTrue(to_ana[0].startswith("! "))
            self.assertEqual(to_bob, [])
        elif not text.strip(" \t"):
            self.assertEqual((to_ana, to_bob), ([], []))
        elif text.startswith("/"):
            self.assertTrue(to_ana, "a command always answers")
            self.assertTrue(all(line[:2] in ("* ", "! ") for line in to_ana), to_ana)
            self.assertEqual(to_bob, [])
        elif text.startswith("#"):
            if to_bob:
                self.assertEqual(to_bob, [f"*ana* {split_first_word(text[1:])[1]}"])
                self.assertEqual(to_ana, [f"-> *bob* {split_first_word(text[1:])[1]}"])
            else:
                self.assertEqual(len(to_ana), 1)
                self.assertTrue(to_ana[0].startswith("! "))
        else:
            self.assertEqual(to_ana, [])
            self.assertEqual(to_bob, [f"<ana> {text}"])
        self.assertFalse(self.ana.protocol.closing)

    @given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=50), max_size=10))
    def test_random_bytes_in_random_chunks_never_break_anything(
        self, data: bytes, cuts: list[int]
    ) -> None:
        position = 0
        for cut in cuts:
            self.ana.send(data[position : position + cut])
            position += cut
        self.ana.send(data[position:] + b"\n")
        self.ana.received()
        self.bob.received()
        self.bob.send(b"/username\n")
        self.assertEqual(self.bob.received(), ["* Tu nickname es bob."])
        self.assertEqual(sorted(self.parts.room.nicknames()), ["ana", "bob"])
