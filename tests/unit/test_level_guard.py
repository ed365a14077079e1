"""The unit level's guard (``tests/unit/conftest.py``) refuses sockets, processes and threads.

Plain pytest functions: the guard is a pytest fixture, so ``trial`` (which reads no conftest)
does not run them."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from tests.unit.conftest import LevelViolation


def test_no_socket() -> None:
    with pytest.raises(LevelViolation, match="open a socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(LevelViolation):
        socket.create_connection(("127.0.0.1", 9))


def test_no_process() -> None:
    with pytest.raises(LevelViolation, match="start a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_no_thread() -> None:
    with pytest.raises(LevelViolation, match="start a thread"):
        threading.Thread(target=lambda: None).start()
