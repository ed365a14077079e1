"""``twistd chat``: its command-line options, and :func:`makeService`, which builds the server.

The options themselves are declared in :mod:`twisted_chat.settings`; the service tree is in
:mod:`twisted_chat.service`.
"""

from __future__ import annotations

import getopt
import sys
from collections.abc import Callable
from typing import Any

from twisted.python import usage

from twisted_chat.config import OptionKinds, read_config
from twisted_chat.logsetup import LogSetup
from twisted_chat.process import OwnedProcess
from twisted_chat.reload import Reloader
from twisted_chat.service import ChatService, build_chat
from twisted_chat.settings import (
    BY_NAME,
    OPTIONS,
    DatabaseSettings,
    LogSettings,
    Settings,
    declared_options,
    initial_values,
    server_endpoint,
    validate,
)
from twisted_chat.storage import open_login_store


@declared_options
class Options(usage.Options):
    """Options of ``twistd chat`` (each one declared in :data:`twisted_chat.settings.OPTIONS`).

    They hold what was given, as strings (lists of strings for the repeatable ones), with the
    ``--config`` file's values for the options the command line did not give; once parsed,
    :attr:`settings` is what they mean.
    """

    #: Set by :func:`~twisted_chat.settings.declared_options`.
    optParameters: list[list[Any]]
    #: The checked, typed settings (once parsed).
    settings: Settings

    synopsis = (
        "[--port ENDPOINT]... [--web ENDPOINT]... [--irc ENDPOINT]... [--db URL] [--lang es|en]"
    )
    longdesc = (
        "A line-protocol chat server: connect with `nc 127.0.0.1 1234`, pick a nickname and talk. "
        "Users and their last connection are kept in SQLite (default) or MySQL/MariaDB."
    )

    def __init__(self) -> None:
        super().__init__()
        self.update(initial_values())
        #: The arguments given to :meth:`parseOptions` (a reload parses them again).
        self.argv: list[str] = []
        #: The options given on the command line (long names), which win over ``--config``.
        self.given: set[str] = set()
        #: The options that came from the ``--config`` file.
        self.from_file: set[str] = set()

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse ``options`` (``sys.argv[1:]`` by default), noting which were given."""
        argv = list(sys.argv[1:] if options is None else options)
        self.argv = argv
        try:
            given, _ = getopt.getopt(argv, self.shortOpt, self.longOpt)  # as usage.Options does
        except getopt.error:
            given = []  # the parse below reports it
        for name, _value in given:
            name = name.lstrip("-")
            name = self.synonyms.get(name, self.synonyms.get(name.replace("-", "_"), name))
            self.given.add(name.replace("_", "-"))
        super().parseOptions(argv)

    def reparsed(self) -> Options:
        """The same command line parsed again, with the ``--config`` file read again."""
        fresh = type(self)()
        fresh.parseOptions(self.argv)
        return fresh

    def postOptions(self) -> None:
        """Take the ``--config`` file's values for the options not given, then check them all
        (a bad value is a usage error naming the file and key when it came from the file)."""
        path = self["config"]
        if path is not None:
            kinds = OptionKinds.from_options(OPTIONS)
            for key, value in read_config(path, kinds).items():
                if BY_NAME[key].flag in self.given:
                    continue
                self[key] = value
                self.from_file.add(key)
        self.settings = validate(self, self.from_file, path)


def makeService(options: Options) -> ChatService:
    """Build the server that ``options`` describe (no I/O happens until it is started)."""
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    settings = options.settings
    reloader = Reloader(settings, lambda: options.reparsed().settings, options["config"])
    # Run by twistd (whose options are the parent of ours), the service owns the process.
    process = None
    if options.parent is not None:
        process = OwnedProcess(reactor)
        # twistd begins logging after this: filter and format what it shows.
        log_setup = LogSetup(settings.log.level, settings.log.format)
        log_setup.install()
        reloader.register(LogSettings, lambda log: log_setup.set_level(log.level))
    url = settings.database.url
    store = open_login_store(url, reactor, settings.database.queue)

    def on_fatal(message: str) -> None:
        server.stop_with_error(message)

    chat = build_chat(settings, reactor, store, reloader, on_fatal)
    sighup = reloader.reload if options["config"] is not None else None
    server = ChatService(chat, store, url.describe(), process, sighup)
    server.reloader = reloader
    if server.storage is not None:
        storage = server.storage
        reloader.register(DatabaseSettings, lambda db: storage.use_queue_bound(db.queue))
    if chat.cluster is not None:
        from twisted_chat.cluster.service import ClusterService

        server.add_serving(ClusterService(chat.cluster))

    def endpoint(description: str, option: str) -> Any:
        return server_endpoint(description, settings.listeners.backlog, option, reactor)

    for description in settings.listeners.ports:
        server.add_listener(endpoint(description, "port"), chat.tcp, description)
    web = settings.web
    for description in web.listeners:
        from twisted_chat.web.resources import make_site

        # The page and the WebSocket's notices follow the server's language (a reload too).
        site = make_site(chat.server, chat.chat.frames, chat.chat.language, web.origins, web.ping)
        server.add_listener(endpoint(description, "web"), site, description)
    _add_irc_listeners(server, chat.chat, settings.irc, endpoint)
    if settings.metrics.endpoint is not None:
        description = settings.metrics.endpoint
        server.add_metrics_listener(endpoint(description, "metrics"), description)
    return server


def _add_irc_listeners(
    server: ChatService, chat: Any, irc: Any, endpoint: Callable[[str, str], Any]
) -> None:
    """The ``--irc`` listeners (``irc``: the settings' section) of ``chat`` (an assembled
    chat), all served by one factory."""
    if not irc.listeners:
        return
    from twisted_chat.irc.commands import IrcCommands
    from twisted_chat.irc.protocol import IrcFactory

    interpreter = IrcCommands(
        chat.core,
        chat.rooms,
        chat.language,
        irc.server_name,
        motd=irc.motd or (),
        max_channels=irc.max_channels,
        server_password=irc.password,
    )
    factory = IrcFactory(chat.server, interpreter)
    for description in irc.listeners:
        server.add_listener(endpoint(description, "irc"), factory, description)
