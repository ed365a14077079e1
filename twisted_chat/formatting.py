"""IRC formatting codes and CTCP in message text: what IRC users may send, and the plain text
everyone else reads.

IRC users colour and style their messages with control characters
(https://modern.ircdocs.horse/formatting): ``\\x02`` bold, ``\\x1d`` italic, ``\\x1f``
underline, ``\\x1e`` strikethrough, ``\\x11`` monospace, ``\\x16`` reverse, ``\\x0f`` reset,
``\\x03`` colour (with its digits, ``\\x03NN[,NN]``) and ``\\x04`` hex colour
(``\\x04RRGGBB[,RRGGBB]``). A CTCP message (https://modern.ircdocs.horse/ctcp) is a whole text
between ``\\x01`` delimiters: ``\\x01ACTION baila\\x01`` is ``/me baila``.

The chat keeps such a text as it was sent (events, history); IRC renderers write it as it is,
the others read :func:`strip_formatting`'s plain text (never a control character on a
terminal), and an action as its own form. Only IRC's ``PRIVMSG`` and ``NOTICE`` may carry them:
every other control character, and these anywhere else, are refused as on every transport.

Every function here is cheap on plain text: a text without any control character
(``str.isprintable``, done in C) is returned as it is.
"""

from __future__ import annotations

import re
from typing import Final

#: The CTCP delimiter.
CTCP: Final = "\x01"
#: How an action (``/me``) starts, and how it ends.
ACTION_START: Final = "\x01ACTION "
ACTION_END: Final = "\x01"

#: A formatting code with its arguments (a colour's digits, a hex colour's digits).
_FORMAT_RE: Final = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
#: The control characters refused on IRC too: every C0 but TAB, CTCP's delimiter and the
#: formatting codes; DEL; C1.
_IRC_REFUSED_RE: Final = re.compile("[\x00\x05-\x08\x0a-\x0e\x10\x12-\x15\x17-\x1c\x7f-\x9f]")
#: A CTCP command: a word of ASCII letters and digits (``ACTION``, ``VERSION``, ``PING``...).
_CTCP_COMMAND_RE: Final = re.compile("[A-Za-z0-9]+")


def strip_formatting(text: str) -> str:
    """``text`` without its formatting codes (a colour's digits go with it); ``text`` itself
    when it has no control character."""
    if text.isprintable():
        return text
    return _FORMAT_RE.sub("", text)


def has_refused_controls(text: str) -> bool:
    """Whether ``text`` holds a control character that no transport accepts: anything but
    TAB, the formatting codes and CTCP's delimiter (an IRC line's check)."""
    return not text.isprintable() and _IRC_REFUSED_RE.search(text) is not None


def has_codes(text: str) -> bool:
    """Whether ``text`` holds a formatting code or CTCP's delimiter."""
    return not text.isprintable() and (CTCP in text or _FORMAT_RE.search(text) is not None)


def ctcp_command(text: str) -> str | None:
    """The command of the CTCP message ``text`` (upper case: ``ACTION``, ``VERSION``), ``None``
    if ``text`` is no CTCP message (it does not start with ``\\x01``)."""
    if not text.startswith(CTCP):
        return None
    inner = text[1:-1] if text.endswith(CTCP) and len(text) > 1 else text[1:]
    return inner.partition(" ")[0].upper()


def valid_message(text: str) -> bool:
    """Whether ``text`` may be an IRC user's message: plain or formatted text without a
    ``\\x01``, or one CTCP message (``\\x01`` first, a command word, its final ``\\x01``
    optional, none inside)."""
    if CTCP not in text:
        return True
    if not text.startswith(CTCP):
        return False  # a lone delimiter inside a text
    inner = text[1:-1] if text.endswith(CTCP) and len(text) > 1 else text[1:]
    if CTCP in inner:
        return False
    command = inner.partition(" ")[0]
    return _CTCP_COMMAND_RE.fullmatch(command) is not None


def normalise_ctcp(text: str) -> str:
    """A valid CTCP message (:func:`valid_message`) with its command in upper case and its
    final delimiter (clients may leave it out): ``\\x01action baila`` is
    ``\\x01ACTION baila\\x01``."""
    inner = text[1:-1] if text.endswith(CTCP) and len(text) > 1 else text[1:]
    command, space, rest = inner.partition(" ")
    return f"{CTCP}{command.upper()}{space}{rest}{CTCP}"


def action(text: str) -> str:
    """The text of ``/me TEXT``: the CTCP action every transport shares."""
    return f"{ACTION_START}{text}{ACTION_END}"


def is_action(text: str) -> bool:
    """Whether ``text`` is an action (as :func:`normalise_ctcp` and :func:`action` write it)."""
    return text.startswith(ACTION_START) and text.endswith(ACTION_END)


def action_text(text: str) -> str:
    """What an action (:func:`is_action`) says, formatting and all."""
    return text[len(ACTION_START) : -len(ACTION_END)]


def is_ctcp_query(text: str) -> bool:
    """Whether ``text`` is a CTCP message other than an action (``VERSION``, ``PING``...):
    meant for IRC clients only, never shown to others nor kept."""
    return text.startswith(CTCP) and not is_action(text)


def plain_text(text: str) -> str:
    """The words of ``text`` as a reader without IRC sees them: an action's own text, a CTCP
    query's nothing, formatting removed (what ``/buscar`` looks for)."""
    if text.isprintable():
        return text
    if text.startswith(CTCP):
        if not is_action(text):
            return ""
        text = action_text(text)
    return _FORMAT_RE.sub("", text)
