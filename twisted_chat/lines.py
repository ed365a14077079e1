"""Client line framing: bytes in, complete lines out, with a hard length limit.

We do our own splitting instead of ``LineReceiver.dataReceived``: Twisted's
``lineLengthExceeded`` hands over the rest of the buffer, so keeping the connection open would
turn the tail of a long line into a new line and lose the complete lines after it.

Rules (docs/PROTOCOL.md, "Framing"): lines end in LF; one trailing CR is stripped; the limit
applies after stripping; an over-long line is discarded up to its LF without being buffered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

#: The longest client line, in bytes, without its terminator (the original design's BUFFER).
MAX_LINE_LENGTH: Final = 1024


class LineTooLong:
    """Marker yielded once for each line that exceeded the limit (the line itself is dropped)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


#: The single :class:`LineTooLong` instance.
TOO_LONG: Final = LineTooLong()


class LineSplitter:
    """Incremental splitter: feed it TCP chunks, get back lines (without terminators).

    Memory is bounded: at most ``max_length + 1`` bytes of an unfinished line are kept (the ``+ 1``
    is room for the CR of a legal CRLF-terminated line). A line that grows past that is reported
    once as :data:`TOO_LONG` as soon as it is known to be too long, and the rest of it is skipped
    up to the next LF.
    """

    __slots__ = ("_buffer", "_discarding", "max_length")

    def __init__(self, max_length: int = MAX_LINE_LENGTH) -> None:
        self.max_length = max_length
        self._buffer = b""
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line currently buffered."""
        return len(self._buffer)

    @property
    def discarding(self) -> bool:
        """True while the rest of an over-long line is being skipped."""
        return self._discarding

    def feed(self, data: bytes) -> Sequence[bytes | LineTooLong]:
        """Consume ``data``; return each complete line, or :data:`TOO_LONG` for a dropped one.

        The caller may stop part-way through (for example after ``/salir``); the lines after
        that are then never processed, which is what the protocol wants.
        """
        if self._buffer or self._discarding or data[-1:] != b"\n":
            return list(self._feed_slowly(data))
        # The common case, done in C: the chunk ends with a whole line and nothing is pending.
        if 13 not in data:  # no CR (testing the int avoids b"\r"'s failed int conversion)
            lines = data.split(b"\n")
        elif data.count(b"\r\n") == data.count(b"\n"):  # every line ends in CRLF
            lines = data.split(b"\r\n")
        else:  # a mixture: strip one CR where there is one
            lines = [line[:-1] if line[-1:] == b"\r" else line for line in data.split(b"\n")]
        del lines[-1]
        if len(data) <= self.max_length + 1:  # then no line can be too long
            return lines
        limit = self.max_length
        return [TOO_LONG if len(line) > limit else line for line in lines]

    def _feed_slowly(self, data: bytes) -> Iterator[bytes | LineTooLong]:
        """The general case of :meth:`feed`: partial lines, and the tails of over-long ones."""
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        limit = self.max_length
        start = 0
        end = len(data)
        while start < end:
            newline = data.find(b"\n", start)
            if newline == -1:
                if not self._discarding:
                    tail = data[start:]
                    if self._over_limit(tail):
                        self._discarding = True
                        yield TOO_LONG
                    else:
                        self._buffer = tail
                return
            if self._discarding:
                self._discarding = False
                start = newline + 1
                continue
            stop = newline
            if stop > start and data[stop - 1] == 0x0D:  # one trailing CR
                stop -= 1
            start_next = newline + 1
            if stop - start > limit:
                yield TOO_LONG
            else:
                yield data[start:stop]
            start = start_next

    def _over_limit(self, partial: bytes) -> bool:
        """Whether an unterminated ``partial`` line can no longer become a legal line."""
        size = len(partial)
        if size <= self.max_length:
            return False
        # One extra byte is still legal if it is the CR of a CRLF terminator.
        return size > self.max_length + 1 or partial[-1] != 0x0D


_CONTROL_RE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 control (other than TAB), DEL or a C1 control (U+0080-U+009F).

    Such characters are refused after login: an ANSI escape relayed to a netcat user's terminal
    is an attack on that user.
    """
    # Fast path: a printable string has no control characters at all (every Cc is unprintable).
    return not text.isprintable() and _CONTROL_RE.search(text) is not None


def is_blank(text: str) -> bool:
    """Whether ``text`` is empty or only spaces and tabs (without copying it in the common case)."""
    return not text or (text[0] in " \t" and not text.strip(" \t"))


def split_first_word(text: str) -> tuple[str, str]:
    """Split ``text`` at its first space or tab: ``("word", "rest verbatim")``."""
    word, _, rest = text.partition(" ")
    if "\t" in word:  # a tab comes first
        word, _, rest = text.partition("\t")
    return word, rest
