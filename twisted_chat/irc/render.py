"""The chat's events as IRC lines: the renderer of every IRC connection with one set of
capabilities.

A room is channel ``#KEY`` (its key, :func:`twisted_chat.roomnames.key`: IRC names are
case-insensitive, and an event carries only the key). A user's source is ``NICK!NICK@SERVER``
(no user's address is shown to others). What the chat says to one user (a
:class:`~twisted_chat.events.Notice` or :class:`~twisted_chat.events.Error`) is a ``NOTICE`` to
its nickname, or a numeric when IRC has one for it (:data:`NUMERICS`): those need the
reader's nickname, so the session renders them for its reader alone
(:meth:`IrcRenderer.render_to`); :meth:`IrcRenderer.render` is for what is the same for every
recipient, rendered once per broadcast.

The capabilities that change what a line looks like (``server-time``, ``message-tags``,
``echo-message``) make one renderer per distinct set (:data:`RENDERING_CAPS`); the others change
replies to one user only.

A message's text goes out as it was sent, IRC's formatting codes and CTCP (``/me``) included
(:mod:`twisted_chat.formatting`). No line is longer than IRC's 512 bytes with its CRLF (tags
aside): a text that does not fit (a line user may send 1024 bytes) is split into several
messages at UTF-8 character boundaries (:func:`split_text`), each a whole message to the same
target (an action: each piece an action), once per renderer and broadcast like any rendering;
any other line that would not fit (a long topic) is cut at a character boundary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from typing import Final

from twisted_chat import formatting, roomnames
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
    Tagged,
    Text,
    Topic,
)
from twisted_chat.irc.message import MAX_LINE, escape_tag_value, format_message
from twisted_chat.text import Language, localise
from twisted_chat.wire import stamp

#: The capabilities a renderer depends on: a set of them is one renderer.
RENDERING_CAPS: Final = frozenset({"server-time", "message-tags", "echo-message"})

#: Errors of the chat that IRC says with a numeric (catalogue key -> numeric); the text stays
#: the chat's own, localised.
NUMERICS: Final = {
    "nick_invalid": "432",
    "nick_banned": "432",
    "nick_taken": "433",
    "password_needed": "464",
    "login_refused": "464",
    "line_too_long": "417",
    "topic_denied": "482",
    "topic_denied_permanent": "482",
    "rename_invalid": "432",
    "rename_banned": "432",
    "rename_taken": "433",
    "rename_registered": "433",
    "rename_too_soon": "438",
}

#: Numerics said in IRC's usual words rather than the chat's (whose differ: the chat's line
#: limit is not IRC's).
FIXED_WORDS: Final = {"417": "Input line was too long"}

#: Notices a v1 login gets that IRC says otherwise (the welcome is ``001``), or not at all (an
#: IRC user is in no room at login: nothing was missed there).
SILENT: Final = frozenset({"welcome", "prompt", "history_missed", "rename_same"})
#: Room notices that IRC users are told otherwise: an IRC user in no room came or left
#: (``JOIN`` and ``QUIT`` reach only those who share a channel with it).
ROOM_SILENT: Final = frozenset({"joined", "left"})


#: Most bytes of a server line without its tags and CRLF.
MAX_BODY: Final = MAX_LINE - 2
#: Where a piece of a split text may end at a space: in its last half.
_SPACE_FROM: Final = 2
#: A colour code and its digits, as bytes (a piece never ends inside one).
_COLOUR_RE: Final = re.compile(
    rb"\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
)


def split_text(text: str, room: int) -> list[str]:
    """``text`` as pieces of at most ``room`` bytes of UTF-8 each (``[text]`` when it fits):
    cut at character boundaries, at the last space of a piece when there is one in its last
    half (that space is dropped), and never inside a colour code and its digits."""
    data = text.encode("utf-8")
    size = len(data)
    if size <= room:
        return [text]
    room = max(room, 16)  # a character and a colour code always fit
    pieces: list[str] = []
    start = 0
    while size - start > room:
        end = start + room
        while data[end] & 0xC0 == 0x80:  # not inside a character: at its first byte
            end -= 1
        space = data.rfind(b" ", start + room // _SPACE_FROM, end + 1)
        if space > start:
            pieces.append(data[start:space].decode("utf-8"))
            start = space + 1
            continue
        code = max(data.rfind(b"\x03", start, end), data.rfind(b"\x04", start, end))
        if code > start and end - code < 16:
            match = _COLOUR_RE.match(data, code)
            if match is not None and match.end() > end:
                end = code  # the colour code goes whole to the next piece
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    if start < size:
        pieces.append(data[start:].decode("utf-8"))
    return pieces


def _cut_text(text: str, room: int) -> list[str]:
    """``text`` cut to at most ``room`` bytes of UTF-8 at a character boundary (one piece)."""
    data = text.encode("utf-8")
    if len(data) <= room:
        return [text]
    end = max(room, 4)
    while data[end] & 0xC0 == 0x80:
        end -= 1
    return [data[:end].decode("utf-8")]


def _fit(body: bytes) -> bytes:
    """A line's ``body`` (no tags, no CRLF) cut to :data:`MAX_BODY` bytes at a character
    boundary (its last parameter, the text, loses its end)."""
    end = MAX_BODY
    while body[end] & 0xC0 == 0x80:
        end -= 1
    return body[:end]


def server_time(ms: int) -> str:
    """``ms`` (since the epoch) as IRCv3 ``server-time``: ``2026-12-06T12:42:08.123Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def channel(room_key: str | None) -> str:
    """The channel of the room ``room_key``."""
    return f"#{room_key}"


class IrcRenderer:
    """Events as IRC lines (bytes with their CRLF) for the connections that negotiated
    ``caps`` (only :data:`RENDERING_CAPS` count), from the server ``server_name``, with the
    server's words in ``language``."""

    __slots__ = (
        "_forms",
        "_tagged",
        "caps",
        "client_tags",
        "echo",
        "is_member",
        "language",
        "server_name",
        "server_time",
    )

    def __init__(
        self,
        language: Language,
        server_name: str,
        caps: Collection[str] = (),
        is_member: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.language = language
        #: Whether a nickname is in a room now (room key, nickname): a login's ``JOIN`` is
        #: written only for someone in the room (an IRC user's login puts it in none).
        self.is_member = is_member
        self.server_name = server_name
        #: The capabilities this renderer serves (those of :data:`RENDERING_CAPS`).
        self.caps = frozenset(caps) & RENDERING_CAPS
        #: Whether its clients asked for their own messages back (``echo-message``).
        self.echo = "echo-message" in self.caps
        #: Whether lines carry the ``time`` tag (``server-time``).
        self.server_time = "server-time" in self.caps
        # Whether lines carry tags at all (``msgid`` comes with ``message-tags``).
        self._tagged = self.server_time or "message-tags" in self.caps
        #: Whether its clients read client-only tags and ``TAGMSG`` (``message-tags``).
        self.client_tags = "message-tags" in self.caps
        self._forms: dict[type[Event], Callable[[Event], bytes]] = {
            Public: self._public,  # type: ignore[dict-item]
            Private: self._private,  # type: ignore[dict-item]
            Joined: self._joined,  # type: ignore[dict-item]
            Left: self._left,  # type: ignore[dict-item]
            Topic: self._topic,  # type: ignore[dict-item]
            Replayed: self._replayed,  # type: ignore[dict-item]
            Renamed: self._renamed,  # type: ignore[dict-item]
            Notice: self._notice,  # type: ignore[dict-item]
            Error: self._error,  # type: ignore[dict-item]
            Tagged: self._tagmsg,  # type: ignore[dict-item]
        }

    # -- the Renderer protocol ------------------------------------------------------------------

    def render(self, event: Event) -> bytes:
        """``event`` as every IRC recipient of this renderer reads it."""
        return self._forms[type(event)](event)

    def render_echo(self, event: Private) -> bytes:
        """The sender's copy of its private message: the message itself with ``echo-message``,
        else nothing (an IRC client shows what it sent by itself)."""
        if not self.echo:
            return b""
        return self._private(event)

    # -- what one reader alone gets ----------------------------------------------------------------

    def render_to(self, event: Event, target: str, subject: str | None = None) -> bytes:
        """``event`` for the reader ``target`` (its nickname, ``*`` before it has one): a
        notice or error as a ``NOTICE`` to it or a numeric, a recado as a message to it
        (``subject``: the nickname a ``432`` or ``433`` is about, if the text does not say)."""
        kind = type(event)
        if kind is Notice or kind is Error:
            text: Text = event.text  # type: ignore[attr-defined]
            if text.key in SILENT:
                return b""
            if kind is Error and text.key == "bad_utf8":  # UTF8ONLY's standard reply
                words = localise(self.language.texts, text)
                return self.line(
                    "FAIL", "*", "INVALID_UTF8", words, source=self.server_name, trailing=True
                )
            if kind is Notice and text.key == "room_invited":
                return self._invite(text, target)
            numeric = NUMERICS.get(text.key) if kind is Error else None
            words = FIXED_WORDS.get(numeric or "") or localise(self.language.texts, text)
            if numeric is not None:
                params = _numeric_params(numeric, text, subject)
                return self.numeric(numeric, target, *params, words)
            return self.text_lines("NOTICE", target, words, self.server_name)
        if kind is Replayed and event.room is None:
            return self._stored(event, target)  # type: ignore[arg-type]
        return self.render(event)

    def motd_line(self, text: Text, target: str) -> bytes:
        """``text`` as a line of the MOTD (``372``) to ``target``."""
        return self.numeric("372", target, "- " + localise(self.language.texts, text))

    def numeric(self, code: str, target: str, *params: str, trailing: bool = True) -> bytes:
        """The server's reply ``code`` to ``target`` with ``params``, the last one (its text)
        after `` :`` unless ``trailing`` is false."""
        return self.line(code, target, *params, source=self.server_name, trailing=trailing)

    def line(
        self,
        command: str,
        *params: str,
        source: str | None = None,
        event: Event | None = None,
        trailing: bool = False,
        client: dict[str, str] | None = None,
    ) -> bytes:
        """One line from ``source`` (tagged as ``event`` when this renderer's caps say so, with
        the ``client``-only tags of its sender when it has ``message-tags``; ``trailing``: the
        last parameter after `` :`` even when it needs not be), cut to IRC's 512 bytes (tags
        aside) if it is longer."""
        body = format_message(command, params, source, None, trailing).encode("utf-8")
        if len(body) > MAX_BODY:
            body = _fit(body)
        if event is not None and self._tagged:
            return self._tag_bytes(event, client) + body + b"\r\n"
        return body + b"\r\n"

    def text_lines(
        self,
        command: str,
        target: str,
        text: str,
        source: str,
        event: Event | None = None,
        cut: bool = False,
        client: dict[str, str] | None = None,
    ) -> bytes:
        """``COMMAND TARGET :TEXT`` from ``source`` (a ``PRIVMSG`` or ``NOTICE``), as one line
        or, when the text does not fit in 512 bytes, as several (:func:`split_text`; an
        action's pieces each an action), or (``cut``: an IRC client's message, which fitted
        its own line) one line with the text cut at a character boundary, as IRC servers do
        (irctest's ``buffering`` expects it). With ``message-tags``, the first line carries
        the event's ``msgid``, the others none (each id names one message); every line its
        ``time``; ``client``: its sender's client-only tags, on the first line too."""
        # fits, whatever its characters (at most 4 bytes each): the common case, no encoding
        if 4 * (len(source) + len(target) + len(text)) + len(command) + 5 <= MAX_BODY:
            return self.line(
                command, target, text, source=source, event=event, trailing=True, client=client
            )
        room = MAX_BODY - len(f":{source} {command} {target} :".encode())
        split = _cut_text if cut else split_text
        if formatting.is_action(text):
            start, end = formatting.ACTION_START, formatting.ACTION_END
            inner = formatting.action_text(text)
            pieces = [start + piece + end for piece in split(inner, room - 9)]
        else:
            pieces = split(text, room)
        first = self.line(
            command, target, pieces[0], source=source, event=event, trailing=True, client=client
        )
        if len(pieces) == 1:
            return first
        tags = b""
        if event is not None and self.server_time:
            tags = b"@time=" + server_time(event.time).encode() + b" "
        rest = [
            tags + format_message(command, (target, piece), source, None, True).encode("utf-8")
            for piece in pieces[1:]
        ]
        return first + b"\r\n".join(rest) + b"\r\n"

    def source(self, nick: str) -> str:
        """The source of the user ``nick``."""
        return f"{nick}!{nick}@{self.server_name}"

    # -- the forms ----------------------------------------------------------------------------

    def _tag_bytes(self, event: Event, client: dict[str, str] | None = None) -> bytes:
        """``@TAGS `` of a line about ``event`` (this renderer's caps say it has tags), with
        the ``client``-only tags of its sender (with ``message-tags``: the caller checks)."""
        tags: list[str] = []
        if self.server_time:
            tags.append("time=" + server_time(event.time))
        if self.client_tags:
            tags.append("msgid=" + escape_tag_value(event.id))
            if client:
                tags.extend(
                    f"{key}={escape_tag_value(value)}" if value else key
                    for key, value in client.items()
                )
        return ("@" + ";".join(tags) + " ").encode("utf-8")

    def _public(self, event: Public) -> bytes:
        command = "NOTICE" if event.notice else "PRIVMSG"
        target = f"#{event.room}"
        source = self.source(event.sender)
        text = event.text
        client = event.tags  # nearly always None: one attribute read
        if client is not None and not self.client_tags:
            client = None
        if 4 * (len(source) + len(target) + len(text)) + 12 <= MAX_BODY:  # the common case
            return self.line(
                command, target, text, source=source, event=event, trailing=True, client=client
            )
        return self.text_lines(command, target, text, source, event, event.irc, client)

    def _private(self, event: Private) -> bytes:
        command = "NOTICE" if event.notice else "PRIVMSG"
        client = event.tags
        if client is not None and not self.client_tags:
            client = None
        return self.text_lines(
            command,
            event.recipient,
            event.text,
            self.source(event.sender),
            event,
            event.irc,
            client,
        )

    def _tagmsg(self, event: Tagged) -> bytes:
        """``TAGMSG`` with its sender's client-only tags, to readers with ``message-tags``
        alone (``b""`` for the others: a line with nothing to read)."""
        if not self.client_tags:
            return b""
        target = event.recipient if event.room is None else channel(event.room)
        return self.line(
            "TAGMSG",
            target or "*",
            source=self.source(event.sender),
            event=event,
            client=event.tags,
        )

    def _joined(self, event: Joined) -> bytes:
        if self.is_member is not None and not self.is_member(event.room or "", event.nick):
            return b""  # an IRC user's login: it is in no room (the others read it came)
        return self.line("JOIN", channel(event.room), source=self.source(event.nick), event=event)

    def _left(self, event: Left) -> bytes:
        if event.by is not None:  # sent out of the room
            return self.line(
                "KICK",
                channel(event.room),
                event.nick,
                event.reason or event.by,
                source=self.source(event.by),
                event=event,
                trailing=True,
            )
        if event.place is None:  # left the chat (``reason``: its QUIT's words)
            words = f"Quit: {event.reason}" if event.reason else "Quit"
            return self.line(
                "QUIT", words, source=self.source(event.nick), event=event, trailing=True
            )
        if event.reason:
            return self.line(
                "PART",
                channel(event.room),
                event.reason,
                source=self.source(event.nick),
                event=event,
                trailing=True,
            )
        return self.line("PART", channel(event.room), source=self.source(event.nick), event=event)

    def _renamed(self, event: Renamed) -> bytes:
        return self.line(
            "NICK", event.new, source=self.source(event.old), event=event, trailing=True
        )

    def _topic(self, event: Topic) -> bytes:
        return self.line(
            "TOPIC",
            channel(event.room),
            event.topic,
            source=self.source(event.nick),
            event=event,
            trailing=True,
        )

    def _replayed(self, event: Replayed) -> bytes:
        return self._stored(event, channel(event.room) if event.room is not None else "*")

    def _stored(self, event: Replayed, target: str) -> bytes:
        """A stored message shown again: the message itself at its own time with
        ``server-time``, else a ``NOTICE`` from the server saying when (never live traffic)."""
        text = event.text
        if not text.isprintable() and formatting.is_ctcp_query(text):
            return b""  # never kept by this server; never asked again
        if self.server_time:
            return self.text_lines("PRIVMSG", target, text, self.source(event.sender), event)
        if formatting.is_action(text):
            said = f"* {event.sender} {formatting.action_text(text)}"
        elif event.recado:
            said = f"*{event.sender}* {text}"
        else:
            said = f"<{event.sender}> {text}"
        return self.text_lines("NOTICE", target, f"[{stamp(event.time)}] {said}", self.server_name)

    def _notice(self, event: Notice) -> bytes:
        if event.room is not None and event.text.key in ROOM_SILENT:
            return b""
        target = channel(event.room) if event.room is not None else "*"
        words = localise(self.language.texts, event.text)
        return self.text_lines("NOTICE", target, words, self.server_name)

    def _invite(self, text: Text, target: str) -> bytes:
        """An invitation to a room (the notice ``room_invited``, from this node or another)
        as IRC's ``INVITE`` from the user who sent it."""
        room = channel(roomnames.key(str(text.args.get("room", ""))))
        inviter = str(text.args.get("nick", "*"))
        return self.line("INVITE", target, room, source=self.source(inviter))

    def _error(self, event: Error) -> bytes:
        return self.render_to(event, "*")


def _numeric_params(numeric: str, text: Text, subject: str | None) -> tuple[str, ...]:
    """The parameters a numeric has between its target and its text."""
    if numeric in ("432", "433", "438"):
        return (str(text.args.get("nick", subject or "*")),)
    if numeric == "482":
        return (channel(roomnames.key(str(text.args.get("room", "")))),)
    return ()
