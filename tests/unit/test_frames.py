"""Unit tests of :mod:`twisted_chat.web.frames`: events as unmasked WebSocket text frames.

Every frame is read back by wsproto's client side (an implementation of RFC 6455 that is not
ours), so the header forms (7-bit, 16-bit and 64-bit lengths, at their boundaries) are checked
against a real parser, not against our own arithmetic.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from twisted_chat.assembly import assemble
from twisted_chat.events import Private
from twisted_chat.text import CATALOGUES
from twisted_chat.web.frames import FrameRenderer, frames, text_frame
from twisted_chat.wire import CRLF


def read_messages(data: bytes) -> list[str]:
    """The text messages a WebSocket client reads from ``data`` (all of them complete)."""
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(data)
    messages: list[str] = []
    partial = ""
    for event in client.events():
        assert isinstance(event, TextMessage), event
        partial += event.data
        if event.message_finished:
            messages.append(partial)
            partial = ""
    assert partial == "", "a message was left unfinished"
    return messages


class TextFrameTests(SynchronousTestCase):
    """One line, one frame: the header by payload size."""

    def check(self, size: int, header: bytes) -> None:
        payload = b"x" * size
        frame = text_frame(payload)
        self.assertEqual(frame[: len(header)], header)
        self.assertEqual(frame[len(header) :], payload)
        self.assertEqual(read_messages(frame), ["x" * size])

    def test_empty(self) -> None:
        self.check(0, b"\x81\x00")

    def test_largest_seven_bit_length(self) -> None:
        self.check(125, b"\x81\x7d")

    def test_smallest_sixteen_bit_length(self) -> None:
        self.check(126, b"\x81\x7e\x00\x7e")

    def test_largest_sixteen_bit_length(self) -> None:
        self.check(65535, b"\x81\x7e\xff\xff")

    def test_smallest_sixty_four_bit_length(self) -> None:
        self.check(65536, b"\x81\x7f" + (65536).to_bytes(8, "big"))

    def test_utf8_length_is_in_bytes(self) -> None:
        payload = "ñ" * 100  # 200 bytes: the 16-bit form, though 100 characters
        frame = text_frame(payload.encode())
        self.assertEqual(frame[:4], b"\x81\x7e\x00\xc8")
        self.assertEqual(read_messages(frame), [payload])


class FramesTests(SynchronousTestCase):
    """Rendered v1 lines (each ending in CRLF) as frames, one per line, without the CRLF."""

    def test_one_line(self) -> None:
        self.assertEqual(frames(b"<ana> hola" + CRLF), b"\x81\x0a<ana> hola")

    def test_several_lines_are_several_frames_in_order(self) -> None:
        lines = [b"* uno", b"", b"* " + b"d" * 200, b"* tres"]
        data = frames(b"".join(line + CRLF for line in lines))
        self.assertEqual(data, b"".join(text_frame(line) for line in lines))
        self.assertEqual(read_messages(data), [line.decode() for line in lines])

    def test_an_empty_line(self) -> None:
        self.assertEqual(frames(CRLF), b"\x81\x00")


class FrameRendererTests(SynchronousTestCase):
    """The renderer of the WebSocket transport: the line renderer's lines, as frames."""

    def setUp(self) -> None:
        self.chat = assemble(CATALOGUES["es"], Clock())
        self.renderer: FrameRenderer = self.chat.frames

    def test_an_event_is_the_frames_of_its_lines(self) -> None:
        event = self.chat.events.error("bad_utf8")
        lines = self.chat.lines.render(event)
        self.assertEqual(self.renderer.render(event), frames(lines))
        self.assertEqual(read_messages(self.renderer.render(event)), [lines[:-2].decode()])

    def test_a_reply_of_several_events_is_one_frame_per_line(self) -> None:
        # What Session.deliver_all writes: each event rendered, the bytes joined.
        events = self.chat.events
        reply = [events.notice("welcome", nick="ana"), events.public("sala", "bob", "hola")]
        data = b"".join(self.renderer.render(event) for event in reply)
        lines = b"".join(self.chat.lines.render(event) for event in reply)
        self.assertEqual(data, frames(lines))
        self.assertEqual(read_messages(data), lines.decode().split("\r\n")[:-1])

    def test_the_echo_of_a_private_message(self) -> None:
        event = self.chat.events.private("ana", "bob", "psst")
        assert isinstance(event, Private)
        self.assertEqual(
            read_messages(self.renderer.render_echo(event)),
            [self.chat.lines.render_echo(event)[:-2].decode()],
        )
