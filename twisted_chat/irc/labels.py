"""IRCv3 ``labeled-response``: a client's ``label`` tag repeated on the server's answer to that
command (https://ircv3.net/specs/extensions/labeled-response).

In the manner of Ergo's response buffer: while a labeled command runs, everything its session
is sent is kept (:class:`LabeledResponse`), then written as one answer: no line at all is an
``ACK``, one line is that line with the ``label`` tag, several are a ``labeled-response`` batch
(a ``chathistory`` batch inside it nests: its ``BATCH +`` line joins the outer batch, its
messages keep their own). Only the labeling client's own answers are kept: a private message
that reaches it meanwhile (its message to itself) is delivered as it is, and the rooms'
broadcasts cannot reach it while its command runs (they come in other reactor calls).

A command whose answer is read from the database later (``CHATHISTORY``, ``HISTORIAL``) holds
its session's next lines until then (:meth:`~twisted_chat.session.Session.hold`); its response
stays open, gathering only what runs in the answer's own callback (:meth:`LabeledResponse.answer`),
and is written when the session is released, before the held lines run.

The capture is per session and only while a labeled command runs: the broadcast path (rendered
once per renderer, written to every member) is not changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from twisted_chat.irc.message import escape_tag_value, format_message

if TYPE_CHECKING:
    from twisted_chat.irc.session import IrcSession

#: The capability (with ``batch`` only: without it a labeled command is answered unlabeled).
CAPABILITY: Final = "labeled-response"
#: Most bytes of a label (the spec's limit); a longer one is ignored.
MAX_LABEL: Final = 64

_T = TypeVar("_T")
_refs = itertools.count(1)


def label_of(session: IrcSession, tags: Mapping[str, str]) -> str | None:
    """The label of a client's line (its ``label`` tag) if ``session`` is registered and
    negotiated ``labeled-response`` and ``batch``, else ``None``: the tag is then ignored, as
    is an empty one or one over :data:`MAX_LABEL` bytes (the spec's limit)."""
    label = tags.get("label") if tags else None
    if label is None or session.nickname is None:
        return None
    caps = session.caps
    if CAPABILITY not in caps or "batch" not in caps or too_long(label):
        return None
    return label


def too_long(label: str) -> bool:
    """Whether ``label`` is over :data:`MAX_LABEL` bytes (or empty)."""
    return not label or len(label.encode("utf-8")) > MAX_LABEL


class LabeledResponse:
    """The answer to one labeled command of ``session``, gathered while it runs."""

    __slots__ = ("_saved", "ending", "label", "lines", "open", "session")

    def __init__(self, session: IrcSession, label: str) -> None:
        self.session = session
        self.label = label
        #: What was kept so far (rendered bytes, CRLF-ended lines).
        self.lines: list[bytes] = []
        #: Whether the answer may still grow (the command, or a held answer, is running).
        self.open = True
        # The session's own pending output (the batcher's) while this one is being kept.
        self._saved: list[bytes] | None = None
        #: The session was released while this answer was being kept: once it is kept, the
        #: release goes on (:meth:`~twisted_chat.irc.session.IrcSession.release`).
        self.ending = False

    # -- keeping --------------------------------------------------------------------------------

    def _start(self) -> None:
        session = self.session
        self._saved = session._out
        session._out = self.lines
        session.label = self

    def _stop(self) -> None:
        session = self.session
        if session._out is self.lines:
            session._out = self._saved
        self._saved = None
        session.label = None

    def run(self, command: Callable[[], None]) -> None:
        """Run the labeled ``command`` keeping what it sends; write the answer, unless the
        session is now held for a later answer (then :meth:`finish` writes it)."""
        self._start()
        try:
            command()
        finally:
            self._stop()
        session = self.session
        if not session.waiting_answer():
            self.finish()
        else:
            session.pending_label = self

    def answer(self, callback: Callable[..., _T]) -> Callable[..., _T]:
        """``callback`` (the later answer of this command) keeping what it sends into this
        response, if it is still open."""

        def answering(*args: Any, **kwargs: Any) -> _T:
            if not self.open or self.session.label is not None:
                return callback(*args, **kwargs)
            self._start()
            try:
                return callback(*args, **kwargs)
            finally:
                self._stop()
                if self.ending:
                    self.ending = False
                    self.session.release()

        return answering

    def bypass(self, data: bytes) -> None:
        """Send ``data`` as it is: not part of this answer (a message that reached the user)."""
        session = self.session
        if session._out is not self.lines:
            session.send(data)
            return
        session._out = self._saved
        try:
            session.send(data)
        finally:
            self._saved = session._out
            session._out = self.lines

    # -- writing --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Write the answer (once): ``ACK``, the one line labeled, or a batch."""
        if not self.open:
            return
        self.open = False
        session = self.session
        if session.pending_label is self:
            session.pending_label = None
        if session.closing:
            return
        session.send(self.render(session.irc.server_name))

    def render(self, server: str) -> bytes:
        """The answer as bytes, from the server ``server``."""
        lines = [line for line in b"".join(self.lines).split(b"\r\n") if line]
        label = escape_tag_value(self.label).encode("utf-8")
        if not lines:
            tags = {"label": self.label}
            return format_message("ACK", (), server, tags).encode("utf-8") + b"\r\n"
        if len(lines) == 1:
            return add_tag(lines[0], b"label=" + label) + b"\r\n"
        ref = f"L{next(_refs):x}"
        start = format_message(
            "BATCH", ("+" + ref, "labeled-response"), server, {"label": self.label}
        )
        end = format_message("BATCH", ("-" + ref,), server)
        batch_tag = b"batch=" + ref.encode("ascii")
        out = [start.encode("utf-8")]
        out += [line if has_batch_tag(line) else add_tag(line, batch_tag) for line in lines]
        out.append(end.encode("utf-8"))
        return b"\r\n".join(out) + b"\r\n"


def add_tag(line: bytes, tag: bytes) -> bytes:
    """``line`` (without its CRLF) with the tag ``tag`` (``key=value``, escaped) first."""
    if line.startswith(b"@"):
        return b"@" + tag + b";" + line[1:]
    return b"@" + tag + b" " + line


def has_batch_tag(line: bytes) -> bool:
    """Whether ``line`` is already in a batch (a message of a nested ``chathistory`` batch)."""
    if not line.startswith(b"@"):
        return False
    tags = line[1:].split(b" ", 1)[0]
    return any(tag.startswith(b"batch=") for tag in tags.split(b";"))
