"""Ending the server for a configuration that can never work, found after start-up.

``twistd`` has no way to set the exit status from a running reactor: :func:`stop_with_error`
logs one critical line, stops the reactor (services stop gracefully, as on SIGTERM) and, once
shutdown is complete, ends the process with status 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="twisted_chat")
_stopping = False


def stop_with_error(message: str, status: int = 1, reactor: Any = None) -> None:
    """Log ``message`` (one line, no traceback), stop the server, exit with ``status``."""
    global _stopping
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    if _stopping:
        return
    _stopping = True
    log.critical("{message}", message=message)
    reactor.addSystemEventTrigger("after", "shutdown", _exit, status)
    if reactor.running:
        reactor.stop()
    else:
        reactor.callWhenRunning(reactor.stop)


def _exit(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
