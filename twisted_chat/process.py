"""What the server does to its process: open-files limit, garbage collector, signals, exit status.

The tuning (:func:`raise_open_files_limit`, :func:`tune_garbage_collector`) applies wherever the
server runs. :class:`OwnedProcess` is for when the server owns the process (run by ``twistd``):
it installs the SIGHUP handler (a reload) and restores the previous one, makes a SIGTERM or
SIGINT shutdown end with status 0, and ends the process with status 1 after a fatal error.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet import error
from twisted.logger import Logger

#: File descriptors kept for the listeners, the database and logs.
RESERVED_FILES = 32
#: Garbage-collector thresholds while serving (CPython's defaults are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Collect cyclic garbage less often, as Synapse does (its ``gc_thresholds``).

    With CPython's defaults a server that allocates a few objects per delivery runs a young
    collection every few hundred messages and a full one (which walks every connection's
    objects) often enough to show as latency spikes: in the 1000-client fan-out benchmark the
    worst delivery latency fell from 54-63 ms to 27-30 ms with these thresholds.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def raise_open_files_limit(wanted_clients: int) -> int:
    """Raise the soft open-files limit as far as the hard limit allows; log how many clients fit.

    Returns the new soft limit (or -1 where ``resource`` is unavailable).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    room = soft - RESERVED_FILES
    log = Logger(namespace="twisted_chat.service")  # the namespace its lines always had
    log.info("Open-files limit {soft}: room for about {room} clients", soft=soft, room=max(room, 0))
    if wanted_clients and room < wanted_clients:
        log.warn(
            "--max-clients {wanted} is above what the open-files limit allows ({room})",
            wanted=wanted_clients,
            room=room,
        )
    return int(soft)


class OwnedProcess:
    """The process of a server run by ``twistd``: its signals and its exit status."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        #: The status the process ends with (set by :meth:`fail`).
        self.exit_status = 0
        self._previous_sighup: Any = None

    def started(self, on_sighup: Callable[[], object] | None) -> None:
        """The server is starting: exit with :attr:`exit_status` at the end, and call
        ``on_sighup`` (from the reactor) on each SIGHUP, if given."""
        atexit.register(self.exit_with_status)
        if on_sighup is not None and hasattr(signal, "SIGHUP"):

            def sighup(signum: int, frame: Any) -> None:
                # Not in the handler: from the reactor.
                self.reactor.callFromThread(on_sighup)

            self._previous_sighup = signal.signal(signal.SIGHUP, sighup)

    def stopping(self) -> None:
        """The server is shutting down: SIGHUP back to what it was, and a SIGTERM/SIGINT
        shutdown counted as a normal, graceful stop (status 0). twistd would otherwise
        re-raise the signal after shutting down, and the process would die of it."""
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
        if getattr(self.reactor, "_exitSignal", None) is not None:
            self.reactor._exitSignal = None

    def fail(self, status: int = 1) -> None:
        """Stop the reactor (the usual graceful shutdown); the process then exits with
        ``status``."""
        self.exit_status = status
        with contextlib.suppress(error.ReactorNotRunning):  # stopping already
            self.reactor.stop()

    def exit_with_status(self) -> None:
        """At interpreter exit (after ``twistd`` has shut down and logged its last line), exit
        with :attr:`exit_status` if it is not 0.

        ``twistd`` has no way to end with a status of our choosing once the reactor has run
        (a listener can raise ``SystemExit`` only because it fails before), so this flushes the
        output and ends the process with ``os._exit``. Registered at start-up, it runs after
        the exit handlers registered later.
        """
        if not self.exit_status:
            return
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(self.exit_status)
