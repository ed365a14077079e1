"""Unit tests of :mod:`twisted_chat.proxy`: the chat protocol starts only after the PROXY header,
so it sees the client's address; a connection without a valid header is dropped."""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat import proxy


class Recorder(protocol.Protocol):
    """Records the peer it saw at connectionMade and what it received."""

    def __init__(self) -> None:
        self.peer: Any = None
        self.received = b""
        self.lost = False

    def connectionMade(self) -> None:
        self.peer = self.transport.getPeer()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True


V1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1234\r\n"


class ProxiedConnectionTests(SynchronousTestCase):
    def connect(self) -> tuple[Any, Recorder, StringTransportWithDisconnection]:
        recorder = Recorder()
        factory = proxy.ProxiedFactory(protocol.Factory.forProtocol(lambda: recorder))
        wrapper = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
        assert wrapper is not None
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", "127.0.0.1", 5555)
        )
        transport.protocol = wrapper
        wrapper.makeConnection(transport)
        self.addCleanup(wrapper._cancel_timer)
        return wrapper, recorder, transport

    def test_starts_after_the_header_with_the_clients_address(self) -> None:
        wrapper, recorder, _ = self.connect()
        self.assertIsNone(recorder.peer)
        wrapper.dataReceived(V1 + b"ana\n")
        self.assertEqual((recorder.peer.host, recorder.peer.port), ("203.0.113.7", 40000))
        self.assertEqual(recorder.received, b"ana\n")

    def test_header_byte_by_byte(self) -> None:
        wrapper, recorder, _ = self.connect()
        for i in range(len(V1)):
            wrapper.dataReceived(V1[i : i + 1])
        self.assertEqual(recorder.peer.host, "203.0.113.7")
        wrapper.dataReceived(b"x")
        self.assertEqual(recorder.received, b"x")

    def test_v2_header(self) -> None:
        wrapper, recorder, _ = self.connect()
        header = (
            b"\r\n\r\n\x00\r\nQUIT\n"  # signature
            + b"\x21\x11\x00\x0c"  # v2 PROXY, TCP over IPv4, 12 bytes of addresses
            + bytes([198, 51, 100, 9, 127, 0, 0, 1])
            + (50000).to_bytes(2, "big")
            + (1234).to_bytes(2, "big")
        )
        wrapper.dataReceived(header)
        self.assertEqual(recorder.peer.host, "198.51.100.9")

    def test_not_a_header_is_dropped_unseen(self) -> None:
        wrapper, recorder, transport = self.connect()
        wrapper.dataReceived(b"hello there, no header\n")
        self.assertTrue(transport.disconnecting or not transport.connected)
        self.assertIsNone(recorder.peer)

    def test_bad_v1_header_is_dropped(self) -> None:
        wrapper, recorder, transport = self.connect()
        wrapper.dataReceived(b"PROXY NONSENSE\r\n")
        self.assertIsNone(recorder.peer)
        self.assertTrue(transport.disconnecting or not transport.connected)

    def test_lost_before_the_header_never_reaches_the_chat(self) -> None:
        wrapper, recorder, _ = self.connect()
        wrapper.connectionLost(None)
        self.assertFalse(recorder.lost)
