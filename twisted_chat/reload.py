"""Reloading the ``--config`` file while running (``SIGHUP`` under ``twistd``).

:class:`Reloader` parses the command line again (so the file is read again, and the command
line still wins), validates everything as at start-up, and applies what can change without
dropping a connection: the limits (to open connections too), the language, the operators, the
log level and the outage queue's bound. Settings that need a restart (listeners, database,
Redis...) are left as they are, and the log names the ones that changed. A file that no longer
parses, or holds a bad value, changes nothing and the log says why, in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python import usage

from twisted_chat import nicknames
from twisted_chat.logsetup import LogSetup
from twisted_chat.text import CATALOGUES

if TYPE_CHECKING:
    from twisted_chat.service import ChatService, Options

#: Options that only take effect at start-up.
RESTART_KEYS = (
    "port",
    "db",
    "backlog",
    "redis",
    "node-id",
    "cluster-ttl",
    "redis-prefix",
    "log-format",
    "web",
    "web-origin",
    "web-ping",
    "metrics",
)
#: Options compared to tell what a reload changed (besides the restart keys).
LIVE_KEYS = (
    "lang",
    "log-level",
    "operators",
    "db-queue",
    "sendq",
    "max-strikes",
    "flood-rate",
    "flood-burst",
    "flood-kick",
    "max-clients",
    "max-per-ip",
    "exempt",
    "login-timeout",
    "idle-timeout",
)


def operator_keys(names: list[str]) -> frozenset[str]:
    """The nickname keys of the ``operators`` option's nicknames."""
    return frozenset(nicknames.key(nicknames.normalize(name)) for name in names)


class Reloader:
    """Applies a reloaded configuration to a running :class:`~twisted_chat.service.ChatService`."""

    log = Logger()

    def __init__(
        self, options: Options, server: ChatService, log_setup: LogSetup | None = None
    ) -> None:
        #: The options running now (for the restart keys: those the server started with).
        self.options = options
        self.server = server
        self.log_setup = log_setup

    @property
    def path(self) -> str | None:
        """The ``--config`` file."""
        path: str | None = self.options["config"]
        return path

    def reload(self) -> bool:
        """Read the file again and apply it; ``False`` (and one log line) if it is bad."""
        try:
            new = self.options.reparsed()
        except usage.UsageError as e:
            self.log.error(
                "Configuration not reloaded, the running settings stay: {error}", error=e
            )
            return False
        except Exception as e:  # anything unexpected must not take the server down
            self.log.error(
                "Configuration not reloaded, the running settings stay: {error!r}", error=e
            )
            return False
        old = self.options
        changed = [key for key in LIVE_KEYS if _value(old, key) != _value(new, key)]
        restart = [key for key in RESTART_KEYS if _value(old, key) != _value(new, key)]
        self._apply(new)
        for key in RESTART_KEYS:  # keep what is really running, to compare with next time
            new[key] = old[key]
        self.options = new
        self.log.info(
            "Configuration reloaded from {path}: {changes}",
            path=self.path,
            changes=", ".join(changed) + " changed" if changed else "no change applied",
            changed=changed,
        )
        if restart:
            self.log.warn(
                "Configuration: {keys} changed in {path} but only take effect after a restart; "
                "still running with the old values",
                keys=", ".join(restart),
                path=self.path,
                restart=restart,
            )
        return True

    def _apply(self, new: Options) -> None:
        server = self.server
        chat = server.chat
        limits = new["limits"]
        if limits != server.factory.limits:
            server.factory.use_limits(limits)
        texts = CATALOGUES[new["lang"]]
        language = server.parts.language
        if texts is not language.texts:
            language.use(texts)
        chat.operators.use(new["operators"])
        if self.log_setup is not None:
            self.log_setup.set_level(new["log-level"])
        if server.store is not None:
            server.store.queue_limit = max(1, new["db_queue"])


def _value(options: Options, key: str) -> Any:
    return options.get(key)
