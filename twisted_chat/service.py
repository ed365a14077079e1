"""``twistd chat``: command-line options and the service tree (listeners + chat + database)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import getopt
import os
import re
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, endpoints, task, threads
from twisted.internet import error as error_
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage

from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.assembly import Chat, assemble, local_room
from twisted_chat.bans import Bans
from twisted_chat.config import REPEATABLE, OptionKinds, read_config
from twisted_chat.limits import DEFAULT_EXEMPT, Limits, parse_exempt
from twisted_chat.logsetup import FORMATS, LEVELS, LogSetup
from twisted_chat.proxy import proxied
from twisted_chat.reload import Reloader
from twisted_chat.storage import (
    MYSQL_DRIVER_HINT,
    AccountStore,
    BadDatabaseURL,
    BanStore,
    DatabaseMisconfigured,
    LoginStore,
    MysqlURL,
    mysql_driver_problem,
    open_login_store,
    parse_db_url,
)
from twisted_chat.tcp import ChatTCPFactory
from twisted_chat.text import CATALOGUES

if TYPE_CHECKING:
    from twisted_chat.metrics import ChatMetrics

DEFAULT_PORT = "tcp:1234:interface=127.0.0.1"
DEFAULT_DB = "sqlite:chat.sqlite3"
#: Longest wait for connections to close at shutdown before they are aborted, in seconds.
SHUTDOWN_CLOSE_TIMEOUT = 1.5
#: Longest wait for queued database writes at shutdown, in seconds.
SHUTDOWN_FLUSH_TIMEOUT = 2.5
_NODE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: File descriptors kept for the listeners, the database and logs.
RESERVED_FILES = 32


class Options(usage.Options):
    """Options of ``twistd chat``."""

    synopsis = "[--port ENDPOINT]... [--web ENDPOINT]... [--db URL] [--lang es|en]"
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
        ["sendq", None, "1048576", "Disconnect a client whose pending output passes BYTES."],
        ["max-strikes", None, "10", "Disconnect after N bad lines in a row (0 = never)."],
        ["flood-rate", None, "10", "Lines per second a client may send (0 = no flood control)."],
        ["flood-burst", None, "20", "Lines a client may send at once above the rate."],
        ["flood-kick", None, "10", "Disconnect a client over its budget for SECONDS (0 = never)."],
        ["max-clients", None, "10000", "Most connections at once, logged in or not (0 = no cap)."],
        ["max-per-ip", None, "16", "Most connections from one address (0 = no cap)."],
        ["login-timeout", None, "60", "Close connections not logged in after SECONDS (0 = never)."],
        ["idle-timeout", None, "0", "Close logged-in clients silent for SECONDS (0 = never)."],
        ["db-queue", None, "100000", "Most login records kept while the database is down."],
        [
            "redis",
            None,
            None,
            "Cluster mode: join the other nodes through Redis at redis://[:PASSWORD@]HOST[:PORT]"
            "[/DB] (the password may come from $CHAT_REDIS_PASSWORD instead).",
        ],
        [
            "node-id",
            None,
            None,
            "This node's name in the cluster (default: hostname-PID); letters, digits, . _ -.",
        ],
        [
            "cluster-ttl",
            None,
            "10",
            "Seconds a node's users survive it after it stops heartbeating (it heartbeats "
            "every third of that).",
        ],
        ["redis-prefix", None, "chat:", "Prefix of every Redis key and channel of this chat."],
        [
            "backlog",
            None,
            "1024",
            "Listen backlog for --port endpoints that do not set their own (Twisted's is 50, "
            "too small for a login storm).",
        ],
        [
            "web-ping",
            None,
            "30",
            "WebSocket keepalive: ping every SECONDS, disconnect a client that has not answered "
            "by the next ping (0 = no pings).",
        ],
        [
            "config",
            None,
            None,
            "TOML file of options (keys are the option names); the command line wins over it. "
            "SIGHUP reloads it.",
        ],
        [
            "metrics",
            None,
            None,
            "Serve Prometheus metrics at /metrics and a health check at /health on ENDPOINT "
            "(e.g. tcp:9123:interface=127.0.0.1; off by default).",
        ],
        ["log-level", None, "info", "Lowest level logged: debug, info, warn or error."],
        ["log-format", None, "text", "Log lines as text, or json (one JSON object per line)."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []
        self["exempt"] = []
        self["web"] = []
        self["web-origin"] = []
        self["operators"] = []
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

    def opt_operator(self, nickname: str) -> None:
        """Registered nickname that is an operator once logged in with its password;
        repeatable."""
        self["operators"].append(nickname)

    def opt_exempt(self, network: str) -> None:
        """Network exempt from --max-per-ip; repeatable (default 127.0.0.0/8 and ::1; 'none'
        removes the defaults)."""
        self["exempt"].append(network)

    def opt_port(self, description: str) -> None:
        """Endpoint to listen on; repeatable (default tcp:1234:interface=127.0.0.1; ssl:, unix:)."""
        self["port"].append(description)

    opt_p = opt_port

    def opt_web(self, description: str) -> None:
        """Endpoint for the web client and its WebSocket (/ and /ws); repeatable (e.g.
        tcp:8080:interface=127.0.0.1, or ssl:8443:privateKey=key.pem:certKey=cert.pem for wss)."""
        self["web"].append(description)

    def opt_web_origin(self, origin: str) -> None:
        """Also accept WebSockets from pages of ORIGIN (e.g. https://chat.example.org); repeatable
        (by default only the page's own origin)."""
        origin = origin.strip().rstrip("/")
        scheme, sep, host = origin.partition("://")
        if origin != "null" and (scheme not in ("http", "https") or not sep or not host):
            raise usage.UsageError(
                f"bad --web-origin {origin!r}: use scheme://host[:port], e.g. https://example.org"
            )
        self["web-origin"].append(origin)

    def postOptions(self) -> None:
        """Read the ``--config`` file, then validate every option, turning bad values into
        usage errors (naming the file and key for a value that came from the file)."""
        if self["config"] is not None:
            self._read_config(self["config"])
        try:
            self._validate()
        except usage.UsageError as e:
            named = re.search(r"--([a-z][a-z-]*)", str(e))
            key = named.group(1) if named else None
            key = {command: key for key, command in REPEATABLE.items()}.get(key or "", key)
            if key in self.from_file:
                raise usage.UsageError(f"--config {self['config']}: {key!r}: {e}") from None
            raise

    def _read_config(self, path: str) -> None:
        """Take the options of the file ``path`` that the command line did not give."""
        values = read_config(path, OptionKinds.from_parameters(self.optParameters))
        for key, value in values.items():
            if REPEATABLE.get(key, key) in self.given:
                continue
            self[key] = value
            self.from_file.add(key)

    def _validate(self) -> None:

        if self["log-level"] not in LEVELS:
            raise usage.UsageError(
                f"bad --log-level {self['log-level']!r}: use one of {', '.join(LEVELS)}"
            )
        if self["log-format"] not in FORMATS:
            raise usage.UsageError(
                f"bad --log-format {self['log-format']!r}: use one of {', '.join(FORMATS)}"
            )
        if not self["port"]:
            self["port"] = [DEFAULT_PORT]
        self["endpoints"] = [self._endpoint("port", d) for d in self["port"]]
        self["web_endpoints"] = [self._endpoint("web", d) for d in self["web"]]
        metrics = self["metrics"]
        self["metrics_endpoint"] = None if metrics is None else self._endpoint("metrics", metrics)
        self["web_ping"] = self._number("web-ping", float)
        if self["lang"] not in CATALOGUES:
            raise usage.UsageError(f"bad --lang {self['lang']!r}: use one of {sorted(CATALOGUES)}")
        try:
            self["db_url"] = parse_db_url(self["db"])
        except BadDatabaseURL as e:
            raise usage.UsageError(f"bad --db: {e}") from None
        except Exception as e:
            raise usage.UsageError(f"bad --db {self['db']!r}: {e}") from None
        if isinstance(self["db_url"], MysqlURL):
            problem = mysql_driver_problem()
            if problem is not None:
                raise usage.UsageError(
                    f"bad --db: MySQL needs the mysqlclient driver ({problem}): {MYSQL_DRIVER_HINT}"
                )
        self["limits"] = self._limits()
        for nickname in self["operators"]:
            if not nicknames.is_valid(nicknames.normalize(nickname)):
                raise usage.UsageError(f"bad --operator {nickname!r}: not a valid nickname")
        self["db_queue"] = self._number("db-queue", int, minimum=1)
        self["cluster"] = self._cluster()

    def _cluster(self) -> Any:
        """The cluster configuration, or ``None`` without ``--redis``."""
        if self["redis"] is None:
            for name in ("node-id",):
                if self[name] is not None:
                    raise usage.UsageError(f"--{name} needs --redis")
            return None
        from twisted_chat.cluster.room import ClusterConfig
        from twisted_chat.cluster.url import BadRedisURL, parse_redis_url

        try:
            url = parse_redis_url(self["redis"])
        except BadRedisURL as e:
            raise usage.UsageError(f"bad --redis: {e}") from None
        node_id = self["node-id"]
        if node_id is None:
            node_id = f"{socket.gethostname()}-{os.getpid()}"
            node_id = "".join(c if c.isalnum() or c in "._-" else "-" for c in node_id)
        if not _NODE_ID_RE.fullmatch(node_id):
            raise usage.UsageError(
                f"bad --node-id {node_id!r}: 1 to 64 letters, digits, '.', '_' or '-'"
            )
        prefix = self["redis-prefix"]
        if not prefix or len(prefix) > 64 or not prefix.isprintable() or " " in prefix:
            raise usage.UsageError(
                f"bad --redis-prefix {prefix!r}: 1 to 64 printable characters, no spaces"
            )
        ttl = self._number("cluster-ttl", float, minimum=1)
        return ClusterConfig(url=url, node_id=node_id, ttl=ttl, prefix=prefix)

    def _endpoint(self, option: str, description: str) -> IStreamServerEndpoint:
        """The server endpoint of one ``--port`` or ``--web`` value (with ``--backlog``)."""
        from twisted.internet import reactor

        kind, _, rest = description.partition(":")
        inner = rest.partition(":")[0] if kind == "haproxy" else kind
        spec = rest if kind == "haproxy" else description
        if inner in ("tcp", "tcp6", "ssl") and kind != "haproxy" and rest:
            port = rest.split(":", 1)[0].removeprefix("port=")
            if not port.isdigit() or not 0 <= int(port) <= 65535:
                raise usage.UsageError(
                    f"bad --{option} {description!r}: port must be a number from 0 to 65535"
                )
        if inner in ("tcp", "tcp6", "ssl", "unix") and "backlog=" not in description:
            spec = f"{spec}:backlog={self._number('backlog', int, minimum=1)}"
        try:
            endpoint: IStreamServerEndpoint = endpoints.serverFromString(reactor, spec)
        except Exception as e:  # ValueError, KeyError, SSL errors, missing files...
            raise usage.UsageError(f"bad --{option} {description!r}: {e}") from None
        if kind == "haproxy":  # ours: the chat starts after the PROXY header
            endpoint = proxied(endpoint)
        return endpoint

    def _number(self, name: str, kind: type[int] | type[float], minimum: float = 0) -> Any:
        value = self[name]
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise usage.UsageError(f"bad --{name} {value!r}: not a number") from None
        if number != number or number < minimum or number == float("inf"):
            raise usage.UsageError(f"bad --{name} {value!r}: must be at least {minimum:g}")
        return number

    def _limits(self) -> Limits:
        try:
            exempt = parse_exempt([*DEFAULT_EXEMPT, *self["exempt"]])
        except ValueError as e:
            raise usage.UsageError(f"bad --exempt: {e}") from None
        return Limits(
            sendq=self._number("sendq", int, minimum=1),
            max_strikes=self._number("max-strikes", int),
            flood_rate=self._number("flood-rate", float),
            flood_burst=self._number("flood-burst", int, minimum=1),
            flood_kick=self._number("flood-kick", float),
            max_clients=self._number("max-clients", int),
            max_per_ip=self._number("max-per-ip", int),
            exempt=tuple(exempt),
            login_timeout=self._number("login-timeout", float),
            idle_timeout=self._number("idle-timeout", float),
        )


class ListenerService(service.Service):
    """Listens on one endpoint while running; ``port`` is the listening port once started."""

    log = Logger()

    def __init__(
        self, endpoint: IStreamServerEndpoint, factory: IProtocolFactory, description: str
    ) -> None:
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
    """The whole server: the chat core, its stores, and one listener per ``--port``."""

    log = Logger()

    def __init__(
        self,
        parts: Chat,
        store: LoginStore | None,
        db_description: str,
        exit_process: bool = False,
    ) -> None:
        super().__init__()
        #: The chat's parts (language, room, core, server, renderers).
        self.parts = parts
        self.chat = parts.core
        self.store = store
        #: The server that admits every transport's sessions.
        self.factory = parts.server
        #: The factory of every ``--port`` listener (protocol v1 over TCP).
        self.tcp = ChatTCPFactory(parts.server, parts.lines)
        self.db_description = db_description
        self._prune: task.LoopingCall | None = None
        #: Whether this service owns the process (run by ``twistd``): a database that can never
        #: work then stops the reactor, and the process exits with :attr:`exit_status`.
        self.exit_process = exit_process
        #: 1 once the database turned out to be misconfigured, else 0.
        self.exit_status = 0
        #: Reloads the ``--config`` file (on SIGHUP when this service owns the process).
        self.reloader: Reloader | None = None
        self._previous_sighup: Any = None
        #: The ``--metrics`` listener: not a child service, so that it stops last and
        #: ``/health`` answers 503 while the connections close.
        self.metrics_listener: ListenerService | None = None
        #: The metrics of ``--metrics`` (``None`` without it).
        self.metrics: ChatMetrics | None = None

    def add_listener(self, endpoint: IStreamServerEndpoint, description: str) -> ListenerService:
        """Listen on ``endpoint`` while the service runs."""
        listener = ListenerService(endpoint, self.tcp, description)
        listener.setServiceParent(self)
        return listener

    def add_web_listener(
        self,
        endpoint: IStreamServerEndpoint,
        description: str,
        origins: list[str] | None = None,
        ping_interval: float = 30.0,
    ) -> ListenerService:
        """Serve the web client and its WebSocket on ``endpoint`` while the service runs (its
        sessions admitted and shut down by the same factory as the TCP ones)."""
        from twisted_chat.web.resources import make_site

        parts = self.parts
        site = make_site(parts.server, parts.frames, parts.language, origins or [], ping_interval)
        listener = ListenerService(endpoint, site, description)
        listener.setServiceParent(self)
        return listener

    def add_metrics_listener(
        self, endpoint: IStreamServerEndpoint, description: str, cluster: Any = None
    ) -> ListenerService:
        """Serve ``/metrics`` and ``/health`` on ``endpoint`` while the service runs (and while
        it shuts down); ``cluster``: the clustered room, for the Redis metrics."""
        from twisted_chat.metrics import ChatMetrics, make_metrics_site

        metrics = ChatMetrics(self.factory, self.store, cluster)
        metrics.install()
        self.metrics = metrics
        listener = ListenerService(endpoint, make_metrics_site(metrics), description)
        self.metrics_listener = listener
        return listener

    def privilegedStartService(self) -> None:
        """Listen on every endpoint (the metrics one too) before privileges are dropped."""
        super().privilegedStartService()
        if self.metrics_listener is not None:
            self.metrics_listener.privilegedStartService()

    def listeners(self) -> list[ListenerService]:
        """The listener services, in ``--port`` order."""
        return [s for s in self if isinstance(s, ListenerService)]

    def startService(self) -> None:
        """Start the database work in the background (schema, accounts), then listen."""
        limits = self.factory.limits
        self.log.info(
            "twisted-chat starting (database {db}, language {lang}, max {clients} clients)",
            db=self.db_description,
            lang=self.parts.language.lang,
            clients=limits.max_clients or "unlimited",
        )
        raise_open_files_limit(limits.max_clients)
        tune_garbage_collector()
        if self.exit_process:
            atexit.register(self._exit_with_status)
            if self.reloader is not None and hasattr(signal, "SIGHUP"):
                self._previous_sighup = signal.signal(signal.SIGHUP, self._sighup)
        if self.store is not None:
            self.store.database.on_misconfigured = self._database_misconfigured
            self.store.start()
        accounts = self.chat.accounts
        if accounts is not None:
            accounts.load()
        if self.chat.bans is not None:
            self.chat.bans.load()
        self._prune = task.LoopingCall(self.prune)
        self._prune.clock = self.chat.clock
        self._prune.start(60, now=False)
        super().startService()
        if self.metrics_listener is not None and not self.metrics_listener.running:
            self.metrics_listener.startService()

    def prune(self) -> None:
        """Every minute: forget old failed logins, expired bans and mutes that are over."""
        chat = self.chat
        if chat.accounts is not None:
            chat.accounts.prune()
        if chat.bans is not None:
            chat.bans.prune()
        chat.room.prune_mutes(chat.clock.seconds())

    def _sighup(self, signum: int, frame: Any) -> None:
        """SIGHUP: reload the configuration file, from the reactor (not in the handler)."""
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor
        if self.reloader is not None:
            reactor.callFromThread(self.reloader.reload)

    def _database_misconfigured(self, error: DatabaseMisconfigured) -> None:
        """The database can never work as configured: say so in one line, and stop.

        Called once by the database, before the stores see the error (so they stay quiet). The
        server has not taken a login yet (none is taken before the accounts are loaded), so
        nothing is lost. Under ``twistd`` the reactor stops (the usual graceful shutdown) and the
        process then exits with status 1.
        """
        if self.chat.accounts is not None:
            self.chat.accounts.stop()
        if self.chat.bans is not None:
            self.chat.bans.stop()
        self.stop_with_error(f"bad --db: {error}")

    def stop_with_error(self, message: str) -> None:
        """A configuration that can never work, found while running (a database, a Redis that
        refuses the credentials, a node id in use): log ``message`` once, without a
        traceback, and stop; under ``twistd`` the process then exits with status 1."""
        if self.exit_status:
            return  # stopping already
        self.exit_status = 1
        if not self.exit_process:
            self.log.critical("{message}", message=message)
            return
        self.log.critical("{message}; exiting with status 1", message=message)
        from twisted.internet import reactor

        with contextlib.suppress(error_.ReactorNotRunning):  # stopping already
            reactor.stop()

    def _exit_with_status(self) -> None:
        """At interpreter exit (after ``twistd`` has shut down and logged its last line), exit
        with :attr:`exit_status` if it is not 0.

        ``twistd`` has no way to end with a status of our choosing once the reactor has run
        (``ListenerService`` can raise ``SystemExit`` only because it fails before), so this
        flushes the output and ends the process with ``os._exit``. Registered at start-up, it
        runs after the exit handlers registered later.
        """
        if not self.exit_status:
            return
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(self.exit_status)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Graceful shutdown, bounded to a few seconds in all.

        Stop accepting, tell every connection (logged in or not) that the server is shutting
        down and close it, write what the database still owes, close the pool.
        """
        if self._prune is not None and self._prune.running:
            self._prune.stop()
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
        if self.chat.accounts is not None:
            self.chat.accounts.stop()
        if self.chat.bans is not None:
            self.chat.bans.stop()
        # A SIGTERM/SIGINT shutdown is a normal, graceful stop: exit 0. (twistd would otherwise
        # re-raise the signal after shutting down, and the process would die of it.)
        from twisted.internet import reactor

        if getattr(reactor, "_exitSignal", None) is not None:
            reactor._exitSignal = None  # type: ignore[attr-defined]
        self.factory.shutting_down = True  # refuse newcomers, /health says 503 from now on
        yield super().stopService()
        yield self.factory.shutdown(SHUTDOWN_CLOSE_TIMEOUT)
        if self.store is not None:
            left = yield self.store.flush(SHUTDOWN_FLUSH_TIMEOUT)
            self.store.stop()
            if left:
                self.log.warn("{count} login records could not be written", count=left)
            self.store.database.close()
        for summary in (self.chat.disconnects, self.chat.refusals):
            summary.flush()
        if self.chat.accounts is not None:
            self.chat.accounts.failed_logins.flush()
        if self.metrics_listener is not None and self.metrics_listener.running:
            yield self.metrics_listener.stopService()
        self.log.info("twisted-chat stopped: {stats}", stats=dict(self.factory.stats))


#: Garbage-collector thresholds while serving (CPython's defaults are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Collect cyclic garbage less often, as Synapse does (its ``gc_thresholds``).

    With CPython's defaults a server that allocates a few objects per delivery runs a young
    collection every few hundred messages and a full one (which walks every connection's
    objects) often enough to show as latency spikes: in the 1000-client fan-out benchmark the
    worst delivery latency fell from 54-63 ms to 27-30 ms with these thresholds.
    """
    import gc

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
    log = Logger(namespace="twisted_chat.service")
    log.info("Open-files limit {soft}: room for about {room} clients", soft=soft, room=max(room, 0))
    if wanted_clients and room < wanted_clients:
        log.warn(
            "--max-clients {wanted} is above what the open-files limit allows ({room})",
            wanted=wanted_clients,
            room=room,
        )
    return int(soft)


def makeService(options: Options) -> ChatService:
    """Build the server described by ``options`` (no I/O happens until it is started)."""
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    # Run by twistd (whose options are the parent of ours), the service owns the process.
    owns_process = options.parent is not None
    log_setup = None
    if owns_process:  # twistd begins logging after this: filter and format what it shows
        log_setup = LogSetup(options["log-level"], options["log-format"])
        log_setup.install()
    url = options["db_url"]
    store = open_login_store(url, reactor, options["db_queue"])
    accounts = Accounts(
        AccountStore(store.database),
        reactor,
        functools.partial(threads.deferToThreadPool, reactor, reactor.getThreadPool()),
    )
    bans = Bans(BanStore(store.database), reactor)
    cluster = options.get("cluster")
    room: Any = local_room
    if cluster is not None:  # only now: without --redis no Redis code is imported
        from twisted_chat.cluster.room import ClusterRoom

        def on_fatal(message: str) -> None:
            server.stop_with_error(message)

        room = functools.partial(ClusterRoom, config=cluster, clock=reactor, on_fatal=on_fatal)
    parts = assemble(
        CATALOGUES[options["lang"]],
        reactor,
        limits=options["limits"],
        logins=store,
        accounts=accounts,
        bans=bans,
        operators=options["operators"],
        room=room,
        gather_notices=True,
        batch_writes=True,
    )
    chat = parts.core
    server = ChatService(parts, store, url.describe(), owns_process)
    if options["config"] is not None:
        server.reloader = Reloader(options, server, log_setup)
    if cluster is not None:
        from twisted_chat.cluster.service import ClusterService

        batcher = parts.server.batcher
        gather_output = batcher.gather if batcher is not None else None
        chat.room.attach(accounts, bans, gather_output)  # type: ignore[attr-defined]
        ClusterService(chat.room).setServiceParent(server)  # type: ignore[arg-type]
    for endpoint, description in zip(options["endpoints"], options["port"], strict=True):
        server.add_listener(endpoint, description)
    for endpoint, description in zip(options["web_endpoints"], options["web"], strict=True):
        server.add_web_listener(endpoint, description, options["web-origin"], options["web_ping"])
    if options["metrics_endpoint"] is not None:
        server.add_metrics_listener(
            options["metrics_endpoint"], options["metrics"], chat.room if cluster else None
        )
    return server
