"""Events as WebSocket frames: each protocol v1 line, without its CRLF, one text message.

A server's frames are not masked (RFC 6455, section 5.1), so the frame of one line is the same
bytes for every recipient: :class:`FrameRenderer` builds it once per event, from the line that
the :class:`~twisted_chat.wire.LineRenderer` renders, and the room hands those bytes to every
WebSocket member as it hands the line to every TCP one. The adapter
(:mod:`twisted_chat.web.protocol`) writes them to the socket as they are.
"""

from __future__ import annotations

from typing import Final

from twisted_chat.events import Event, Private
from twisted_chat.wire import CRLF, LineRenderer

#: First byte of an unfragmented text frame: FIN and opcode 1.
_TEXT: Final = 0x81


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 65536:
        return bytes((_TEXT, 126)) + size.to_bytes(2, "big") + payload
    return bytes((_TEXT, 127)) + size.to_bytes(8, "big") + payload


def frames(lines: bytes) -> bytes:
    """The text frames of ``lines`` (v1 lines, each ending in CRLF), one per line (none for
    no line: an event a line user does not see)."""
    if lines.count(CRLF) == 1:
        return text_frame(lines[:-2])
    if not lines:
        return b""
    return b"".join([text_frame(line) for line in lines[:-2].split(CRLF)])


class FrameRenderer:
    """Events as WebSocket text frames, one per v1 line (the same language and forms as
    ``lines``)."""

    __slots__ = ("lines",)

    def __init__(self, lines: LineRenderer) -> None:
        #: The renderer of the lines the frames carry.
        self.lines = lines

    def render(self, event: Event) -> bytes:
        """``event`` as the frame(s) its recipients read."""
        return frames(self.lines.render(event))

    def render_echo(self, event: Private) -> bytes:
        """A private message as its sender reads it."""
        return frames(self.lines.render_echo(event))
