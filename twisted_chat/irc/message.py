"""IRC messages on the wire: parsing a client's line, and writing a server's.

The grammar is the modern one (https://modern.ircdocs.horse/#messages) with IRCv3 message tags
(https://ircv3.net/specs/extensions/message-tags): ``[@tags] [:source] COMMAND [params]``, the
last parameter after `` :`` may hold spaces. A line without its tags may be at most
:data:`MAX_LINE` bytes with its CRLF (a longer one is answered ``417``); the tags of a client
at most :data:`MAX_CLIENT_TAGS` bytes. Parsing never raises on what a client sends: a line that
is not a message is :data:`None`, and the protocol answers it.

Lines arrive already split and decoded (:mod:`twisted_chat.lines`, our own splitter); this
module only deals with one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from twisted_chat.formatting import has_codes

#: Most bytes of a line without its tags, CRLF included (RFC 1459's 512).
MAX_LINE: Final = 512
#: Most bytes of a client's tag data, without the leading ``@`` and the space after it (4096
#: with them): the message-tags spec's "Clients MUST NOT send messages with tag data
#: exceeding 4094 bytes" (irctest's ``testLengthLimits``: exactly 4096 with them passes).
MAX_CLIENT_TAGS: Final = 4094
#: Most parameters of one message.
MAX_PARAMS: Final = 15

_UNESCAPE: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE: Final = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: its tags, source (``None`` from a client), command (upper case) and
    parameters."""

    command: str
    params: Sequence[str] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class TooLong(ValueError):
    """A line longer than IRC allows (answered ``417 ERR_INPUTTOOLONG``)."""


def unescape_tag_value(value: str) -> str:
    """A tag value as sent (``\\s`` for a space, ``\\:`` for ``;``...) made plain."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 1
            if i < len(value):  # a lone backslash at the end is dropped
                out.append(_UNESCAPE.get(value[i], value[i]))
        else:
            out.append(char)
        i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """A plain tag value as it must be sent."""
    return value.translate(_ESCAPE)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(value)
    return tags


def parse(line: str) -> Message | None:
    """The message of one client line (without its CRLF), or ``None`` if there is none (an
    empty line, tags or a source alone). Raises :class:`TooLong` for a line over the limits."""
    tags: dict[str, str] = {}
    rest = line
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        if len(raw_tags.encode("utf-8")) > MAX_CLIENT_TAGS:
            raise TooLong("tags too long")
        tags = _parse_tags(raw_tags)
        rest = rest.lstrip(" ")
    if len(rest.encode("utf-8")) + 2 > MAX_LINE:
        raise TooLong("line too long")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if " :" in rest or rest.startswith(":"):
        if rest.startswith(":"):
            head, trailing = "", rest[1:]
        else:
            head, _, trailing = rest.partition(" :")
        words = [w for w in head.split(" ") if w]
        if not words:
            return None
        params = [*words[1:], trailing]
    else:
        words = [w for w in rest.split(" ") if w]
        if not words:
            return None
        params = words[1:]
    command = words[0].upper()
    if len(params) > MAX_PARAMS:  # the rest belongs to the last one, as servers do
        params = [*params[: MAX_PARAMS - 1], " ".join(params[MAX_PARAMS - 1 :])]
    return Message(command, tuple(params), source, tags)


#: The commands whose text may hold formatting codes and CTCP.
TEXT_COMMANDS: Final = frozenset({"PRIVMSG", "NOTICE"})


def codes_in_place(line: str, message: Message) -> bool:
    """Whether the formatting codes and CTCP delimiters of ``line`` (parsed as ``message``), if
    any, are where IRC users may send them: in the text of a ``PRIVMSG`` or ``NOTICE`` (its
    last parameter, which ends the line), nowhere else (not in tags, a target, a topic...)."""
    if not has_codes(line):
        return True
    params = message.params
    if message.command not in TEXT_COMMANDS or len(params) != 2:
        return False
    text = params[1]
    return line.endswith(text) and not has_codes(line[: len(line) - len(text)])


def format_message(
    command: str,
    params: Sequence[str] = (),
    source: str | None = None,
    tags: Mapping[str, str] | None = None,
    trailing: bool = False,
) -> str:
    """A server line (without CRLF): the last parameter after `` :`` when it needs it (empty,
    with a space, or starting with ``:``), or always with ``trailing`` (text, a list)."""
    parts: list[str] = []
    if tags:
        parts.append(
            "@"
            + ";".join(
                f"{key}={escape_tag_value(value)}" if value else key for key, value in tags.items()
            )
        )
    if source:
        parts.append(":" + source)
    parts.append(command)
    if params:
        *middle, last = params
        parts.extend(middle)
        if trailing or not last or " " in last or last.startswith(":"):
            parts.append(":" + last)
        else:
            parts.append(last)
    return " ".join(parts)


#: A client-only tag's name: ``+``, an optional vendor (a host name) and ``/``, then letters,
#: digits and ``-`` (https://ircv3.net/specs/extensions/message-tags#format).
_CLIENT_TAG_RE: Final = re.compile(r"\+(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+")


def client_tags(tags: Mapping[str, str]) -> dict[str, str] | None:
    """The client-only tags of a client's ``tags`` (those whose name starts with ``+`` and is
    well formed; the others dropped), or ``None`` if it sent none. Their size is bounded by
    :func:`parse` (:data:`MAX_CLIENT_TAGS` as sent; escaped again they are no longer)."""
    found = {
        key: value
        for key, value in tags.items()
        if key.startswith("+") and _CLIENT_TAG_RE.fullmatch(key)
    }
    return found or None
