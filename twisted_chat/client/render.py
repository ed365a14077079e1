"""Server lines as the user sees them: their kind, control characters escaped, colour.

A server line has one of the five forms of docs/PROTOCOL.md; :func:`classify` tells them apart by
prefix, and tells the stored lines of version 1.1 (``* [TIME] <NICK> TEXT``, a public message from
the history, and ``* [TIME] *NICK* TEXT``, a recado) from other notices. :func:`escape` makes
every control character visible as text (``\\x1b``, ``\\u202e``) so that nothing a server or
another user sends can move the cursor, change colours or reorder text on the user's terminal.
:func:`render` combines both and adds colour as plain SGR sequences.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final


class Kind(enum.Enum):
    """The form of a server line (docs/PROTOCOL.md, "Server lines")."""

    NOTICE = "notice"  # * TEXT
    ERROR = "error"  # ! TEXT
    PUBLIC = "public"  # <NICK> TEXT
    PRIVATE = "private"  # *NICK* TEXT
    ECHO = "echo"  # -> *NICK* TEXT
    ACTION = "action"  # ** NICK TEXT (an action: /me, IRC's CTCP ACTION; an extension)
    HISTORY_ACTION = "history_action"  # * [TIME] ** NICK TEXT (a stored action)
    HISTORY = "history"  # * [TIME] <NICK> TEXT (a stored public message)
    RECADO = "recado"  # * [TIME] *NICK* TEXT (a message left for the user)
    OTHER = "other"  # anything else (a server that breaks the contract)


@dataclass(frozen=True)
class ServerLine:
    """One server line split into its kind, the nickname it names (if any), its text, and for
    a stored line the time it was said (``2026-12-06T03:34:47Z``)."""

    kind: Kind
    nick: str | None
    text: str
    raw: str
    time: str | None = None


_PUBLIC: Final = re.compile(r"<([^<>\s]+)> (.*)", re.DOTALL)
_PRIVATE: Final = re.compile(r"\*([^*\s]+)\* (.*)", re.DOTALL)
_ECHO: Final = re.compile(r"-> \*([^*\s]+)\* (.*)", re.DOTALL)
_ACTION: Final = re.compile(r"\*\* (\S+) (.*)", re.DOTALL)
_STORED: Final = re.compile(
    r"\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^<>\s]+)>|\*([^*\s]+)\*|\*\* (\S+)) (.*)",
    re.DOTALL,
)
#: The line before the recados delivered at login (``* Tienes 2 recados:``).
_RECADOS_HEADER: Final = re.compile(r"\* (?:Tienes \d+ recados?|You have \d+ memos?):")


def classify(line: str) -> ServerLine:
    """Split a decoded server line (without its CRLF) by its prefix."""
    if line.startswith("* ["):
        match = _STORED.fullmatch(line)
        if match:
            time, public, sender, actor, text = match.groups()
            if public is not None:
                return ServerLine(Kind.HISTORY, public, text, line, time)
            if actor is not None:
                return ServerLine(Kind.HISTORY_ACTION, actor, text, line, time)
            return ServerLine(Kind.RECADO, sender, text, line, time)
    if line.startswith("* "):
        return ServerLine(Kind.NOTICE, None, line[2:], line)
    if line.startswith("! "):
        return ServerLine(Kind.ERROR, None, line[2:], line)
    patterns = (
        (Kind.ECHO, _ECHO),
        (Kind.ACTION, _ACTION),
        (Kind.PRIVATE, _PRIVATE),
        (Kind.PUBLIC, _PUBLIC),
    )
    for kind, pattern in patterns:
        match = pattern.fullmatch(line)
        if match:
            return ServerLine(kind, match.group(1), match.group(2), line)
    return ServerLine(Kind.OTHER, None, line, line)


def needs_escape(char: str) -> bool:
    """Whether ``char`` would act on the terminal instead of being shown.

    C0 (including TAB, CR and LF), DEL and C1 are control characters; Unicode format characters
    (category ``Cf``: bidi overrides and isolates, zero-width joiners, the BOM) and the line and
    paragraph separators reorder or break what follows; surrogates cannot be printed.
    """
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    return unicodedata.category(char) in ("Cf", "Zl", "Zp", "Cs")


def _escaped(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every control and format character replaced by its ``\\x..`` spelling."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_escaped(c) if needs_escape(c) else c for c in text)


def decode(raw: bytes) -> str:
    """A server line's bytes as text; invalid UTF-8 shows up as ``\\xNN`` escapes."""
    return raw.decode("utf-8", errors="backslashreplace")


#: SGR sequences used for each part of a line.
RESET: Final = "\x1b[0m"
DIM: Final = "\x1b[2m"
RED: Final = "\x1b[31m"
BOLD: Final = "\x1b[1m"
PRIVATE_STYLE: Final = "\x1b[1;35m"  # bold magenta: messages to you and your echoes
NICK_STYLE: Final = "\x1b[1m"  # the sender of a public message
MENTION_STYLE: Final = "\x1b[1;33m"  # your own nickname inside a public message
LOCAL_STYLE: Final = "\x1b[36m"  # lines the client itself prints (connection state)
RECADO_STYLE: Final = "\x1b[1;32m"  # bold green: recados and the line announcing them
#: The kinds shown whole in one style: notices dim, errors red, private messages magenta.
_WHOLE_LINE_STYLES: Final = {
    Kind.NOTICE: DIM,
    Kind.ERROR: RED,
    Kind.PRIVATE: PRIVATE_STYLE,
    Kind.ECHO: PRIVATE_STYLE,
}


def _mention_pattern(nick: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(escape(nick))}(?!\w)", re.IGNORECASE)


def stored_time(time: str, *, tz: tzinfo | None = None, now: datetime | None = None) -> str:
    """A stored line's UTC time (``2026-12-06T03:34:47Z``) as the user reads it: in ``tz``
    (default: the local time zone), ``HH:MM`` on the day of ``now`` (default: now), else
    ``YYYY-MM-DD HH:MM``."""
    when = datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    when = when.astimezone(tz)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    return when.strftime("%H:%M" if when.date() == today else "%Y-%m-%d %H:%M")


def render(
    line: ServerLine,
    *,
    colour: bool,
    own_nick: str | None = None,
    tz: tzinfo | None = None,
    now: datetime | None = None,
) -> str:
    """The text to show for ``line``: escaped, and coloured by kind when ``colour`` is true.

    With colour, notices are dim, errors red, private messages and echoes bold magenta, the
    sender of a public message bold and ``own_nick`` highlighted wherever it appears in a public
    message's text. Stored lines show their time in ``tz`` (see :func:`stored_time`): a public
    message from the history all dim (faint), a recado and the line announcing recados bold
    green. Without colour every line is shown as received (a stored line with its UTC time).
    """
    if not colour:
        return escape(line.raw)
    if line.kind in (Kind.HISTORY, Kind.HISTORY_ACTION, Kind.RECADO):
        assert line.nick is not None and line.time is not None
        when = escape(stored_time(line.time, tz=tz, now=now))
        if line.kind is Kind.HISTORY:
            return f"{DIM}[{when}] <{escape(line.nick)}> {escape(line.text)}{RESET}"
        if line.kind is Kind.HISTORY_ACTION:
            return f"{DIM}[{when}] * {escape(line.nick)} {escape(line.text)}{RESET}"
        return f"{RECADO_STYLE}[{when}] *{escape(line.nick)}*{RESET} {escape(line.text)}"
    if line.kind is Kind.NOTICE and _RECADOS_HEADER.fullmatch(line.raw):
        return f"{RECADO_STYLE}{escape(line.raw)}{RESET}"
    style = _WHOLE_LINE_STYLES.get(line.kind)
    if style is not None:
        return f"{style}{escape(line.raw)}{RESET}"
    if line.kind is Kind.ACTION:
        assert line.nick is not None
        return f"{NICK_STYLE}* {escape(line.nick)}{RESET} {escape(line.text)}"
    if line.kind is Kind.PUBLIC:
        assert line.nick is not None
        text = escape(line.text)
        if own_nick:
            text = _mention_pattern(own_nick).sub(
                lambda m: f"{MENTION_STYLE}{m.group(0)}{RESET}", text
            )
        return f"{NICK_STYLE}<{escape(line.nick)}>{RESET} {text}"
    return escape(line.raw)


def render_local(text: str, *, colour: bool) -> str:
    """A line the client prints about itself (``*** `` prefix, cyan with colour)."""
    shown = f"*** {escape(text)}"
    return f"{LOCAL_STYLE}{shown}{RESET}" if colour else shown


def display_width(text: str) -> int:
    """Columns ``text`` (free of escape sequences) takes: East Asian wide characters take two,
    combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width
