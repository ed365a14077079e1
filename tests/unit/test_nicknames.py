"""Unit tests of :mod:`twisted_chat.nicknames`: validation, NFC normalisation and identity key.

The rule (docs/PROTOCOL.md, "Handshake"): after stripping spaces and tabs and NFC normalisation a
nickname matches ``^[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-z0-9À-ÖØ-öø-ÿ_-]{0,19}$``; uniqueness is by
``str.casefold``.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.nicknames import MAX_NICKNAME_LENGTH, is_valid, key, normalize

#: The protocol's regular expression, written out as docs/PROTOCOL.md gives it.
SPEC_RE = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-z0-9À-ÖØ-öø-ÿ_-]{0,19}$")

DECOMPOSED_E_ACUTE = "e\u0301"
TIMES = "\N{MULTIPLICATION SIGN}"  # U+00D7, inside À-ÿ but not a letter
DIVIDE = "\N{DIVISION SIGN}"  # U+00F7


class ValidationTests(SynchronousTestCase):
    """Which (already normalised) nicknames are valid."""

    def test_ascii(self) -> None:
        for nick in ["a", "Z", "ana", "Bob", "carol_99", "x-y", "a1", "A_-0"]:
            with self.subTest(nick=nick):
                self.assertTrue(is_valid(nick))

    def test_latin1_letters(self) -> None:
        for nick in ["ñ", "é", "ÿ", "À", "Ö", "Ø", "ö", "ø", "ß", "José", "Ñandú", "añoÿ"]:
            with self.subTest(nick=nick):
                self.assertTrue(is_valid(nick))

    def test_latin1_non_letters_refused(self) -> None:
        for nick in [TIMES, DIVIDE, f"a{TIMES}b", f"a{DIVIDE}", "ª", "º", "µ", "¿que", "a¡"]:
            with self.subTest(nick=nick):
                self.assertFalse(is_valid(nick))

    def test_letters_beyond_latin1_refused(self) -> None:
        for nick in [
            "Ω",
            "aΩ",
            "ā",
            "Ł",
            "ж",
            "李",
            "\N{LATIN SMALL LIGATURE FI}",
            "\N{MATHEMATICAL BOLD CAPITAL A}",
        ]:
            with self.subTest(nick=nick):
                self.assertFalse(is_valid(nick))

    def test_must_start_with_a_letter(self) -> None:
        for nick in ["1ana", "_ana", "-ana", "9"]:
            with self.subTest(nick=nick):
                self.assertFalse(is_valid(nick))

    def test_non_ascii_digits_refused(self) -> None:
        for nick in ["a\N{ARABIC-INDIC DIGIT ONE}", "a²", "a①", "a\N{FULLWIDTH DIGIT ZERO}"]:
            with self.subTest(nick=nick):
                self.assertFalse(is_valid(nick))

    def test_length_1_to_20(self) -> None:
        self.assertEqual(MAX_NICKNAME_LENGTH, 20)
        self.assertFalse(is_valid(""))
        self.assertTrue(is_valid("a"))
        self.assertTrue(is_valid("a" * 20))
        self.assertFalse(is_valid("a" * 21))

    def test_length_counts_characters_not_bytes(self) -> None:
        self.assertTrue(is_valid("ñ" * 20))
        self.assertFalse(is_valid("ñ" * 21))

    def test_punctuation_and_spaces_refused(self) -> None:
        for nick in ["a b", "a\tb", "a.b", "a@b", "a#", "a/b", "a*", "<a>", "a'", "a\x00"]:
            with self.subTest(nick=nick):
                self.assertFalse(is_valid(nick))

    def test_no_trailing_newline_loophole(self) -> None:
        # ``$`` in Python matches before a final newline; the check must be a full match.
        self.assertFalse(is_valid("ana\n"))

    def test_surrounding_spaces_refused_before_normalisation(self) -> None:
        self.assertFalse(is_valid(" ana"))
        self.assertFalse(is_valid("ana "))

    def test_decomposed_form_is_not_valid_until_normalised(self) -> None:
        self.assertFalse(is_valid("Jos" + DECOMPOSED_E_ACUTE))
        self.assertTrue(is_valid(normalize("Jos" + DECOMPOSED_E_ACUTE)))

    @given(st.text(max_size=25))
    def test_agrees_with_the_protocol_regex(self, text: str) -> None:
        self.assertEqual(is_valid(text), SPEC_RE.fullmatch(text) is not None)

    @given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=22))
    def test_agrees_with_the_protocol_regex_near_latin1(self, text: str) -> None:
        self.assertEqual(is_valid(text), SPEC_RE.fullmatch(text) is not None)


class NormalizeTests(SynchronousTestCase):
    """Spaces and tabs around a nickname are stripped, then it is put in NFC."""

    def test_decomposed_equals_composed(self) -> None:
        self.assertEqual(normalize(DECOMPOSED_E_ACUTE), "é")
        self.assertEqual(normalize("Jos" + DECOMPOSED_E_ACUTE), "José")
        self.assertEqual(normalize("n\u0303"), "ñ")

    def test_strips_spaces_and_tabs(self) -> None:
        self.assertEqual(normalize("  ana\t "), "ana")
        self.assertEqual(normalize("\t\tBob"), "Bob")

    def test_inner_spaces_kept(self) -> None:
        self.assertEqual(normalize(" a b "), "a b")

    def test_only_spaces_and_tabs_become_empty(self) -> None:
        self.assertEqual(normalize(" \t "), "")
        self.assertFalse(is_valid(normalize(" \t ")))

    def test_strip_then_normalise_decomposed(self) -> None:
        self.assertEqual(normalize(" Jos" + DECOMPOSED_E_ACUTE + "\t"), "José")

    def test_case_is_kept(self) -> None:
        self.assertEqual(normalize("AnA"), "AnA")

    def test_result_is_nfc(self) -> None:
        result = normalize("A\u030a")  # A + combining ring above
        self.assertEqual(result, "Å")
        self.assertTrue(unicodedata.is_normalized("NFC", result))


class KeyTests(SynchronousTestCase):
    """The identity of a nickname: NFC, then ``str.casefold``."""

    def test_case_insensitive(self) -> None:
        self.assertEqual(key("Ana"), key("ana"))
        self.assertEqual(key("ANA"), "ana")
        self.assertEqual(key("BoB"), key("bOb"))

    def test_latin1_case(self) -> None:
        self.assertEqual(key("ÑANDÚ"), key("ñandú"))
        self.assertEqual(key("JOSÉ"), "josé")

    def test_decomposed_equals_composed(self) -> None:
        self.assertEqual(key("Jos" + DECOMPOSED_E_ACUTE), key("José"))
        self.assertEqual(key("JOSE\u0301"), key("josé"))

    def test_accents_are_distinct(self) -> None:
        self.assertNotEqual(key("José"), key("Jose"))

    def test_casefold_not_lower(self) -> None:
        # str.casefold maps ß to ss (str.lower does not).
        self.assertEqual(key("Straße"), key("STRASSE"))
        self.assertEqual(key("Straße"), "strasse")

    @given(st.text(max_size=25))
    def test_matches_definition(self, text: str) -> None:
        self.assertEqual(key(text), unicodedata.normalize("NFC", text).casefold())
