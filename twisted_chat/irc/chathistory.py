"""IRCv3 ``draft/chathistory`` and ``batch`` over the rooms' history (issue 15's
:class:`~twisted_chat.history.History`).

``CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN TARGET SELECTOR... LIMIT`` reads a room's
history through :meth:`History.select <twisted_chat.history.History.select>` (the room's buffer
in memory when it can answer exactly, else the database), and answers in a
``BATCH +REF chathistory TARGET`` ... ``BATCH -REF`` (with the ``batch`` capability), each
message with its own ``time`` and ``msgid`` tags (with ``server-time`` and ``message-tags``).
``CHATHISTORY TARGETS`` lists the rooms of the user whose last message falls in a window.
Errors are IRCv3 standard replies: ``FAIL CHATHISTORY CODE ...``.

Only members of a room may read its history (as ``/historial`` reads only the user's own room);
private messages are never stored (by design), so a nickname target (or ``*``, every private
conversation) gets an empty batch. The JOIN replay is a ``chathistory`` batch for clients with
``batch``, and is not sent to clients with ``draft/chathistory`` (they ask for what they want).
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import formatting, nicknames, roomnames
from twisted_chat.history import History, Said
from twisted_chat.irc.message import Message, format_message
from twisted_chat.irc.render import MAX_BODY, channel, server_time, split_text
from twisted_chat.irc.session import IrcSession
from twisted_chat.room import ChatRoom
from twisted_chat.wire import stamp

if TYPE_CHECKING:
    from twisted_chat.irc.commands import IrcCommands

#: Most messages one ``CHATHISTORY`` answers (``CHATHISTORY=`` in ``005``); more is cut to it.
MAX_LIMIT: Final = 100
#: The message references ``CHATHISTORY`` takes (``MSGREFTYPES=`` in ``005``).
MSGREFTYPES: Final = "timestamp,msgid"
#: The subcommands that read one target's messages.
QUERIES: Final = frozenset({"LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"})
#: A ``timestamp=`` value: ``YYYY-MM-DDThh:mm:ss[.sss]Z`` (UTC).
_TIMESTAMP: Final = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
#: Ids sort above "" and below "\x7f" (message ids are ASCII letters and digits).
_BELOW_EVERY_ID: Final = ""
_ABOVE_EVERY_ID: Final = "\x7f"
#: The reason of every ``FAIL`` that reads no message.
_NOT_RETRIEVED: Final = "Messages could not be retrieved"


class Refused(Exception):
    """A ``CHATHISTORY`` that gets a ``FAIL``: its code and context (the description last)."""

    def __init__(self, code: str, *context: str) -> None:
        super().__init__(code, *context)
        self.code = code
        self.context = context


@dataclass(frozen=True, slots=True)
class Selector:
    """A point of a room's history: ``msgid=ID`` (that message) or ``timestamp=TIME``."""

    msgid: str | None = None
    #: The time of a ``timestamp=`` (ms since the epoch).
    time: int = 0


@dataclass(frozen=True, slots=True)
class Point:
    """A selector found in a room: the positions (time, id) just below and just above it (the
    same for a message; a whole millisecond for a timestamp), and the message itself."""

    low: tuple[int, str]
    high: tuple[int, str]
    message: Said | None = None


def parse_timestamp(text: str) -> int | None:
    """``YYYY-MM-DDThh:mm:ss[.sss]Z`` as ms since the epoch, or ``None``."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "0").ljust(3, "0")[:3]
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    return seconds * 1000 + int(fraction)


def parse_selector(text: str) -> Selector:
    """A ``msgid=`` or ``timestamp=`` selector; :class:`Refused` otherwise."""
    kind, equals, value = text.partition("=")
    if not equals or not value:
        raise Refused("INVALID_PARAMS", text, "Invalid message reference")
    kind = kind.lower()
    if kind == "msgid":
        if len(value) > 64 or not value.isascii() or not value.isalnum():
            raise Refused("INVALID_PARAMS", text, "Invalid msgid")
        return Selector(msgid=value)
    if kind == "timestamp":
        ms = parse_timestamp(value)
        if ms is None:
            raise Refused("INVALID_PARAMS", text, "Invalid timestamp")
        return Selector(time=ms)
    raise Refused("INVALID_MSGREFTYPE", text, "Unknown message reference type")


def parse_limit(text: str) -> int:
    """A limit: a number from 1 (more than :data:`MAX_LIMIT` is :data:`MAX_LIMIT`)."""
    if not text.isdigit() or not text.isascii() or int(text) < 1:
        raise Refused("INVALID_PARAMS", text, "Invalid limit")
    return min(int(text), MAX_LIMIT)


def _first_failure(failure: Failure) -> Failure:
    """The failure of the first Deferred of ``gatherResults`` that failed."""
    error = failure.value
    return error.subFailure if isinstance(error, defer.FirstError) else failure


class ChatHistory:
    """``CHATHISTORY`` and the JOIN replay of every IRC session of one chat."""

    log = Logger()

    def __init__(self, irc: IrcCommands) -> None:
        self.irc = irc
        self.room = irc.room
        self._refs = itertools.count(1)

    @property
    def history(self) -> History | None:
        """The rooms' history, if kept."""
        history = self.irc.chat.history
        return history if history is not None and history.enabled else None

    # -- the command ------------------------------------------------------------------------

    def command(self, session: IrcSession, message: Message) -> None:
        """``CHATHISTORY SUBCOMMAND ...``: a batch of messages, or a ``FAIL``."""
        params = message.params
        sub = params[0].upper() if params else "*"
        try:
            if sub == "TARGETS":
                self._targets(session, params)
            elif sub in QUERIES:
                self._query(session, sub, params)
            elif not params:
                raise Refused("NEED_MORE_PARAMS", "*", "Missing parameters")
            else:
                raise Refused("INVALID_PARAMS", params[0], "Unknown subcommand")
        except Refused as refused:
            self._fail(session, refused.code, *refused.context)

    def _fail(self, session: IrcSession, code: str, *context: str) -> None:
        session.send(
            session.renderer.line(
                "FAIL",
                "CHATHISTORY",
                code,
                *context,
                source=self.irc.server_name,
                trailing=True,
            )
        )

    def _query(self, session: IrcSession, sub: str, params: Sequence[str]) -> None:
        needed = 5 if sub == "BETWEEN" else 4
        if len(params) < needed:
            raise Refused("NEED_MORE_PARAMS", sub, "Missing parameters")
        target = params[1]
        limit = parse_limit(params[needed - 1])
        if sub == "LATEST" and params[2] == "*":
            selectors: list[Selector] = []
        else:
            selectors = [parse_selector(word) for word in params[2 : needed - 1]]
        chatroom = self._target(session, sub, target)
        history = self.history
        if chatroom is None or history is None:
            # private messages are never stored; nothing is with history off
            self._send_batch(session, target, [])
            return
        name = channel(chatroom.key)
        read = self._find_points(history, chatroom.key, selectors)
        read.addCallback(
            lambda points: (
                self._read(history, chatroom.key, sub, points, limit)
                if all(p is not None for p in points)
                else []
            )
        )

        def send(messages: list[Said]) -> None:
            if not session.closing:
                self._send_batch(session, name, messages)

        def failed(failure: Failure) -> None:
            self.log.info("CHATHISTORY not read: {error}", error=failure.value)
            if not session.closing:
                self._fail(session, "MESSAGE_ERROR", sub, name, _NOT_RETRIEVED)

        read.addCallbacks(session.as_answer(send), session.as_answer(failed))
        self._hold_until(session, read)

    def _hold_until(self, session: IrcSession, answered: defer.Deferred[Any]) -> None:
        """Keep ``session``'s later lines until ``answered`` fired, if it has not yet (a read
        of the database): the answer comes before whatever they cause (a client's ``PING``
        barrier's ``PONG`` after the batch)."""
        state = {"done": False, "held": False}

        def end(result: object) -> None:
            state["done"] = True
            if isinstance(result, Failure):
                self.log.failure("CHATHISTORY failed", result)
            if state["held"]:
                session.release()

        answered.addBoth(end)
        if not state["done"]:
            state["held"] = True
            session.hold()

    def _target(self, session: IrcSession, sub: str, target: str) -> ChatRoom | None:
        """The room of a channel target (members only), ``None`` for a nickname or ``*``
        (private conversations: never stored); :class:`Refused` for anything else."""
        if target.startswith("#"):
            chatroom = self.room.find_room(roomnames.normalize(target))
            if chatroom is None or chatroom not in self.room.rooms_of(session):
                raise Refused("INVALID_TARGET", sub, target, _NOT_RETRIEVED)
            return chatroom
        if target == "*" or nicknames.is_valid(nicknames.normalize(target)):
            return None
        raise Refused("INVALID_TARGET", sub, target, _NOT_RETRIEVED)

    def _find_points(
        self, history: History, room_key: str, selectors: Sequence[Selector]
    ) -> defer.Deferred[list[Point | None]]:
        """Each selector's point in the room (``None``: no such message there)."""

        def point(selector: Selector) -> defer.Deferred[Point | None]:
            if selector.msgid is None:
                ms = selector.time
                return defer.succeed(Point((ms, _BELOW_EVERY_ID), (ms, _ABOVE_EVERY_ID)))
            found = history.locate(room_key, selector.msgid)
            return found.addCallback(
                lambda m: None if m is None else Point((m.time, m.id), (m.time, m.id), m)
            )

        found = [point(selector) for selector in selectors]
        gathered = defer.gatherResults(found, consumeErrors=True)
        gathered.addErrback(_first_failure)
        return gathered

    @staticmethod
    def _read(
        history: History, room_key: str, sub: str, points: Sequence[Any], limit: int
    ) -> defer.Deferred[list[Said]] | list[Said]:
        """The messages ``sub`` selects around ``points``, oldest first."""
        select = history.select
        if sub == "LATEST":
            lower = points[0].high if points else None
            return select(room_key, lower, None, limit, True)
        point: Point = points[0]
        if sub == "BEFORE":
            return select(room_key, None, point.low, limit, True)
        if sub == "AFTER":
            return select(room_key, point.high, None, limit, False)
        if sub == "BETWEEN":
            first, second = sorted(points, key=lambda p: p.low)
            forward = points[0] is first and first.low != second.low
            return select(room_key, first.high, second.low, limit, not forward)
        # AROUND: up to half before the point, the message itself, the rest after it
        before_count = (limit - 1) // 2
        before: defer.Deferred[list[Said]] = (
            select(room_key, None, point.low, before_count, True)
            if before_count
            else defer.succeed([])
        )
        if point.message is not None:
            middle: list[Said] = [point.message]
            after_count = limit - before_count - 1
            lower = point.high
        else:  # a timestamp: what was said at it counts as after it
            middle = []
            after_count = limit - before_count
            lower = (point.low[0], _BELOW_EVERY_ID)
        after: defer.Deferred[list[Said]] = (
            select(room_key, lower, None, after_count, False) if after_count else defer.succeed([])
        )
        both = defer.gatherResults([before, after], consumeErrors=True)
        both.addErrback(_first_failure)
        return both.addCallback(lambda parts: [*parts[0], *middle, *parts[1]])

    # -- CHATHISTORY TARGETS ----------------------------------------------------------------

    def _targets(self, session: IrcSession, params: Sequence[str]) -> None:
        """``CHATHISTORY TARGETS TIMESTAMP TIMESTAMP LIMIT``: the user's rooms whose last
        message was said strictly between the two times, oldest first, in a
        ``draft/chathistory-targets`` batch."""
        if len(params) < 4:
            raise Refused("NEED_MORE_PARAMS", "TARGETS", "Missing parameters")
        limit = parse_limit(params[3])
        times = []
        for word in params[1:3]:
            selector = parse_selector(word)
            if selector.msgid is not None:
                raise Refused("INVALID_PARAMS", word, "TARGETS takes timestamps")
            times.append(selector.time)
        earliest, latest = sorted(times)
        history = self.history
        rooms = self.room.rooms_of(session) if history is not None else []
        if history is None or not rooms:
            self._send_targets(session, [])
            return
        reads = [history.select(chatroom.key, None, None, 1, True) for chatroom in rooms]
        gathered = defer.gatherResults(reads, consumeErrors=True)

        def send(lasts: list[list[Said]]) -> None:
            if session.closing:
                return
            found = [
                (last[-1].time, channel(chatroom.key))
                for chatroom, last in zip(rooms, lasts, strict=True)
                if last and earliest < last[-1].time < latest
            ]
            found.sort()
            self._send_targets(session, found[:limit])

        def failed(failure: Failure) -> None:
            self.log.info("CHATHISTORY TARGETS not read: {error}", error=failure.value)
            if not session.closing:
                self._fail(session, "MESSAGE_ERROR", "TARGETS", "*", _NOT_RETRIEVED)

        gathered.addCallbacks(session.as_answer(send), session.as_answer(failed))
        self._hold_until(session, gathered)

    def _send_targets(self, session: IrcSession, found: Sequence[tuple[int, str]]) -> None:
        server = self.irc.server_name
        batch = "batch" in session.caps
        ref = self._ref()
        tags = {"batch": ref} if batch else None
        lines = []
        if batch:
            lines.append(format_message("BATCH", ("+" + ref, "draft/chathistory-targets"), server))
        for ms, name in found:
            lines.append(
                format_message("CHATHISTORY", ("TARGETS", name, server_time(ms)), server, tags)
            )
        if batch:
            lines.append(format_message("BATCH", ("-" + ref,), server))
        session.send("".join(line + "\r\n" for line in lines).encode("utf-8"))

    # -- batches ----------------------------------------------------------------------------

    def _ref(self) -> str:
        """A new batch reference (unique on this server: per connection is enough)."""
        return f"h{next(self._refs):x}"

    def _send_batch(self, session: IrcSession, target: str, messages: Sequence[Said]) -> None:
        """``messages`` of ``target`` as a ``chathistory`` batch (without ``batch``: just the
        messages), written at once."""
        server = self.irc.server_name
        batch = "batch" in session.caps
        ref = self._ref()
        lines = []
        if batch:
            lines.append(format_message("BATCH", ("+" + ref, "chathistory", target), server))
        for message in messages:
            lines += self._stored_lines(session, target, message, ref if batch else None)
        if batch:
            lines.append(format_message("BATCH", ("-" + ref,), server))
        if lines:
            session.send("".join(line + "\r\n" for line in lines).encode("utf-8"))

    def _stored_lines(
        self, session: IrcSession, target: str, message: Said, ref: str | None
    ) -> list[str]:
        """A stored message as the session's renderer shows one (the message at its own time
        with ``server-time``, else a server ``NOTICE`` saying when), in the batch ``ref``: one
        line, or several when its text does not fit in 512 bytes (a line user may send 1024:
        split at character boundaries as live messages are, :func:`split_text`; the first
        line carries the ``msgid``, every line its ``time`` and the batch)."""
        caps = session.caps
        tags: dict[str, str] = {}
        if ref is not None:
            tags["batch"] = ref
        if "server-time" in caps:
            tags["time"] = server_time(message.time)
        text = message.text
        if "server-time" in caps:
            command, source, body = "PRIVMSG", session.renderer.source(message.sender), text
        else:
            if formatting.is_action(text):
                said = f"* {message.sender} {formatting.action_text(text)}"
            else:
                said = f"<{message.sender}> {text}"
            command, source = "NOTICE", self.irc.server_name
            body = f"[{stamp(message.time)}] {said}"
        first_tags = {**tags, "msgid": message.id} if "message-tags" in caps else tags
        room = MAX_BODY - len(f":{source} {command} {target} :".encode())
        if len(body.encode()) <= room:
            return [format_message(command, (target, body), source, first_tags, True)]
        if command == "PRIVMSG" and formatting.is_action(body):
            start, end = formatting.ACTION_START, formatting.ACTION_END
            inner = formatting.action_text(body)
            pieces = [start + piece + end for piece in split_text(inner, room - 9)]
        else:
            pieces = split_text(body, room)
        lines = [format_message(command, (target, pieces[0]), source, first_tags, True)]
        lines += [format_message(command, (target, p), source, tags, True) for p in pieces[1:]]
        return lines

    # -- the replay of a JOIN -----------------------------------------------------------------

    def replay(self, session: IrcSession, chatroom: ChatRoom) -> None:
        """The room's last messages after a ``JOIN``: the chat's replay, as a ``chathistory``
        batch for a client with ``batch``; none for a client with ``draft/chathistory``."""
        history = self.history
        if history is None or "draft/chathistory" in session.caps:
            return
        if "batch" not in session.caps:
            history.replay(session, chatroom.key)
            return
        room_key = chatroom.key

        def send(recent: list[Said]) -> None:
            nick = session.nickname
            if recent and not session.closing and nick and self.irc.is_member(room_key, nick):
                self._send_batch(session, channel(room_key), recent)

        def failed(failure: Failure) -> None:
            self.log.info("replay of {room} not read: {error}", room=room_key, error=failure.value)

        history.recent(room_key).addCallbacks(send, failed)
