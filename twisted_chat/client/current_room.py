"""The room the user is in, as the client learns it from server lines (protocol v1.1), and the
prompt that shows it.

The server names the user's room in its room line, ``* Sala juegos (3): @ana, Bob, carol``
(``* Room juegos (3): ...`` on an English server), the first line of its answer to ``/unirse``,
``/join``, ``/sala`` and ``/room``; a failed move is an ``! `` line and changes nothing. A login
sends no room line, so after each login the client asks ``/sala`` itself and
:class:`RoomTracker` hides exactly that answer (the room line and the topic line after it); every
other room line is shown and moves the prompt.
"""

from __future__ import annotations

import re
from typing import Final

#: What the client sends after a login to learn its room.
ROOM_QUERY: Final = "/sala"
#: Longest room name shown in the prompt (the server's own limit is 32).
MAX_ROOM_SHOWN: Final = 32

_ROOM_LINE: Final = re.compile(r"\* (?:Sala|Room) (\S+) \((\d+)\):(?: .*)?", re.DOTALL)
_TOPIC_LINE: Final = re.compile(r"\* (?:Tema|Topic): .*", re.DOTALL)
_NO_TOPIC_LINES: Final = ("* La sala {room} no tiene tema.", "* The room {room} has no topic.")
#: The unknown-command error of a server before v1.1 (``/sala``, but not ``/salas``).
_QUERY_UNKNOWN: Final = re.compile(r"/sala\b")


def room_in(line: str) -> str | None:
    """The room a room line (``* Sala NAME (N): ...`` or ``* Room NAME (N): ...``) names;
    ``None`` for any other line."""
    match = _ROOM_LINE.fullmatch(line)
    return match.group(1) if match else None


def is_topic_line(line: str, room: str) -> bool:
    """Whether ``line`` is the second line of the answer about ``room``: its topic
    (``* Tema: ...``) or that it has none (``* La sala NAME no tiene tema.``)."""
    if _TOPIC_LINE.fullmatch(line):
        return True
    return any(line == form.format(room=room) for form in _NO_TOPIC_LINES)


def prompt_for(room: str | None, nickname: str | None) -> str:
    """The prompt: ``[juegos] ana> `` once both are known, ``ana> `` before the room is, and
    ``> `` before a login (unescaped: the terminal escapes what it draws). A room name longer
    than any the server allows is cut at :data:`MAX_ROOM_SHOWN` characters, with ``…``."""
    if room and len(room) > MAX_ROOM_SHOWN:
        room = room[:MAX_ROOM_SHOWN] + "…"
    parts = [f"[{room}]"] if room else []
    if nickname:
        parts.append(nickname)
    return " ".join(parts) + "> "


class RoomTracker:
    """The user's room on the current connection, followed through the server lines."""

    def __init__(self) -> None:
        #: The room the user is in, once a room line has said it.
        self.room: str | None = None
        #: Whether this connection's ``/sala`` was sent.
        self.asked = False
        self._awaiting = False
        self._hide_topic_of: str | None = None

    def reset(self) -> None:
        """A new connection (or none): the room is unknown until the next login's answer."""
        self.room = None
        self.asked = False
        self._awaiting = False
        self._hide_topic_of = None

    def query(self) -> str:
        """The line to send after a login; its answer will be hidden."""
        self.asked = True
        self._awaiting = True
        return ROOM_QUERY

    def shown(self, line: str) -> bool:
        """Follow ``line`` (a decoded server line); whether the user should see it.

        Hidden: the room line answering :meth:`query` and the topic line right after it, or
        the ``! `` line of a server that does not know ``/sala``.
        """
        hide_topic_of, self._hide_topic_of = self._hide_topic_of, None
        if hide_topic_of is not None and is_topic_line(line, hide_topic_of):
            return False
        room = room_in(line)
        if room is not None:
            self.room = room
            if self._awaiting:
                self._awaiting = False
                self._hide_topic_of = room
                return False
            return True
        if self._awaiting and line.startswith("! ") and _QUERY_UNKNOWN.search(line):
            self._awaiting = False
            return False
        return True
