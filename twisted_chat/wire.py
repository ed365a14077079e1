"""Server line formats of wire protocol v1 (docs/PROTOCOL.md), encoded once, ready to write.

Every function returns the complete UTF-8 line including its CRLF terminator, so that a message
fanned out to many recipients is encoded exactly once.
"""

from __future__ import annotations

from typing import Final

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


def private_echo(recipient: str, text: str) -> bytes:
    """``-> *NICK* TEXT``: the sender's copy of a private message it sent to ``recipient``."""
    return f"-> *{recipient}* {text}\r\n".encode()
