"""The unit level's guard, kept for good: during a unit test, opening a socket, starting a process
or starting a thread raises :class:`LevelViolation`, so a test that needs one fails here and moves
to ``tests/inprocess`` or ``tests/e2e`` instead of slowing the fast loop down. (Under ``trial``,
which reads no conftest, the guard is off.)"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest


class LevelViolation(AssertionError):
    """A unit test reached for a socket, a process or a thread."""


def refuse(what: str) -> Callable[..., NoReturn]:
    """A stand-in that fails the test, saying what it tried and where such a test belongs."""

    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        raise LevelViolation(
            f"a unit test may not {what}: it belongs in tests/inprocess (real sockets, threads) "
            "or tests/e2e (processes)"
        )

    return refused


#: (object, attribute, what it does) for everything the guard refuses.
REFUSED: list[tuple[Any, str, str]] = [
    (socket.socket, "__init__", "open a socket"),
    (socket, "socketpair", "open a socket pair"),
    (subprocess.Popen, "__init__", "start a process"),
    (os, "fork", "fork"),
    (os, "forkpty", "fork a pseudo-terminal"),
    (os, "posix_spawn", "start a process"),
    (os, "posix_spawnp", "start a process"),
    (os, "system", "start a process"),
    (threading.Thread, "start", "start a thread"),
]


@pytest.fixture(autouse=True)
def no_sockets_processes_or_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse sockets, processes and threads for the length of each unit test."""
    for owner, name, what in REFUSED:
        if hasattr(owner, name):
            monkeypatch.setattr(owner, name, refuse(what))
    yield
