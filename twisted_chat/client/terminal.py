"""The interactive terminal: line editing and history on Twisted Conch's ``recvline``, with
output drawn above the input line.

:class:`ChatTerminal` is a :class:`~twisted.conch.recvline.HistoricRecvLine` (the manhole's line
editor: ``insults`` parses the keys, Up/Down walk the history) that keeps recvline's buffer and
history but draws the input area itself, so that it can be redrawn whole: :meth:`show` erases the
input area, prints a line where it was and draws the input again below it, which is what keeps a
line that arrives while the user types from garbling the input. Input is UTF-8 (recvline alone
takes ASCII only); the area may wrap over several rows. The terminal protocol knows nothing of the
network: typed lines and quit requests go to the callbacks it was given.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any, ClassVar

from twisted.conch.recvline import HistoricRecvLine
from twisted.python.failure import Failure

from twisted_chat.client.render import display_width, escape, needs_escape

CTRL_A = b"\x01"
CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_E = b"\x05"
CTRL_H = b"\x08"
CTRL_L = b"\x0c"
CTRL_U = b"\x15"


class ChatTerminal(HistoricRecvLine):
    """A prompt with line editing and history; lines from elsewhere are shown above it.

    ``on_line`` gets each line the user enters (as text); ``on_quit`` is called with
    ``graceful=True`` for Ctrl-D on an empty line (say goodbye to the server first) and
    ``graceful=False`` for Ctrl-C or when the terminal itself goes away.
    """

    ps = (b"> ", b"> ")

    def __init__(self, on_line: Callable[[str], None], on_quit: Callable[[bool], None]) -> None:
        self.on_line = on_line
        self.on_quit = on_quit
        self._cursor_row = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._finished = False

    # -- drawing ----------------------------------------------------------------------------

    def initializeScreen(self) -> None:
        """Draw the prompt where the cursor is; unlike recvline, do not reset the terminal
        (which would clear the user's screen) nor switch it to insert mode."""
        self.mode = "insert"
        self._cursor_row = 0
        self.terminal.write(b"\r")
        self._draw_input()

    def _text(self, upto: int | None = None) -> str:
        return b"".join(self.lineBuffer[:upto]).decode("utf-8")

    def _draw_input(self) -> None:
        """Write the prompt and the buffer from the start of the current row, then put the
        cursor at the editing position."""
        terminal = self.terminal
        prompt = self.ps[self.pn]
        terminal.write(prompt + b"".join(self.lineBuffer))
        width = max(self.width, 1)
        used = display_width(prompt.decode("utf-8")) + display_width(self._text())
        if used and used % width == 0:
            # The cursor waits at the right margin: move it to the start of the next row for
            # real, so that the row arithmetic below holds on every terminal.
            terminal.write(b" \r")
            terminal.eraseToLineEnd()
        end_row = used // width
        at = display_width(prompt.decode("utf-8")) + display_width(self._text(self.lineBufferIndex))
        row, column = divmod(at, width)
        if end_row > row:
            terminal.cursorUp(end_row - row)
        terminal.write(b"\r")
        if column:
            terminal.cursorForward(column)
        self._cursor_row = row

    def _erase_input(self) -> None:
        """Move to the first row of the input area and erase it and everything below."""
        if self._cursor_row:
            self.terminal.cursorUp(self._cursor_row)
        self.terminal.write(b"\r")
        self.terminal.eraseToDisplayEnd()
        self._cursor_row = 0

    def set_prompt(self, text: str) -> None:
        """Show ``text`` (escaped here: nothing in it acts on the terminal) as the prompt,
        redrawing the input area if it changed."""
        prompt = escape(text).encode("utf-8")
        if self.ps == (prompt, prompt):
            return
        self.ps = (prompt, prompt)
        if getattr(self, "terminal", None) is not None:  # drawn once connected otherwise
            self.redraw()

    def redraw(self) -> None:
        """Draw the input area again from scratch."""
        if self._finished:
            return
        self._erase_input()
        self._draw_input()

    def show(self, text: str) -> None:
        """Print ``text`` (already escaped, perhaps with SGR colour) as a line above the input."""
        if self._finished:
            return
        self._erase_input()
        self.terminal.write(text.encode("utf-8", errors="replace") + b"\r\n")
        self._draw_input()

    def finish(self) -> None:
        """Erase the input area and reset colours: the terminal as the shell expects it."""
        if self._finished:
            return
        self._erase_input()
        self.terminal.write(b"\x1b[0m")
        self._finished = True

    def terminalSize(self, width: int, height: int) -> None:
        """The terminal was resized: redraw the input area for the new width."""
        self._erase_input()
        self.width = width
        self.height = height
        self._draw_input()

    # -- keys -------------------------------------------------------------------------------

    def keystrokeReceived(self, keyID: object, modifier: object) -> None:
        """Control keys first, then UTF-8 text, then recvline's table (arrows, Home, ...)."""
        if self._finished:
            return
        control = self._controls.get(keyID)
        if control is not None:
            control(self)
        elif keyID in self.keyHandlers:
            self.keyHandlers[keyID]()
        elif modifier is None and isinstance(keyID, bytes) and (keyID >= b" "):
            self._typed(keyID)

    def _ctrl_d(self) -> None:
        """Delete the character under the cursor; on an empty line, quit."""
        if self.lineBuffer:
            self.handle_DELETE()
        else:
            self.on_quit(True)

    def _ctrl_u(self) -> None:
        """Clear the line."""
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self.redraw()

    #: The control keys, before recvline's own table.
    _controls: ClassVar[dict[object, Callable[[Any], None]]] = {
        CTRL_C: lambda self: self.on_quit(False),
        CTRL_D: _ctrl_d,
        CTRL_L: lambda self: self.redraw(),
        CTRL_U: _ctrl_u,
        CTRL_A: lambda self: self.handle_HOME(),
        CTRL_E: lambda self: self.handle_END(),
        CTRL_H: lambda self: self.handle_BACKSPACE(),
    }

    def _typed(self, data: bytes) -> None:
        """Bytes of text typed or pasted: decode UTF-8 and insert every printable character."""
        for char in self._decoder.decode(data):
            if not needs_escape(char):
                self._insert(char.encode("utf-8"))
        self.redraw()

    def _insert(self, char: bytes) -> None:
        if self.mode == "insert":
            self.lineBuffer.insert(self.lineBufferIndex, char)
        else:
            self.lineBuffer[self.lineBufferIndex : self.lineBufferIndex + 1] = [char]
        self.lineBufferIndex += 1

    def characterReceived(self, ch: bytes, moreCharactersComing: bool) -> None:
        """One character into the buffer (recvline's entry point)."""
        self._insert(ch)
        if not moreCharactersComing:
            self.redraw()

    def _deliverBuffer(self, buf: bytes) -> None:
        """Put a history entry in the buffer, one element per character (not per byte)."""
        self.lineBuffer = [c.encode("utf-8") for c in buf.decode("utf-8")]
        self.lineBufferIndex = len(self.lineBuffer)
        self.redraw()

    def handle_TAB(self) -> None:
        """Spaces up to the next tab stop."""
        for _ in range(self.TABSTOP - (self.lineBufferIndex % self.TABSTOP)):
            self._insert(b" ")
        self.redraw()

    def handle_LEFT(self) -> None:
        """One character left."""
        if self.lineBufferIndex > 0:
            self.lineBufferIndex -= 1
            self.redraw()

    def handle_RIGHT(self) -> None:
        """One character right."""
        if self.lineBufferIndex < len(self.lineBuffer):
            self.lineBufferIndex += 1
            self.redraw()

    def handle_HOME(self) -> None:
        """To the start of the line."""
        self.lineBufferIndex = 0
        self.redraw()

    def handle_END(self) -> None:
        """To the end of the line."""
        self.lineBufferIndex = len(self.lineBuffer)
        self.redraw()

    def handle_BACKSPACE(self) -> None:
        """Delete the character before the cursor."""
        if self.lineBufferIndex > 0:
            self.lineBufferIndex -= 1
            del self.lineBuffer[self.lineBufferIndex]
            self.redraw()

    def handle_DELETE(self) -> None:
        """Delete the character under the cursor."""
        if self.lineBufferIndex < len(self.lineBuffer):
            del self.lineBuffer[self.lineBufferIndex]
            self.redraw()

    def handle_INSERT(self) -> None:
        """Toggle insert and typeover (tracked here; the terminal's own mode is left alone)."""
        self.mode = "typeover" if self.mode == "insert" else "insert"

    def handle_RETURN(self) -> None:
        """Enter: the line goes to history and to ``on_line``; the input area is emptied."""
        line = b"".join(self.lineBuffer)
        if line:
            self.historyLines.append(line)
        self.historyPosition = len(self.historyLines)
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self.redraw()
        self.on_line(line.decode("utf-8"))

    def handle_UP(self) -> None:
        """The previous history entry."""
        super().handle_UP()
        self.redraw()

    def handle_DOWN(self) -> None:
        """The next history entry (or an empty line past the newest)."""
        super().handle_DOWN()
        self.redraw()

    def forget_last_history(self) -> None:
        """Drop the newest history entry (a line that carried a password)."""
        if self.historyLines:
            self.historyLines.pop()
            self.historyPosition = len(self.historyLines)

    def connectionLost(self, reason: Failure | None = None) -> None:
        """The terminal went away (stdin closed): quit at once."""
        if not self._finished:
            self.on_quit(False)
