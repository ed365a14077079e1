"""Nickname rules: normalisation, validation and the case-insensitive identity key."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Longest nickname, in characters.
MAX_NICKNAME_LENGTH: Final = 20

_LETTER = "A-Za-zÀ-ÖØ-öø-ÿ"
_NICKNAME_RE: Final = re.compile(
    rf"[{_LETTER}][{_LETTER}0-9_-]{{0,{MAX_NICKNAME_LENGTH - 1}}}", re.ASCII
)


def normalize(raw: str) -> str:
    """Return the NFC form of ``raw`` with surrounding spaces and tabs removed."""
    return unicodedata.normalize("NFC", raw.strip(" \t"))


def is_valid(nickname: str) -> bool:
    """Whether an already normalised ``nickname`` is acceptable.

    A nickname starts with a letter (ASCII or Latin-1: ``À-Ö``, ``Ø-ö``, ``ø-ÿ``) followed by at
    most 19 more letters, digits, ``_`` or ``-``.
    """
    return _NICKNAME_RE.fullmatch(nickname) is not None


def key(nickname: str) -> str:
    """The identity of a nickname: NFC, then ``str.casefold`` (``Ana`` and ``ana`` are one)."""
    if nickname.isascii():  # the common case: NFC is the identity, casefold is lower
        return nickname.lower()
    return unicodedata.normalize("NFC", nickname).casefold()
