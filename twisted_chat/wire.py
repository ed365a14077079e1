"""Server line formats of wire protocol v1 (docs/PROTOCOL.md), encoded once, ready to write.

Every function returns the complete UTF-8 line including its CRLF terminator, so that a message
fanned out to many recipients is encoded exactly once.
"""

from __future__ import annotations

from typing import Final

#: Terminator of every server line.
CRLF: Final = b"\r\n"


def _encode(line: str) -> bytes:
    return line.encode("utf-8") + CRLF


def notice(text: str) -> bytes:
    """``* TEXT``: a notice from the server (prompts, welcome, join/leave, command output)."""
    return _encode("* " + text)


def error(text: str) -> bytes:
    """``! TEXT``: an error."""
    return _encode("! " + text)


def public(sender: str, text: str) -> bytes:
    """``<NICK> TEXT``: a public message from ``sender``."""
    return _encode(f"<{sender}> {text}")


def private(sender: str, text: str) -> bytes:
    """``*NICK* TEXT``: a private message from ``sender`` to the reader."""
    return _encode(f"*{sender}* {text}")


def private_echo(recipient: str, text: str) -> bytes:
    """``-> *NICK* TEXT``: the sender's copy of a private message it sent to ``recipient``."""
    return _encode(f"-> *{recipient}* {text}")
