"""Unit tests of :mod:`twisted_chat.lines`: framing, the 1024-byte limit, and line helpers.

The splitter is fed the way TCP delivers data: whole, in arbitrary chunks, and one byte at a time
(in the manner of irctest's ``server_tests/buffering.py``). Hypothesis checks that the chunking
never changes the result and that the memory held for an unfinished line stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.lines import (
    MAX_LINE_LENGTH,
    TOO_LONG,
    LineSplitter,
    LineTooLong,
    has_control_characters,
    split_first_word,
)

Output = list[bytes | LineTooLong]


def feed_chunks(splitter: LineSplitter, chunks: Iterable[bytes]) -> Output:
    """Feed every chunk, checking after each that the buffered bytes stay within the bound."""
    out: Output = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
        assert splitter.pending <= splitter.max_length + 1, (splitter.pending, chunk)
        if splitter.discarding:
            assert splitter.pending == 0, "an over-long line must not be buffered"
    return out


def feed_whole(data: bytes, max_length: int = MAX_LINE_LENGTH) -> Output:
    """The lines of ``data`` fed as one chunk to a fresh splitter."""
    return feed_chunks(LineSplitter(max_length), [data])


def bytewise(data: bytes) -> list[bytes]:
    """``data`` as one-byte chunks."""
    return [data[i : i + 1] for i in range(len(data))]


def cut(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` split at the given offsets (clamped, deduplicated, sorted); chunks may be empty."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    chunks = []
    previous = 0
    for point in points:
        chunks.append(data[previous:point])
        previous = point
    chunks.append(data[previous:])
    return chunks


def reference_lines(data: bytes, max_length: int) -> Output:
    """What the framing rules say ``data`` (fed so far) yields, computed the simple way.

    Complete lines: one trailing CR stripped, then the limit. The unfinished tail is reported as
    too long as soon as it can no longer become a legal line (only a CR may follow a full line).
    """
    *complete, tail = data.split(b"\n")
    out: Output = []
    for line in complete:
        if line.endswith(b"\r"):
            line = line[:-1]
        out.append(TOO_LONG if len(line) > max_length else line)
    if len(tail) > max_length + 1 or (len(tail) == max_length + 1 and not tail.endswith(b"\r")):
        out.append(TOO_LONG)
    return out


class TerminatorTests(SynchronousTestCase):
    """Lines end in LF or CRLF; exactly one trailing CR is removed, nothing else."""

    def test_lf(self) -> None:
        self.assertEqual(feed_whole(b"hola\nadios\n"), [b"hola", b"adios"])

    def test_crlf(self) -> None:
        self.assertEqual(feed_whole(b"hola\r\nadios\r\n"), [b"hola", b"adios"])

    def test_mixed_terminators_in_one_chunk(self) -> None:
        self.assertEqual(feed_whole(b"a\r\nb\nc\r\n"), [b"a", b"b", b"c"])

    def test_only_one_trailing_cr_is_stripped(self) -> None:
        self.assertEqual(feed_whole(b"hola\r\r\n"), [b"hola\r"])

    def test_inner_cr_is_kept(self) -> None:
        self.assertEqual(feed_whole(b"a\rb\n"), [b"a\rb"])

    def test_inner_cr_is_kept_when_every_line_ends_in_crlf(self) -> None:
        self.assertEqual(feed_whole(b"a\rb\r\n\rc\r\n"), [b"a\rb", b"\rc"])

    def test_cr_before_the_last_lf_only(self) -> None:
        self.assertEqual(feed_whole(b"a\nb\r\n"), [b"a", b"b"])

    def test_empty_lines(self) -> None:
        self.assertEqual(feed_whole(b"\n\r\n"), [b"", b""])

    def test_bare_cr_is_an_empty_line_without_cr(self) -> None:
        self.assertEqual(feed_whole(b"\r\n"), [b""])

    def test_spaces_are_kept(self) -> None:
        self.assertEqual(feed_whole(b"  a  b \t\r\n"), [b"  a  b \t"])

    def test_unterminated_line_is_held_until_its_newline(self) -> None:
        splitter = LineSplitter()
        self.assertEqual(list(splitter.feed(b"hol")), [])
        self.assertEqual(splitter.pending, 3)
        self.assertEqual(list(splitter.feed(b"a\r")), [])
        self.assertEqual(list(splitter.feed(b"\nsi")), [b"hola"])
        self.assertEqual(splitter.pending, 2)

    def test_cr_and_lf_in_separate_chunks(self) -> None:
        self.assertEqual(feed_chunks(LineSplitter(), [b"hola\r", b"\n"]), [b"hola"])

    def test_byte_by_byte_equals_one_chunk(self) -> None:
        data = "ana\r\n/listar\nhola señor 🎉\r\n\r\n".encode() + b"x" * 1030 + b"\r\nfin\n"
        whole = feed_whole(data)
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(data)), whole)
        self.assertEqual(
            whole, [b"ana", b"/listar", "hola señor 🎉".encode(), b"", TOO_LONG, b"fin"]
        )

    def test_multibyte_character_split_across_chunks_is_one_line(self) -> None:
        data = "ñ🎉\n".encode()
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(data)), ["ñ🎉".encode()])

    def test_lines_are_bytes_undecoded(self) -> None:
        self.assertEqual(feed_whole(b"\xff\xfe\n"), [b"\xff\xfe"])


class LimitTests(SynchronousTestCase):
    """The 1024-byte limit counts the line without its terminator."""

    def test_default_limit(self) -> None:
        self.assertEqual(MAX_LINE_LENGTH, 1024)
        self.assertEqual(LineSplitter().max_length, 1024)

    def test_1024_bytes_with_crlf_is_legal(self) -> None:
        line = b"a" * 1024
        self.assertEqual(feed_whole(line + b"\r\n"), [line])

    def test_1024_bytes_with_lf_is_legal(self) -> None:
        line = b"a" * 1024
        self.assertEqual(feed_whole(line + b"\n"), [line])

    def test_1024_bytes_with_crlf_byte_by_byte_is_legal(self) -> None:
        line = b"a" * 1024
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(line + b"\r\n")), [line])

    def test_1024_bytes_then_crlf_in_separate_chunks_is_legal(self) -> None:
        line = b"a" * 1024
        self.assertEqual(feed_chunks(LineSplitter(), [line, b"\r", b"\n"]), [line])
        self.assertEqual(feed_chunks(LineSplitter(), [line + b"\r", b"\n"]), [line])

    def test_1025_bytes_is_too_long(self) -> None:
        self.assertEqual(feed_whole(b"a" * 1025 + b"\r\n"), [TOO_LONG])
        self.assertEqual(feed_whole(b"a" * 1025 + b"\n"), [TOO_LONG])

    def test_1025_bytes_byte_by_byte_is_too_long(self) -> None:
        data = b"a" * 1025 + b"\r\n"
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(data)), [TOO_LONG])

    def test_1024_bytes_plus_content_cr_is_too_long(self) -> None:
        # The second-to-last CR is content (only one is stripped): 1025 bytes.
        data = b"a" * 1024 + b"\r\r\n"
        self.assertEqual(feed_whole(data), [TOO_LONG])
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(data)), [TOO_LONG])

    def test_limit_counts_bytes_not_characters(self) -> None:
        self.assertEqual(feed_whole(("ñ" * 512).encode() + b"\n"), [("ñ" * 512).encode()])
        self.assertEqual(feed_whole(("ñ" * 513).encode() + b"\n"), [TOO_LONG])

    def test_custom_limit(self) -> None:
        self.assertEqual(feed_whole(b"abcd\nabcde\n", max_length=4), [b"abcd", TOO_LONG])


class LongLineTests(SynchronousTestCase):
    """An over-long line is dropped up to its LF, reported once, and never buffered."""

    def test_reported_once_when_arriving_in_many_chunks(self) -> None:
        chunks = [b"x" * 100] * 50 + [b"y" * 7, b"\r", b"\n"]
        self.assertEqual(feed_chunks(LineSplitter(), chunks), [TOO_LONG])

    def test_reported_as_soon_as_known(self) -> None:
        splitter = LineSplitter()
        self.assertEqual(list(splitter.feed(b"x" * 1024)), [])
        self.assertEqual(list(splitter.feed(b"x")), [TOO_LONG])
        self.assertTrue(splitter.discarding)
        self.assertEqual(splitter.pending, 0)
        self.assertEqual(list(splitter.feed(b"x" * 5000)), [])
        self.assertEqual(list(splitter.feed(b"tail\nnext\n")), [b"next"])
        self.assertFalse(splitter.discarding)

    def test_tail_of_a_long_line_is_not_a_new_line(self) -> None:
        chunks = [b"x" * 2000, b"the tail\r\n", b"real\r\n"]
        self.assertEqual(feed_chunks(LineSplitter(), chunks), [TOO_LONG, b"real"])

    def test_lines_after_a_long_line_in_the_same_chunk_are_kept(self) -> None:
        data = b"before\r\n" + b"x" * 3000 + b"\r\nafter 1\r\nafter 2\n"
        self.assertEqual(feed_whole(data), [b"before", TOO_LONG, b"after 1", b"after 2"])

    def test_two_long_lines_are_two_reports(self) -> None:
        data = b"x" * 1500 + b"\n" + b"y" * 1500 + b"\n"
        self.assertEqual(feed_whole(data), [TOO_LONG, TOO_LONG])
        self.assertEqual(feed_chunks(LineSplitter(), bytewise(data)), [TOO_LONG, TOO_LONG])

    def test_memory_bounded_with_no_newline_ever(self) -> None:
        splitter = LineSplitter()
        out = feed_chunks(splitter, [b"z" * 4096] * 256)  # 1 MiB, no LF
        self.assertEqual(out, [TOO_LONG])
        self.assertEqual(splitter.pending, 0)

    def test_memory_bounded_with_one_huge_chunk(self) -> None:
        splitter = LineSplitter()
        self.assertEqual(feed_chunks(splitter, [b"z" * (1 << 20)]), [TOO_LONG])
        self.assertEqual(splitter.pending, 0)

    def test_full_line_plus_cr_is_held_then_legal(self) -> None:
        splitter = LineSplitter()
        self.assertEqual(list(splitter.feed(b"a" * 1024 + b"\r")), [])
        self.assertEqual(splitter.pending, 1025)
        self.assertFalse(splitter.discarding)
        self.assertEqual(list(splitter.feed(b"\n")), [b"a" * 1024])
        self.assertEqual(splitter.pending, 0)

    def test_full_line_plus_cr_then_more_content_is_too_long(self) -> None:
        splitter = LineSplitter()
        self.assertEqual(list(splitter.feed(b"a" * 1024 + b"\r")), [])
        self.assertEqual(list(splitter.feed(b"b")), [TOO_LONG])
        self.assertEqual(splitter.pending, 0)
        self.assertEqual(list(splitter.feed(b"\nok\n")), [b"ok"])

    def test_repr_of_marker(self) -> None:
        self.assertEqual(repr(TOO_LONG), "TOO_LONG")


#: Bytes that make interesting lines: terminators, content, and halves of a UTF-8 character.
_PIECES = st.sampled_from([b"a", b"b", b" ", b"\r", b"\n", b"\r\n", b"\xc3", b"\xb1"])
_FRAMED = st.lists(_PIECES, max_size=120).map(b"".join)
_DATA = st.one_of(st.binary(max_size=200), _FRAMED)
_CUTS = st.lists(st.integers(min_value=0, max_value=250), max_size=30)
_LIMITS = st.integers(min_value=1, max_value=12)


class SplitterPropertyTests(SynchronousTestCase):
    """Hypothesis: chunking never changes the result, and buffered memory stays bounded."""

    @settings(max_examples=300, deadline=None)
    @given(data=_DATA, cuts=_CUTS, max_length=_LIMITS)
    def test_any_chunking_equals_one_chunk(
        self, data: bytes, cuts: list[int], max_length: int
    ) -> None:
        chunked = feed_chunks(LineSplitter(max_length), cut(data, cuts))
        self.assertEqual(chunked, feed_whole(data, max_length))

    @settings(max_examples=200, deadline=None)
    @given(data=_DATA, max_length=_LIMITS)
    def test_byte_by_byte_equals_one_chunk(self, data: bytes, max_length: int) -> None:
        chunked = feed_chunks(LineSplitter(max_length), bytewise(data))
        self.assertEqual(chunked, feed_whole(data, max_length))

    @settings(max_examples=300, deadline=None)
    @given(data=_DATA, cuts=_CUTS, max_length=_LIMITS)
    def test_matches_the_rules(self, data: bytes, cuts: list[int], max_length: int) -> None:
        splitter = LineSplitter(max_length)
        self.assertEqual(feed_chunks(splitter, cut(data, cuts)), reference_lines(data, max_length))

    @settings(max_examples=300, deadline=None)
    @given(chunks=st.lists(st.binary(max_size=64), max_size=40), max_length=_LIMITS)
    def test_pending_is_bounded(self, chunks: list[bytes], max_length: int) -> None:
        splitter = LineSplitter(max_length)
        feed_chunks(splitter, chunks)  # asserts the bound after every chunk
        self.assertLessEqual(splitter.pending, max_length + 1)

    @settings(max_examples=100, deadline=None)
    @given(data=_DATA, cuts=_CUTS)
    def test_default_limit_any_chunking(self, data: bytes, cuts: list[int]) -> None:
        padded = data + b"q" * 1020 + data  # lines near the real 1024-byte limit
        self.assertEqual(
            feed_chunks(LineSplitter(), cut(padded, cuts)), reference_lines(padded, 1024)
        )


class ControlCharacterTests(SynchronousTestCase):
    """C0 except TAB, DEL and C1 (U+0080-U+009F) are control characters; nothing else is."""

    def test_c0_except_tab(self) -> None:
        for code in range(0x20):
            with self.subTest(code=code):
                self.assertEqual(has_control_characters(f"a{chr(code)}b"), code != 0x09)

    def test_del(self) -> None:
        self.assertTrue(has_control_characters("a\x7f"))

    def test_c1(self) -> None:
        for code in range(0x80, 0xA0):
            with self.subTest(code=code):
                self.assertTrue(has_control_characters(chr(code)))

    def test_ansi_escape(self) -> None:
        self.assertTrue(has_control_characters("\x1b[2J\x1b[31mhola"))
        self.assertTrue(has_control_characters("\u009b31m"))  # the 8-bit CSI

    def test_printable_text_is_fine(self) -> None:
        for text in ["", "hola", "a\tb", " ", "~", "\u00a0", "ñ ÿ À", "🎉", "\u0100", "\ufeff"]:
            with self.subTest(text=text):
                self.assertFalse(has_control_characters(text))

    def test_boundaries(self) -> None:
        self.assertFalse(has_control_characters("\x20"))
        self.assertFalse(has_control_characters("\x7e"))
        self.assertFalse(has_control_characters("\xa0"))
        self.assertTrue(has_control_characters("\x1f"))
        self.assertTrue(has_control_characters("\x9f"))

    def test_newline_characters(self) -> None:
        self.assertTrue(has_control_characters("a\nb"))
        self.assertTrue(has_control_characters("a\rb"))


class SplitFirstWordTests(SynchronousTestCase):
    """The first word ends at the first space or tab; the rest is kept verbatim."""

    def test_word_and_rest(self) -> None:
        self.assertEqual(split_first_word("bob hola mundo"), ("bob", "hola mundo"))

    def test_only_one_separator_is_consumed(self) -> None:
        self.assertEqual(split_first_word("bob  hola  "), ("bob", " hola  "))

    def test_tab_separator(self) -> None:
        self.assertEqual(split_first_word("bob\thola"), ("bob", "hola"))

    def test_no_rest(self) -> None:
        self.assertEqual(split_first_word("bob"), ("bob", ""))

    def test_separator_only(self) -> None:
        self.assertEqual(split_first_word("bob "), ("bob", ""))

    def test_empty(self) -> None:
        self.assertEqual(split_first_word(""), ("", ""))

    def test_leading_space_gives_empty_word(self) -> None:
        self.assertEqual(split_first_word(" bob hola"), ("", "bob hola"))

    def test_rest_may_hold_anything(self) -> None:
        self.assertEqual(split_first_word("a b\nc\x00"), ("a", "b\nc\x00"))

    @given(st.text())
    def test_round_trip(self, text: str) -> None:
        word, rest = split_first_word(text)
        self.assertNotIn(" ", word)
        self.assertNotIn("\t", word)
        if len(word) == len(text):
            self.assertEqual(rest, "")
        else:
            self.assertIn(text[len(word)], " \t")
            self.assertEqual(word + text[len(word)] + rest, text)
