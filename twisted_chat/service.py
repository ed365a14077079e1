"""``twistd chat``: command-line options and the service tree (listeners + chat + database)."""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage

from twisted_chat.chat import ChatCore
from twisted_chat.protocol import ChatFactory
from twisted_chat.storage import BadDatabaseURL, LoginStore, open_login_store, parse_db_url
from twisted_chat.text import CATALOGUES

DEFAULT_PORT = "tcp:1234:interface=127.0.0.1"
DEFAULT_DB = "sqlite:chat.sqlite3"
#: Longest wait for queued database writes at shutdown, in seconds.
SHUTDOWN_FLUSH_TIMEOUT = 3.0


class Options(usage.Options):
    """Options of ``twistd chat``."""

    synopsis = "[--port ENDPOINT]... [--db URL] [--lang es|en]"
    longdesc = (
        "A line-protocol chat server: connect with `nc 127.0.0.1 1234`, pick a nickname and talk. "
        "Users and their last connection are kept in SQLite (default) or MySQL/MariaDB."
    )
    optParameters = [
        [
            "db",
            None,
            DEFAULT_DB,
            "Database: sqlite:PATH, or mysql://USER[:PASSWORD]@HOST[:PORT][/DBNAME] (DBNAME "
            "defaults to redes; the password may come from $CHAT_DB_PASSWORD instead).",
        ],
        ["lang", None, "es", "Language of the server's text: es or en."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []

    def opt_port(self, description: str) -> None:
        """Endpoint to listen on; repeatable (default tcp:1234:interface=127.0.0.1; ssl:, unix:)."""
        self["port"].append(description)

    opt_p = opt_port

    def postOptions(self) -> None:
        """Validate every option, turning bad values into usage errors."""
        from twisted.internet import reactor

        if not self["port"]:
            self["port"] = [DEFAULT_PORT]
        endpoints_: list[IStreamServerEndpoint] = []
        for description in self["port"]:
            kind, _, rest = description.partition(":")
            if kind in ("tcp", "tcp6", "ssl") and rest:
                port = rest.split(":", 1)[0].removeprefix("port=")
                if not port.isdigit() or not 0 <= int(port) <= 65535:
                    raise usage.UsageError(
                        f"bad --port {description!r}: port must be a number from 0 to 65535"
                    )
            try:
                endpoints_.append(endpoints.serverFromString(reactor, description))
            except Exception as e:  # ValueError, KeyError, SSL errors, missing files...
                raise usage.UsageError(f"bad --port {description!r}: {e}") from None
        self["endpoints"] = endpoints_
        if self["lang"] not in CATALOGUES:
            raise usage.UsageError(f"bad --lang {self['lang']!r}: use one of {sorted(CATALOGUES)}")
        try:
            self["db_url"] = parse_db_url(self["db"])
        except BadDatabaseURL as e:
            raise usage.UsageError(f"bad --db: {e}") from None
        except Exception as e:
            raise usage.UsageError(f"bad --db {self['db']!r}: {e}") from None


class ListenerService(service.Service):
    """Listens on one endpoint while running; ``port`` is the listening port once started."""

    log = Logger()

    def __init__(self, endpoint: IStreamServerEndpoint, factory: ChatFactory, description: str):
        self.endpoint = endpoint
        self.factory = factory
        self.description = description
        self.port: IListeningPort | None = None
        self.listening: defer.Deferred[IListeningPort] | None = None
        self._failure: BaseException | None = None

    def privilegedStartService(self) -> None:
        """Listen before privileges are dropped; a failure to listen ends the process.

        Twisted's own endpoints listen synchronously, so a port in use is reported here, before
        the reactor starts, and ``twistd`` exits with status 1 and a one-line message.
        """
        super().privilegedStartService()
        self._listen()
        if self.listening is not None and self.port is None and self._failure is not None:
            raise SystemExit(f"twistd chat: cannot listen on {self.description}: {self._failure}")

    def startService(self) -> None:
        """Start listening, unless :meth:`privilegedStartService` already did."""
        super().startService()
        if self.listening is None:
            self._listen()

    def _listen(self) -> None:
        from twisted.internet import reactor

        self._failure = None

        def listening(port: IListeningPort) -> IListeningPort:
            self.port = port
            self.log.info("Listening on {address}", address=port.getHost())
            return port

        def failed(failure: Any) -> Any:
            self._failure = failure.value
            self.log.critical(
                "Cannot listen on {description}: {error}",
                description=self.description,
                error=failure.value,
            )
            # A listener that fails later than synchronously stops the whole server too.
            reactor.callWhenRunning(reactor.stop)
            return failure

        self.listening = self.endpoint.listen(self.factory).addCallbacks(listening, failed)
        self.listening.addErrback(lambda _: None)

    def stopService(self) -> defer.Deferred[None] | None:
        """Stop accepting connections."""
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            stopped = port.stopListening()
            return stopped if isinstance(stopped, defer.Deferred) else None
        return None


class ChatService(service.MultiService):
    """The whole server: the chat core, its login store, and one listener per ``--port``."""

    log = Logger()

    def __init__(self, chat: ChatCore, store: LoginStore | None, db_description: str) -> None:
        super().__init__()
        self.chat = chat
        self.store = store
        self.factory = ChatFactory(chat)
        self.db_description = db_description

    def add_listener(self, endpoint: IStreamServerEndpoint, description: str) -> ListenerService:
        """Listen on ``endpoint`` while the service runs."""
        listener = ListenerService(endpoint, self.factory, description)
        listener.setServiceParent(self)
        return listener

    def listeners(self) -> list[ListenerService]:
        """The listener services, in ``--port`` order."""
        return [s for s in self if isinstance(s, ListenerService)]

    def startService(self) -> None:
        """Start the database work (schema creation happens in the background), then listen."""
        self.log.info(
            "twisted-chat starting (database {db}, language {lang})",
            db=self.db_description,
            lang=self.chat.texts.lang,
        )
        if self.store is not None:
            self.store.start()
        super().startService()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, write what the database still owes (bounded wait), close the pool."""
        yield super().stopService()
        if self.store is not None:
            left = yield self.store.flush(SHUTDOWN_FLUSH_TIMEOUT)
            self.store.stop()
            if left:
                self.log.warn("{count} login records could not be written", count=left)
            self.store.database.close()


def makeService(options: Options) -> ChatService:
    """Build the server described by ``options`` (no I/O happens until it is started)."""
    from twisted.internet import reactor

    url = options["db_url"]
    store = open_login_store(url, reactor)
    chat = ChatCore(CATALOGUES[options["lang"]], reactor, store)
    server = ChatService(chat, store, url.describe())
    for endpoint, description in zip(options["endpoints"], options["port"], strict=True):
        server.add_listener(endpoint, description)
    return server
