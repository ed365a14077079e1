"""Reloading the settings while running (``SIGHUP`` under ``twistd``, with ``--config``).

:class:`Reloader` builds a new :class:`~twisted_chat.settings.Settings` (the command line parsed
again, so the file is read again and the command line still wins, everything checked as at
start-up), keeps the options that need a restart at their running values, and compares the
result with the running settings section by section. Each section that changed is handed to the
callbacks registered for it with :meth:`Reloader.register`, in the manner of Synapse's
``register_sighup``: the reloader knows no component, the components (or ``makeService`` for
them) say which section they follow. The log names the live options that changed, and, in a
warning, the restart-only ones that differ in the file. A file that no longer parses, or holds a
bad value, changes nothing and the log says why, in one line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.logger import Logger
from twisted.python import usage

from twisted_chat.settings import (
    SECTIONS,
    Settings,
    keep_restart_options,
    live_options,
    restart_options,
)

_S = TypeVar("_S")


class Reloader:
    """Builds new settings on demand and hands each changed section to whoever registered."""

    log = Logger()

    def __init__(
        self, settings: Settings, load: Callable[[], Settings], path: str | None = None
    ) -> None:
        #: The settings running now (the restart-only options: those the server started with).
        self.settings = settings
        self._load = load
        #: The ``--config`` file, for the log.
        self.path = path
        self._callbacks: defaultdict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def register(self, section: type[_S], callback: Callable[[_S], None]) -> None:
        """Call ``callback`` with the new section of type ``section`` (``Limits``,
        ``ChatSettings``...) each time a reload changes it."""
        [name] = [name for name, kind in SECTIONS.items() if kind is section]
        self._callbacks[name].append(callback)

    def reload(self) -> bool:
        """Build the settings again and apply them; ``False`` (and one log line) if they are
        bad."""
        try:
            new = self._load()
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
        old = self.settings
        changed = [o.name for o in live_options() if o.value_in(old) != o.value_in(new)]
        restart = [o.name for o in restart_options() if o.value_in(old) != o.value_in(new)]
        running = keep_restart_options(old, new)
        self.settings = running
        for name in SECTIONS:
            section = getattr(running, name)
            if section != getattr(old, name):
                self._apply(name, section)
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

    def _apply(self, name: str, section: Any) -> None:
        for callback in self._callbacks[name]:
            try:
                callback(section)
            except Exception:  # one component's trouble must not keep the others unapplied
                self.log.failure("Applying the reloaded {section} settings failed", section=name)
