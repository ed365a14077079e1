"""Protocol v1 on the wire (docs/PROTOCOL.md): the five server line forms, the action's
(``** NICK TEXT``, an extension), and the renderer that turns the chat's events into them.

Every function returns the complete UTF-8 line including its CRLF terminator, so that a message
fanned out to many recipients is encoded exactly once.

A message's text may hold what IRC users send (:mod:`twisted_chat.formatting`): formatting
codes, removed here (never a control character to a terminal); an action (``/me``), shown as
its own form; another CTCP message, not shown at all (an empty rendering: nothing is written).
Plain text, the common case, is told apart by one ``str.isprintable`` (in C) per rendering.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from twisted_chat import formatting
from twisted_chat.events import (
    Error,
    Event,
    Joined,
    Left,
    Notice,
    Private,
    Public,
    Renamed,
    Replayed,
    Text,
    Topic,
)
from twisted_chat.formatting import strip_formatting
from twisted_chat.text import Catalogue, Language, localise

#: Terminator of every server line.
CRLF: Final = b"\r\n"


def notice(text: str) -> bytes:
    """``* TEXT``: a notice from the server (prompts, welcome, join/leave, command output)."""
    return f"* {text}\r\n".encode()


def error(text: str) -> bytes:
    """``! TEXT``: an error."""
    return f"! {text}\r\n".encode()


def public(sender: str, text: str) -> bytes:
    """``<NICK> TEXT``: a public message from ``sender``."""
    return f"<{sender}> {text}\r\n".encode()


def private(sender: str, text: str) -> bytes:
    """``*NICK* TEXT``: a private message from ``sender`` to the reader."""
    return f"*{sender}* {text}\r\n".encode()


def stamp(ms: int) -> str:
    """The time ``ms`` (milliseconds since the epoch) as stored lines show it:
    ``2026-12-06T03:34:47Z`` (UTC, ISO 8601, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def action(sender: str, text: str) -> bytes:
    """``** NICK TEXT``: NICK's action (``/me TEXT``, IRC's CTCP ``ACTION``) in its room."""
    return f"** {sender} {text}\r\n".encode()


def replayed(ms: int, sender: str, text: str, recado: bool = False) -> bytes:
    """``* [TIME] <NICK> TEXT`` (a stored public message), ``* [TIME] ** NICK TEXT`` (a stored
    action) or ``* [TIME] *NICK* TEXT`` (a recado): a stored line, a notice so that a v1
    script never takes it for live traffic. Formatting codes are removed; a stored CTCP query
    (never kept by this server) is nothing."""
    if not text.isprintable():
        if formatting.is_ctcp_query(text):
            return b""
        if formatting.is_action(text):
            plain = strip_formatting(formatting.action_text(text))
            return f"* [{stamp(ms)}] ** {sender} {plain}\r\n".encode()
        text = strip_formatting(text)
    if recado:
        return f"* [{stamp(ms)}] *{sender}* {text}\r\n".encode()
    return f"* [{stamp(ms)}] <{sender}> {text}\r\n".encode()


def _formatted_public(sender: str, text: str) -> bytes:
    """A public message whose text is not printable: an action, a CTCP query (nothing), or
    text with formatting codes (removed) or a TAB."""
    if text.startswith(formatting.CTCP):
        if formatting.is_action(text):
            return action(sender, strip_formatting(formatting.action_text(text)))
        return b""
    return f"<{sender}> {strip_formatting(text)}\r\n".encode()


def _plain_private(text: str) -> str | None:
    """The text of a private message that is not printable as a line user reads it (an
    action as ``* TEXT``), or ``None`` for a CTCP query (not shown)."""
    if text.startswith(formatting.CTCP):
        if formatting.is_action(text):
            return "* " + strip_formatting(formatting.action_text(text))
        return None
    return strip_formatting(text)


def private_echo(recipient: str, text: str) -> bytes:
    """``-> *NICK* TEXT``: the sender's copy of a private message it sent to ``recipient``."""
    return f"-> *{recipient}* {text}\r\n".encode()


class LineRenderer:
    """Events as protocol v1 lines (bytes with their CRLF), in the server's language.

    One renderer serves every connection of a transport; the room asks it once per broadcast
    and hands the same bytes to each recipient.
    """

    __slots__ = ("_forms", "_plain", "_plain_texts", "language")

    def __init__(self, language: Language) -> None:
        #: The language notices and errors are said in (a reload may change it).
        self.language = language
        # The lines of the notices and errors without arguments (the prompt, most refusals),
        # in the language they were rendered in: each is rendered once.
        self._plain: dict[tuple[str, str], bytes] = {}
        self._plain_texts: Catalogue | None = None
        self._forms: dict[type[Event], Callable[[Event], bytes]] = {
            Public: self._public,  # type: ignore[dict-item]
            Private: self._private,  # type: ignore[dict-item]
            Joined: self._joined,  # type: ignore[dict-item]
            Left: self._left,  # type: ignore[dict-item]
            Notice: self._notice,  # type: ignore[dict-item]
            Error: self._error,  # type: ignore[dict-item]
            Topic: self._topic,  # type: ignore[dict-item]
            Replayed: self._replayed,  # type: ignore[dict-item]
            Renamed: self._renamed,  # type: ignore[dict-item]
        }

    def render(self, event: Event) -> bytes:
        """``event`` as the line(s) its recipients read (messages, the most frequent, are
        rendered here without a second call)."""
        kind = type(event)
        if kind is Public:
            text = event.text  # type: ignore[attr-defined]
            if text.isprintable():
                return f"<{event.sender}> {text}\r\n".encode()  # type: ignore[attr-defined]
            return _formatted_public(event.sender, text)  # type: ignore[attr-defined]
        if kind is Private:
            text = event.text  # type: ignore[attr-defined]
            if text.isprintable():
                return f"*{event.sender}* {text}\r\n".encode()  # type: ignore[attr-defined]
            return self._private(event)  # type: ignore[arg-type]
        return self._forms[kind](event)

    def render_echo(self, event: Private) -> bytes:
        """``-> *RECIPIENT* TEXT``: a private message as its sender reads it."""
        text = event.text
        if text.isprintable():
            return f"-> *{event.recipient}* {text}\r\n".encode()
        plain = _plain_private(text)
        return b"" if plain is None else f"-> *{event.recipient}* {plain}\r\n".encode()

    def text(self, text: Text) -> str:
        """``text`` in this renderer's language (without prefix or terminator)."""
        return localise(self.language.texts, text)

    @staticmethod
    def _public(event: Public) -> bytes:
        text = event.text
        if text.isprintable():
            return f"<{event.sender}> {text}\r\n".encode()
        return _formatted_public(event.sender, text)

    @staticmethod
    def _private(event: Private) -> bytes:
        text: str | None = event.text
        if not event.text.isprintable() and (text := _plain_private(event.text)) is None:
            return b""
        return f"*{event.sender}* {text}\r\n".encode()

    def _joined(self, event: Joined) -> bytes:
        texts = self.language.texts
        if event.place is not None:
            return notice(texts.room_joined.format(nick=event.nick, room=event.place))
        return notice(texts.joined.format(nick=event.nick))

    def _left(self, event: Left) -> bytes:
        texts = self.language.texts
        if event.by is not None:
            reason = event.reason or texts.no_reason
            return notice(
                texts.room_kicked.format(
                    by=event.by, nick=event.nick, room=event.place, reason=reason
                )
            )
        if event.place is not None:
            return notice(texts.room_left.format(nick=event.nick, room=event.place))
        return notice(texts.left.format(nick=event.nick))

    @staticmethod
    def _replayed(event: Replayed) -> bytes:
        return replayed(event.time, event.sender, event.text, event.recado)

    def _renamed(self, event: Renamed) -> bytes:
        return notice(self.language.texts.renamed.format(nick=event.old, new=event.new))

    def _topic(self, event: Topic) -> bytes:
        return notice(self.language.texts.topic_set.format(nick=event.nick, topic=event.topic))

    def _notice(self, event: Notice) -> bytes:
        text = event.text
        if not text.args:
            return self._plain_line("* ", text.key)
        return notice(localise(self.language.texts, text))

    def _error(self, event: Error) -> bytes:
        text = event.text
        if not text.args:
            return self._plain_line("! ", text.key)
        return error(localise(self.language.texts, text))

    def _plain_line(self, prefix: str, key: str) -> bytes:
        """The line of the catalogue entry ``key`` (without arguments) after ``prefix``."""
        texts = self.language.texts
        if texts is not self._plain_texts:  # the language changed: start again
            self._plain = {}
            self._plain_texts = texts
        line = self._plain.get((prefix, key))
        if line is None:
            line = self._plain[prefix, key] = f"{prefix}{getattr(texts, key)}\r\n".encode()
        return line
