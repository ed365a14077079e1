"""Message ids: unique in the whole cluster and for all time, cheap enough for every message.

IRCv3's ``message-ids`` asks for ids that no other message of the network ever had, and
suggests "a server prefix plus a time plus a counter, or random bytes". Ours is the first: each
run of a server takes a prefix made of its start time in milliseconds and 40 random bits (two
runs, of this node or of any other, share one only if they start in the same millisecond and
draw the same bits), and numbers its messages from there with a plain counter. An id is a short
ASCII word (``[0-9a-vx]``, about 20 characters, at most 32): the prefix in base 32, then the
counter as Python's ``hex`` writes it (``0x100000000001f``: the fastest way to write a number,
and its ``0x`` marks where the prefix ends). The counter starts at 2**48, so that its digits are
always 13 (until 2**52 messages of one run): the ids of one run then sort as they were made, as
plain strings (the database orders a room's history by time, then id).

Ids say nothing about order between runs or nodes; order inside a room comes from the time and,
in a cluster, from the one place that publishes.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Final

#: The first number of a run's counter: 13 hex digits, as every later one (see above).
FIRST_NUMBER: Final = 1 << 48

#: Digits of the base-32 alphabet used in ids (lower case, no padding).
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuv"


def base32(number: int) -> str:
    """``number`` (at least 0) in base 32 with the digits ``0-9a-v``."""
    if number == 0:
        return "0"
    digits = []
    while number:
        number, digit = divmod(number, 32)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


def run_prefix(now: float | None = None, random_bytes: bytes | None = None) -> str:
    """A new prefix for one run of a server: its start time in milliseconds, then 40 random
    bits, in base 32 (``now`` and ``random_bytes`` for tests)."""
    millis = int((time.time() if now is None else now) * 1000)
    noise = int.from_bytes(os.urandom(5) if random_bytes is None else random_bytes, "big")
    return base32(millis) + base32(noise).rjust(8, "0")


class MessageIds:
    """The id of each message of one server run, in the order they are asked for."""

    __slots__ = ("counter", "prefix")

    def __init__(self, prefix: str | None = None) -> None:
        #: This run's prefix (see :func:`run_prefix`).
        self.prefix = prefix or run_prefix()
        #: The numbers of the ids, in order (the event source steps it inline, on the path of
        #: every message).
        self.counter = itertools.count(FIRST_NUMBER)

    def next(self) -> str:
        """A new id: the prefix and the next number as ``hex`` writes it (``0x1f``)."""
        return self.prefix + hex(next(self.counter))
