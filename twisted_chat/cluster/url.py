"""Parsing of the ``--redis`` option: ``redis://[:PASSWORD@]HOST[:PORT][/DB]``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

#: Environment variable holding the Redis password when the URL has none.
PASSWORD_ENV = "CHAT_REDIS_PASSWORD"
DEFAULT_PORT = 6379


class BadRedisURL(ValueError):
    """The ``--redis`` value cannot be used; the message says why."""


@dataclass(frozen=True)
class RedisURL:
    """A Redis server, database number and credentials."""

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """A human description for logs (never the password)."""
        return f"redis://{self.host}:{self.port}/{self.db}"


def parse_redis_url(value: str, environ: Mapping[str, str] | None = None) -> RedisURL:
    """Parse a ``--redis`` value; raise :class:`BadRedisURL` with a clear message if it is wrong.

    The password may be given in the URL (``redis://:secret@host``, or ``redis://user:secret@``
    for a Redis 6 ACL user) or in ``$CHAT_REDIS_PASSWORD``, which keeps it out of the process
    list.
    """
    env = os.environ if environ is None else environ
    if not value.startswith("redis://"):
        raise BadRedisURL(
            f"{value!r} is not a redis:// URL: use redis://[:PASSWORD@]HOST[:PORT][/DB]"
        )
    try:
        parts = urlsplit(value)
        port = parts.port or DEFAULT_PORT
    except ValueError as e:
        raise BadRedisURL(f"bad Redis URL {value!r}: {e}") from None
    if parts.query or parts.fragment:
        raise BadRedisURL("Redis URL takes no ?query or #fragment")
    host = parts.hostname
    if not host:
        raise BadRedisURL("Redis URL needs a host: redis://[:PASSWORD@]HOST[:PORT][/DB]")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise BadRedisURL(f"bad Redis database {path!r}: a number, e.g. redis://{host}/0")
    db = int(path) if path else 0
    if db > 10_000:
        raise BadRedisURL(f"bad Redis database {db}: too large")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is None:
        password = env.get(PASSWORD_ENV) or None
    return RedisURL(host=host, port=port, db=db, username=username, password=password)
