"""Room names: normalisation, validation and the case-insensitive identity key (as nicknames)."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Longest room name, in characters.
MAX_ROOM_NAME_LENGTH: Final = 32
#: How many rooms may exist at once, by default (``--max-rooms``).
DEFAULT_MAX_ROOMS: Final = 1000
#: How many rooms one IRC user may be in at once, by default (``--irc-max-channels``: IRC's
#: ``CHANLIMIT``; a line or web user is in one).
DEFAULT_MAX_CHANNELS: Final = 20
#: Longest topic, in characters.
MAX_TOPIC_LENGTH: Final = 300

_LETTER = "A-Za-zÀ-ÖØ-öø-ÿ"
_ROOM_RE: Final = re.compile(
    rf"[{_LETTER}0-9][{_LETTER}0-9_-]{{0,{MAX_ROOM_NAME_LENGTH - 1}}}", re.ASCII
)


def normalize(raw: str) -> str:
    """The NFC form of ``raw`` without surrounding spaces and tabs, and without one leading
    ``#`` (an IRC habit: ``#juegos`` is ``juegos``)."""
    name = unicodedata.normalize("NFC", raw.strip(" \t"))
    return name[1:] if name.startswith("#") else name


def is_valid(name: str) -> bool:
    """Whether an already normalised ``name`` is acceptable: a letter (ASCII or Latin-1) or a
    digit, then at most 31 more letters, digits, ``_`` or ``-``."""
    return _ROOM_RE.fullmatch(name) is not None


def key(name: str) -> str:
    """The identity of a room: NFC, then ``str.casefold`` (``Juegos`` and ``juegos`` are one)."""
    if name.isascii():
        return name.lower()
    return unicodedata.normalize("NFC", name).casefold()
