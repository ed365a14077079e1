"""The settings of ``twistd chat``: each option declared once, and the typed object they make.

:data:`OPTIONS` declares every option once: its name (the long option and the ``--config`` key),
the section and field it fills, how its value is checked and parsed, its default, its help text,
whether it is repeatable, and whether a reload (SIGHUP) applies it while running (``live``) or
it needs a restart. From that one table come the ``optParameters`` and the ``opt_*`` methods of
:class:`twisted_chat.tap.Options` (:func:`declared_options`), the key types of the
``--config`` file (:mod:`twisted_chat.config`), and what a reload applies
(:mod:`twisted_chat.reload`); a test holds ``--help``, the README's option table and
``docs/chat.example.toml`` to it.

:func:`validate` is the one place that turns the option values (strings, as the command line and
the file give them) into a :class:`Settings`: frozen dataclasses, one per section. A bad value is
a :class:`~twisted.python.usage.UsageError` naming the option, and the file and key when the
value came from the ``--config`` file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from twisted.internet import endpoints
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.python import usage

from twisted_chat import nicknames, roomnames
from twisted_chat.config import config_error
from twisted_chat.events import DEFAULT_ROOM
from twisted_chat.limits import DEFAULT_EXEMPT, Limits, parse_exempt
from twisted_chat.logsetup import FORMATS, LEVELS
from twisted_chat.proxy import proxied
from twisted_chat.roomnames import DEFAULT_MAX_CHANNELS, DEFAULT_MAX_ROOMS
from twisted_chat.storage import (
    MYSQL_DRIVER_HINT,
    BadDatabaseURL,
    DatabaseURL,
    MysqlURL,
    mysql_driver_problem,
    parse_db_url,
)
from twisted_chat.storage.url import SqliteURL
from twisted_chat.text import CATALOGUES

if TYPE_CHECKING:  # without --redis no cluster module is imported
    from twisted_chat.cluster.url import RedisURL

DEFAULT_PORT = "tcp:1234:interface=127.0.0.1"
DEFAULT_DB = "sqlite:chat.sqlite3"
_NODE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


# -- the sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerSettings:
    """Where the line protocol listens (``--port``, ``--backlog``)."""

    #: Endpoint strings, as given (built into endpoints by the service).
    ports: tuple[str, ...] = (DEFAULT_PORT,)
    backlog: int = 1024


@dataclass(frozen=True)
class DatabaseSettings:
    """The database (``--db``) and the outage queue's bound (``--db-queue``)."""

    url: DatabaseURL = dataclasses.field(default_factory=lambda: SqliteURL("chat.sqlite3"))
    queue: int = 100_000


@dataclass(frozen=True)
class ChatSettings:
    """What the chat says, who runs it and its rooms (``--lang``, ``--operator``,
    ``--default-room``, ``--room``, ``--max-rooms``)."""

    lang: str = "es"
    #: The operators' nicknames, as given.
    operators: tuple[str, ...] = ()
    #: The room a login puts a user in (a permanent room).
    default_room: str = DEFAULT_ROOM
    #: The other permanent rooms, normalised.
    rooms: tuple[str, ...] = ()
    #: How many rooms may exist at once (the permanent ones included).
    max_rooms: int = DEFAULT_MAX_ROOMS


@dataclass(frozen=True)
class HistorySettings:
    """What is kept of the conversation (``--history-days``, ``--history-replay``,
    ``--history-replay-hours``, ``--memo-days``)."""

    #: Days public messages are kept; 0 is history off (nothing stored).
    days: int = 30
    #: Messages replayed after a login or a move to another room.
    replay: int = 20
    #: Hours back the replay reaches.
    replay_hours: float = 24.0
    #: Days a recado waits for its recipient.
    memo_days: int = 30


@dataclass(frozen=True)
class LogSettings:
    """What reaches the log and in what form (``--log-level``, ``--log-format``)."""

    level: str = "info"
    format: str = "text"


@dataclass(frozen=True)
class ClusterSettings:
    """Cluster mode (``--redis`` and the options that go with it)."""

    url: RedisURL
    node_id: str
    ttl: float = 10.0
    prefix: str = "chat:"


@dataclass(frozen=True)
class MetricsSettings:
    """The metrics and health site (``--metrics``)."""

    #: The endpoint string, or ``None`` (off).
    endpoint: str | None = None


@dataclass(frozen=True)
class WebSettings:
    """The web client and its WebSocket (``--web``, ``--web-origin``, ``--web-ping``)."""

    #: Endpoint strings, as given.
    listeners: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    ping: float = 30.0


@dataclass(frozen=True)
class IrcSettings:
    """IRC clients (``--irc``, ``--server-name``): docs/IRC.md."""

    #: Endpoint strings, as given.
    listeners: tuple[str, ...] = ()
    #: The server's name on IRC (the source of its numerics): the host name by default.
    server_name: str = dataclasses.field(default_factory=socket.gethostname)
    #: The lines of ``--motd FILE`` (read at start-up), or ``None``: no message of the day.
    motd: tuple[str, ...] | None = None
    #: Most rooms one IRC user may be in at once (``CHANLIMIT``, ``--irc-max-channels``).
    max_channels: int = DEFAULT_MAX_CHANNELS
    #: The server password every IRC client must send with ``PASS`` before registering
    #: (``--irc-password`` or ``$CHAT_IRC_PASSWORD``), or ``None``: ``PASS`` is an account's.
    password: str | None = dataclasses.field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything ``twistd chat`` was told, checked and typed, by section."""

    listeners: ListenerSettings = ListenerSettings()
    database: DatabaseSettings = DatabaseSettings()
    limits: Limits = dataclasses.field(default_factory=Limits)
    chat: ChatSettings = ChatSettings()
    history: HistorySettings = HistorySettings()
    log: LogSettings = LogSettings()
    #: ``None`` without ``--redis``.
    cluster: ClusterSettings | None = None
    metrics: MetricsSettings = MetricsSettings()
    web: WebSettings = WebSettings()
    irc: IrcSettings = dataclasses.field(default_factory=IrcSettings)


#: The section types, by their attribute of :class:`Settings`.
SECTIONS: dict[str, type] = {
    "listeners": ListenerSettings,
    "database": DatabaseSettings,
    "limits": Limits,
    "chat": ChatSettings,
    "history": HistorySettings,
    "log": LogSettings,
    "cluster": ClusterSettings,
    "metrics": MetricsSettings,
    "web": WebSettings,
    "irc": IrcSettings,
}


# -- the declarations ------------------------------------------------------------------------

#: How the ``--config`` file must type an option's value.
Kind = Literal["string", "number", "list"]
#: Checks and parses one option's value (a string, or a list of strings for a repeatable
#: option), given the values parsed before it (by option name); raises ``UsageError``.
Parser = Callable[["Option", Any, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Option:
    """One option of ``twistd chat``, declared once."""

    #: The long option and the ``--config`` key.
    name: str
    #: The :class:`Settings` section it fills (``None``: the command line's own, ``--config``).
    section: str | None
    #: The field of that section.
    field: str
    help: str
    parse: Parser
    #: As the command line gives it: a string, a tuple of strings for a repeatable option, or
    #: ``None`` (not set).
    default: str | tuple[str, ...] | None = None
    kind: Kind = "string"
    #: Whether a reload applies it while running (else it needs a restart).
    live: bool = False
    #: The command-line name when it differs from the key (``--operator``, key ``operators``).
    command: str | None = None
    short: str | None = None
    #: The option without which this one means nothing: it is then not checked, and refused if
    #: given when its default is ``None``.
    needs: str | None = None
    #: The README's "default" cell, when it is not the default in backquotes.
    shown_default: str | None = None

    @property
    def flag(self) -> str:
        """The command-line name (without the dashes)."""
        return self.command or self.name

    @property
    def repeatable(self) -> bool:
        """Whether it may be given several times (a list in the file)."""
        return self.kind == "list"

    def value_in(self, settings: Settings) -> Any:
        """This option's value in ``settings`` (``None`` in a section that is off)."""
        if self.section is None:
            return None
        section = getattr(settings, self.section)
        return None if section is None else getattr(section, self.field)


def _number(
    kind: type[int] | type[float], minimum: float = 0
) -> Callable[[Option, Any, Mapping[str, Any]], Any]:
    """A parser of numbers of ``kind``, at least ``minimum``, finite."""

    def parse(option: Option, value: Any, parsed: Mapping[str, Any]) -> Any:
        return number(option.flag, value, kind, minimum)

    return parse


def number(name: str, value: Any, kind: type[int] | type[float], minimum: float = 0) -> Any:
    """``value`` as a ``kind`` of at least ``minimum``, or the usage error of ``--name``."""
    try:
        result = kind(value)
    except (TypeError, ValueError):
        raise usage.UsageError(f"bad --{name} {value!r}: not a number") from None
    if result != result or result < minimum or result == float("inf"):
        raise usage.UsageError(f"bad --{name} {value!r}: must be at least {minimum:g}")
    return result


def _one_of(choices: Collection[str], shown: str) -> Parser:
    def parse(option: Option, value: Any, parsed: Mapping[str, Any]) -> Any:
        if value not in choices:
            raise usage.UsageError(f"bad --{option.flag} {value!r}: use one of {shown}")
        return value

    return parse


def server_endpoint(
    description: str, backlog: int, option: str = "port", reactor: Any = None
) -> IStreamServerEndpoint:
    """The server endpoint of one ``--port``, ``--web`` or ``--metrics`` value, with
    ``backlog`` unless it sets its own; a bad one is a usage error naming ``--option``."""
    if reactor is None:
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
        spec = f"{spec}:backlog={backlog}"
    try:
        endpoint: IStreamServerEndpoint = endpoints.serverFromString(reactor, spec)
    except Exception as e:  # ValueError, KeyError, SSL errors, missing files...
        raise usage.UsageError(f"bad --{option} {description!r}: {e}") from None
    if kind == "haproxy":  # ours: the chat starts after the PROXY header
        endpoint = proxied(endpoint)
    return endpoint


def _endpoints(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for description in value:
        server_endpoint(description, parsed["backlog"], option.flag)
    return tuple(value)


def _endpoint(option: Option, value: Any, parsed: Mapping[str, Any]) -> str | None:
    if value is not None:
        server_endpoint(value, parsed["backlog"], option.flag)
    return value  # type: ignore[no-any-return]


def _db(option: Option, value: Any, parsed: Mapping[str, Any]) -> DatabaseURL:
    try:
        url = parse_db_url(value)
    except BadDatabaseURL as e:
        raise usage.UsageError(f"bad --db: {e}") from None
    except Exception as e:
        raise usage.UsageError(f"bad --db {value!r}: {e}") from None
    if isinstance(url, MysqlURL):
        problem = mysql_driver_problem()
        if problem is not None:
            raise usage.UsageError(
                f"bad --db: MySQL needs the mysqlclient driver ({problem}): {MYSQL_DRIVER_HINT}"
            )
    return url


def _lang(option: Option, value: Any, parsed: Mapping[str, Any]) -> str:
    if value not in CATALOGUES:
        raise usage.UsageError(f"bad --lang {value!r}: use one of {sorted(CATALOGUES)}")
    return value  # type: ignore[no-any-return]


def _exempt(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        return tuple(parse_exempt([*DEFAULT_EXEMPT, *value]))
    except ValueError as e:
        raise usage.UsageError(f"bad --exempt: {e}") from None


def _operators(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for nickname in value:
        if not nicknames.is_valid(nicknames.normalize(nickname)):
            raise usage.UsageError(f"bad --operator {nickname!r}: not a valid nickname")
    return tuple(value)


def _room_name(flag: str, value: str) -> str:
    name = roomnames.normalize(value)
    if not roomnames.is_valid(name):
        raise usage.UsageError(
            f"bad --{flag} {value!r}: a room name is 1 to 32 letters, digits, _ or -, "
            "starting with a letter or a digit"
        )
    return name


def _replay(option: Option, value: Any, parsed: Mapping[str, Any]) -> int:
    count: int = number(option.flag, value, int)
    if count > 500:
        raise usage.UsageError(f"bad --{option.flag} {value!r}: at most 500")
    return count


def _default_room(option: Option, value: Any, parsed: Mapping[str, Any]) -> str:
    return _room_name(option.flag, value)


def _rooms(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[str, ...]:
    names: dict[str, str] = {roomnames.key(parsed["default-room"]): parsed["default-room"]}
    for given in value:
        name = _room_name(option.flag, given)
        names.setdefault(roomnames.key(name), name)
    return tuple(list(names.values())[1:])


def _max_rooms(option: Option, value: Any, parsed: Mapping[str, Any]) -> int:
    most: int = number(option.flag, value, int, 1)
    permanent = 1 + len(parsed["rooms"])
    if most < permanent:
        raise usage.UsageError(
            f"bad --max-rooms {value!r}: there are {permanent} permanent rooms "
            "(--default-room and --room)"
        )
    return most


def _origins(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[str, ...]:
    origins = []
    for given in value:
        origin = given.strip().rstrip("/")
        scheme, sep, host = origin.partition("://")
        if origin != "null" and (scheme not in ("http", "https") or not sep or not host):
            raise usage.UsageError(
                f"bad --web-origin {origin!r}: use scheme://host[:port], e.g. https://example.org"
            )
        origins.append(origin)
    return tuple(origins)


def _redis(option: Option, value: Any, parsed: Mapping[str, Any]) -> RedisURL | None:
    if value is None:
        return None
    from twisted_chat.cluster.url import BadRedisURL, parse_redis_url

    try:
        return parse_redis_url(value)
    except BadRedisURL as e:
        raise usage.UsageError(f"bad --redis: {e}") from None


def _node_id(option: Option, value: Any, parsed: Mapping[str, Any]) -> str:
    node_id = value
    if node_id is None:
        node_id = f"{socket.gethostname()}-{os.getpid()}"
        node_id = "".join(c if c.isalnum() or c in "._-" else "-" for c in node_id)
    if not _NODE_ID_RE.fullmatch(node_id):
        raise usage.UsageError(
            f"bad --node-id {node_id!r}: 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return node_id  # type: ignore[no-any-return]


def _redis_prefix(option: Option, value: Any, parsed: Mapping[str, Any]) -> str:
    if not value or len(value) > 64 or not value.isprintable() or " " in value:
        raise usage.UsageError(
            f"bad --redis-prefix {value!r}: 1 to 64 printable characters, no spaces"
        )
    return value  # type: ignore[no-any-return]


#: A server name: a host name's letters, digits, dots and dashes (IRC sources may hold no more).
_SERVER_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?")


def _server_name(option: Option, value: Any, parsed: Mapping[str, Any]) -> str:
    name = value if value is not None else socket.gethostname()
    if not _SERVER_NAME_RE.fullmatch(name) and value is None:
        name = "".join(c if c.isalnum() or c in ".-" else "-" for c in name).strip(".-") or "chat"
    if not _SERVER_NAME_RE.fullmatch(name):
        raise usage.UsageError(
            f"bad --server-name {name!r}: 1 to 64 letters, digits, '.' or '-' (a host name)"
        )
    return name


#: Most bytes of a ``--motd`` file, lines in it, and characters of one line (IRC's 512 bytes
#: hold a ``372`` with the longest server name and nickname and this many 4-byte characters).
MOTD_BYTES: Final = 65536
MOTD_LINES: Final = 200
MOTD_LINE: Final = 80


def _motd(option: Option, value: Any, parsed: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The lines of the file ``value``: UTF-8, control characters dropped, long lines cut."""
    if value is None:
        return None
    try:
        with open(value, "rb") as file:
            data = file.read(MOTD_BYTES + 1)
    except OSError as e:
        raise usage.UsageError(f"bad --motd {value!r}: {e.strerror or e}") from None
    if len(data) > MOTD_BYTES:
        raise usage.UsageError(f"bad --motd {value!r}: more than {MOTD_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise usage.UsageError(f"bad --motd {value!r}: not UTF-8") from None
    lines = text.splitlines()
    if len(lines) > MOTD_LINES:
        raise usage.UsageError(f"bad --motd {value!r}: more than {MOTD_LINES} lines")
    return tuple(
        "".join(c for c in line.expandtabs(4) if c.isprintable())[:MOTD_LINE] for line in lines
    )


#: Environment variable holding the IRC server password when ``--irc-password`` is not given
#: (which keeps it out of the process list, as ``$CHAT_DB_PASSWORD`` does the database's).
IRC_PASSWORD_ENV: Final = "CHAT_IRC_PASSWORD"
#: Most characters of the IRC server password (``PASS`` must carry it in one 512-byte line).
IRC_PASSWORD_MAX: Final = 200


def _irc_password(option: Option, value: Any, parsed: Mapping[str, Any]) -> str | None:
    """The server password: ``value``, else ``$CHAT_IRC_PASSWORD``, else ``None``; one word
    of printable characters (``PASS`` sends it as one parameter), at most 200 characters.
    The value is never put in the error."""
    if value is None:
        value = os.environ.get(IRC_PASSWORD_ENV) or None
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise usage.UsageError(f"bad --{option.flag}: empty")
    if value.startswith(":") or any(not c.isprintable() or c.isspace() for c in value):
        raise usage.UsageError(
            f"bad --{option.flag}: one word of printable characters, not starting with ':'"
        )
    if len(value) > IRC_PASSWORD_MAX:
        raise usage.UsageError(f"bad --{option.flag}: more than {IRC_PASSWORD_MAX} characters")
    return value


def _as_given(option: Option, value: Any, parsed: Mapping[str, Any]) -> Any:
    return value


#: Every option of ``twistd chat``, in the order they are checked (an option's parser may use
#: the values parsed before it: the endpoints use the backlog).
OPTIONS: tuple[Option, ...] = (
    # listeners
    Option(
        "backlog",
        "listeners",
        "backlog",
        "Listen backlog for --port endpoints that do not set their own (Twisted's is 50, too "
        "small for a login storm).",
        _number(int, minimum=1),
        default="1024",
        kind="number",
    ),
    Option(
        "port",
        "listeners",
        "ports",
        "Endpoint to listen on; repeatable (default tcp:1234:interface=127.0.0.1; ssl:, unix:).",
        _endpoints,
        default=(DEFAULT_PORT,),
        kind="list",
        short="p",
    ),
    # database
    Option(
        "db",
        "database",
        "url",
        "Database: sqlite:PATH, or mysql://USER[:PASSWORD]@HOST[:PORT][/DBNAME] (DBNAME "
        "defaults to redes; the password may come from $CHAT_DB_PASSWORD instead).",
        _db,
        default=DEFAULT_DB,
    ),
    Option(
        "db-queue",
        "database",
        "queue",
        "Most login records kept while the database is down.",
        _number(int, minimum=1),
        default="100000",
        kind="number",
        live=True,
    ),
    # limits
    Option(
        "sendq",
        "limits",
        "sendq",
        "Disconnect a client whose pending output passes BYTES.",
        _number(int, minimum=1),
        default="1048576",
        kind="number",
        live=True,
    ),
    Option(
        "max-strikes",
        "limits",
        "max_strikes",
        "Disconnect after N bad lines in a row (0 = never).",
        _number(int),
        default="10",
        kind="number",
        live=True,
    ),
    Option(
        "flood-rate",
        "limits",
        "flood_rate",
        "Lines per second a client may send (0 = no flood control).",
        _number(float),
        default="10",
        kind="number",
        live=True,
    ),
    Option(
        "flood-burst",
        "limits",
        "flood_burst",
        "Lines a client may send at once above the rate.",
        _number(int, minimum=1),
        default="20",
        kind="number",
        live=True,
    ),
    Option(
        "flood-kick",
        "limits",
        "flood_kick",
        "Disconnect a client over its budget for SECONDS (0 = never).",
        _number(float),
        default="10",
        kind="number",
        live=True,
    ),
    Option(
        "max-clients",
        "limits",
        "max_clients",
        "Most connections at once, logged in or not (0 = no cap).",
        _number(int),
        default="10000",
        kind="number",
        live=True,
    ),
    Option(
        "max-per-ip",
        "limits",
        "max_per_ip",
        "Most connections from one address (0 = no cap).",
        _number(int),
        default="16",
        kind="number",
        live=True,
    ),
    Option(
        "exempt",
        "limits",
        "exempt",
        "Network exempt from --max-per-ip; repeatable (default 127.0.0.0/8 and ::1; 'none' "
        "removes the defaults).",
        _exempt,
        default=(),
        kind="list",
        live=True,
        shown_default="`127.0.0.0/8`, `::1`",
    ),
    Option(
        "login-timeout",
        "limits",
        "login_timeout",
        "Close connections not logged in after SECONDS (0 = never).",
        _number(float),
        default="60",
        kind="number",
        live=True,
    ),
    Option(
        "idle-timeout",
        "limits",
        "idle_timeout",
        "Close logged-in clients silent for SECONDS (0 = never; IRC clients are PINGed first).",
        _number(float),
        default="0",
        kind="number",
        live=True,
        shown_default="`0` (off)",
    ),
    # chat
    Option(
        "lang",
        "chat",
        "lang",
        "Language of the server's text: es or en.",
        _lang,
        default="es",
        live=True,
    ),
    Option(
        "operators",
        "chat",
        "operators",
        "Registered nickname that is an operator once logged in with its password; repeatable.",
        _operators,
        default=(),
        kind="list",
        live=True,
        command="operator",
        shown_default="none",
    ),
    Option(
        "default-room",
        "chat",
        "default_room",
        "The room a login puts a user in (permanent; see docs/PROTOCOL.md, rooms).",
        _default_room,
        default=DEFAULT_ROOM,
    ),
    Option(
        "rooms",
        "chat",
        "rooms",
        "A permanent room: exists while empty, its topic stored; repeatable.",
        _rooms,
        default=(),
        kind="list",
        command="room",
        shown_default="none",
    ),
    Option(
        "max-rooms",
        "chat",
        "max_rooms",
        "Most rooms that may exist at once, permanent ones included.",
        _max_rooms,
        default=str(DEFAULT_MAX_ROOMS),
        kind="number",
    ),
    # history
    Option(
        "history-days",
        "history",
        "days",
        "Days public messages are kept in the database; 0 = history off (nothing stored).",
        _number(int),
        default="30",
        kind="number",
    ),
    Option(
        "history-replay",
        "history",
        "replay",
        "Messages of the room shown after a login or /unirse (0 = none; at most 500).",
        _replay,
        default="20",
        kind="number",
    ),
    Option(
        "history-replay-hours",
        "history",
        "replay_hours",
        "How many hours back that replay reaches.",
        _number(float),
        default="24",
        kind="number",
    ),
    Option(
        "memo-days",
        "history",
        "memo_days",
        "Days a recado (/recado) waits for its recipient.",
        _number(int, 1),
        default="30",
        kind="number",
    ),
    # log
    Option(
        "log-level",
        "log",
        "level",
        "Lowest level logged: debug, info, warn or error.",
        _one_of(LEVELS, ", ".join(LEVELS)),
        default="info",
        live=True,
    ),
    Option(
        "log-format",
        "log",
        "format",
        "Log lines as text, or json (one JSON object per line).",
        _one_of(FORMATS, ", ".join(FORMATS)),
        default="text",
    ),
    # cluster
    Option(
        "redis",
        "cluster",
        "url",
        "Cluster mode: join the other nodes through Redis at redis://[:PASSWORD@]HOST[:PORT]"
        "[/DB] (the password may come from $CHAT_REDIS_PASSWORD instead).",
        _redis,
        shown_default="off",
    ),
    Option(
        "node-id",
        "cluster",
        "node_id",
        "This node's name in the cluster (default: hostname-PID); letters, digits, . _ -.",
        _node_id,
        needs="redis",
        shown_default="hostname-PID",
    ),
    Option(
        "cluster-ttl",
        "cluster",
        "ttl",
        "Seconds a node's users survive it after it stops heartbeating (it heartbeats every "
        "third of that).",
        _number(float, minimum=1),
        default="10",
        kind="number",
        needs="redis",
    ),
    Option(
        "redis-prefix",
        "cluster",
        "prefix",
        "Prefix of every Redis key and channel of this chat.",
        _redis_prefix,
        default="chat:",
        needs="redis",
    ),
    # metrics
    Option(
        "metrics",
        "metrics",
        "endpoint",
        "Serve Prometheus metrics at /metrics and a health check at /health on ENDPOINT (e.g. "
        "tcp:9123:interface=127.0.0.1; off by default).",
        _endpoint,
        shown_default="off",
    ),
    # web
    Option(
        "web",
        "web",
        "listeners",
        "Endpoint for the web client and its WebSocket (/ and /ws); repeatable (e.g. "
        "tcp:8080:interface=127.0.0.1, or ssl:8443:privateKey=key.pem:certKey=cert.pem for wss).",
        _endpoints,
        default=(),
        kind="list",
        shown_default="none",
    ),
    Option(
        "web-origin",
        "web",
        "origins",
        "Also accept WebSockets from pages of ORIGIN (e.g. https://chat.example.org); "
        "repeatable (by default only the page's own origin).",
        _origins,
        default=(),
        kind="list",
        shown_default="the page's own",
    ),
    Option(
        "web-ping",
        "web",
        "ping",
        "WebSocket keepalive: ping every SECONDS, disconnect a client that has not answered by "
        "the next ping (0 = no pings).",
        _number(float),
        default="30",
        kind="number",
    ),
    # irc
    Option(
        "irc",
        "irc",
        "listeners",
        "Endpoint for IRC clients (docs/IRC.md); repeatable (e.g. tcp:6667:interface=127.0.0.1, "
        "or ssl:6697:privateKey=key.pem:certKey=cert.pem).",
        _endpoints,
        default=(),
        kind="list",
        shown_default="none",
    ),
    Option(
        "server-name",
        "irc",
        "server_name",
        "The server's name for IRC clients (the source of its replies).",
        _server_name,
        shown_default="the host name",
    ),
    Option(
        "motd",
        "irc",
        "motd",
        "UTF-8 text file whose lines are the message of the day of IRC clients (read at "
        "start-up; at most 200 lines, each cut at 80 characters).",
        _motd,
        shown_default="none",
    ),
    Option(
        "irc-max-channels",
        "irc",
        "max_channels",
        "Most rooms one IRC user may be in at once (CHANLIMIT; a JOIN of one more gets 405), "
        "so that one client cannot create every room --max-rooms allows.",
        _number(int, minimum=1),
        default=str(DEFAULT_MAX_CHANNELS),
        kind="number",
    ),
    Option(
        "irc-password",
        "irc",
        "password",
        "A server password: IRC clients must send PASS PASSWORD before registering (464 and "
        "closed otherwise), and log in to accounts with SASL (the password may come from "
        "$CHAT_IRC_PASSWORD instead).",
        _irc_password,
        shown_default="none",
    ),
    # the command line's own
    Option(
        "config",
        None,
        "",
        "TOML file of options (keys are the option names); the command line wins over it. "
        "SIGHUP reloads it.",
        _as_given,
        shown_default="none",
    ),
)

#: The options by name (``--config`` key).
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


# -- deriving twistd's option table ------------------------------------------------------------

_O = TypeVar("_O", bound=type[usage.Options])


def option_parameters() -> list[list[Any]]:
    """``optParameters`` for the options that are not repeatable."""
    return [
        [option.name, option.short, option.default, option.help]
        for option in OPTIONS
        if not option.repeatable
    ]


def _appender(option: Option) -> Callable[[usage.Options, str], None]:
    def append(self: usage.Options, value: str) -> None:
        self[option.name].append(value)

    append.__doc__ = option.help
    append.__name__ = "opt_" + option.flag.replace("-", "_")
    return append


def declared_options(cls: _O) -> _O:
    """Give the ``usage.Options`` class ``cls`` every option of :data:`OPTIONS`: the
    ``optParameters``, and an ``opt_*`` method (and its short form) per repeatable option,
    which appends to the list under the option's key."""
    options_class: Any = cls
    options_class.optParameters = option_parameters()
    for option in OPTIONS:
        if option.repeatable:
            method = _appender(option)
            setattr(cls, method.__name__, method)
            if option.short is not None:
                setattr(cls, "opt_" + option.short, method)
    return cls


def initial_values() -> dict[str, list[str]]:
    """The empty lists the repeatable options start from (a given value replaces the
    default)."""
    return {option.name: [] for option in OPTIONS if option.repeatable}


# -- the validator -----------------------------------------------------------------------------


def validate(
    values: Mapping[str, Any], from_file: Collection[str] = (), path: str | None = None
) -> Settings:
    """The :class:`Settings` of the option values ``values`` (by key: strings, lists of strings
    for the repeatable options, ``None`` for unset; a missing key takes its default).

    A bad value raises :class:`~twisted.python.usage.UsageError`: the option's own message
    (``bad --flood-rate '-1': must be at least 0``), preceded by ``--config PATH: 'KEY': `` for
    a key in ``from_file``, the keys whose values came from the file ``path``.
    """
    parsed: dict[str, Any] = {}
    for option in OPTIONS:
        if option.section is None:
            continue
        value = values.get(option.name, option.default)
        if option.repeatable:
            value = list(value or option.default or ())
        try:
            if option.needs is not None and values.get(option.needs) is None:
                if option.default is None and value is not None:
                    needed = BY_NAME[option.needs].flag
                    raise usage.UsageError(f"--{option.flag} needs --{needed}")
                continue
            parsed[option.name] = option.parse(option, value, parsed)
        except usage.UsageError as e:
            if option.name in from_file and path is not None:
                raise config_error(path, option.name, str(e)) from None
            raise
    return _assemble(parsed)


def _assemble(parsed: Mapping[str, Any]) -> Settings:
    fields: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for option in OPTIONS:
        if option.section is not None and option.name in parsed:
            fields[option.section][option.field] = parsed[option.name]
    sections: dict[str, Any] = {
        name: SECTIONS[name](**fields[name]) for name in SECTIONS if name != "cluster"
    }
    if parsed.get("redis") is not None:
        sections["cluster"] = ClusterSettings(**fields["cluster"])
    return Settings(**sections)


# -- what a reload may change ------------------------------------------------------------------


def live_options() -> list[Option]:
    """The options a reload applies while running."""
    return [option for option in OPTIONS if option.section is not None and option.live]


def restart_options() -> list[Option]:
    """The options that only take effect at start-up."""
    return [option for option in OPTIONS if option.section is not None and not option.live]


def keep_restart_options(running: Settings, new: Settings) -> Settings:
    """``new`` with every restart-only option at its ``running`` value: what a reload runs."""
    sections: dict[str, Any] = {}
    for name in SECTIONS:
        old_section, new_section = getattr(running, name), getattr(new, name)
        declared = [option for option in OPTIONS if option.section == name]
        if old_section is None or new_section is None or not any(o.live for o in declared):
            sections[name] = old_section
            continue
        kept = {o.field: getattr(old_section, o.field) for o in declared if not o.live}
        sections[name] = dataclasses.replace(new_section, **kept)
    return Settings(**sections)
