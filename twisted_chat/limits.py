"""Abuse limits that need no I/O: token buckets, per-address connection counts, attempt windows.

Each takes times as plain floats (``clock.seconds()``), so tests drive them with ``task.Clock``.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Addresses exempt from ``--max-per-ip`` unless ``--exempt none`` is given.
DEFAULT_EXEMPT = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class Limits:
    """Every per-server and per-connection limit (the ``twistd chat`` options of the same names)."""

    max_line: int = 1024
    sendq: int = 1_048_576
    max_strikes: int = 10
    flood_rate: float = 10.0
    flood_burst: int = 20
    flood_kick: float = 10.0
    max_clients: int = 10_000
    max_per_ip: int = 16
    exempt: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in DEFAULT_EXEMPT)
    login_timeout: float = 60.0
    idle_timeout: float = 0.0


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; a rate of 0 means unlimited."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; ``False`` means over budget."""
        if self.rate <= 0:
            return True
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


def parse_exempt(values: Iterable[str]) -> list[IPNetwork]:
    """Networks from ``--exempt`` values; ``none`` clears the list so far. Raises ``ValueError``."""
    networks: list[IPNetwork] = []
    for value in values:
        if value.strip().lower() == "none":
            networks.clear()
            continue
        networks.append(ipaddress.ip_network(value.strip(), strict=False))
    return networks


def _normalise_host(host: str) -> str:
    """The address of ``host`` with IPv4-mapped IPv6 (``::ffff:1.2.3.4``) unwrapped."""
    if ":" not in host:  # IPv4, as the reactor gives it: already canonical
        return host
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass
class ConnectionCounter:
    """Open connections in all and per client address, with limits and exempt networks.

    ``twisted.protocols.policies.LimitConnectionsByPeer`` is not used: it keys by address objects
    (which include the port), so it never limits anything.
    """

    max_clients: int
    max_per_ip: int
    exempt: list[IPNetwork] = field(default_factory=list)
    total: int = 0
    _per_host: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    # is_exempt of the connected hosts that reached their limit (parsing an address per
    # connection showed in a login storm's profile); forgotten with the host's last connection.
    _exempt_hosts: dict[str, bool] = field(default_factory=dict)

    def configure(self, max_clients: int, max_per_ip: int, exempt: list[IPNetwork]) -> None:
        """New limits (a configuration reload); the connections counted so far stay counted."""
        self.max_clients = max_clients
        self.max_per_ip = max_per_ip
        self.exempt = exempt
        self._exempt_hosts.clear()

    def is_exempt(self, host: str) -> bool:
        """Whether ``host`` is in an exempt network."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.exempt)

    def refuse_reason(self, host: str | None) -> str | None:
        """Why a connection from ``host`` is refused (``server_full``, ``per_ip``), or ``None``."""
        if self.max_clients > 0 and self.total >= self.max_clients:
            return "server_full"
        if host is not None and self.max_per_ip > 0:
            host = _normalise_host(host)
            if self._per_host.get(host, 0) >= self.max_per_ip:
                exempt = self._exempt_hosts.get(host)
                if exempt is None:
                    exempt = self._exempt_hosts[host] = self.is_exempt(host)
                if not exempt:
                    return "per_ip"
        return None

    def opened(self, host: str | None) -> None:
        """Count a connection that was accepted."""
        self.total += 1
        if host is not None:
            self._per_host[_normalise_host(host)] += 1

    def closed(self, host: str | None) -> None:
        """Forget a connection counted by :meth:`opened`."""
        self.total -= 1
        if host is not None:
            host = _normalise_host(host)
            remaining = self._per_host[host] - 1
            if remaining > 0:
                self._per_host[host] = remaining
            else:
                del self._per_host[host]
                self._exempt_hosts.pop(host, None)

    def hosts(self) -> int:
        """How many distinct addresses are connected."""
        return len(self._per_host)


class AttemptWindow:
    """Failed attempts per key in a sliding window: after ``limit`` failures within ``window``
    seconds, the key is blocked until the oldest of them is ``window`` seconds old.

    Memory is bounded by forgetting keys whose failures have all expired (on each call).
    """

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def blocked(self, key: str, now: float) -> bool:
        """Whether ``key`` has used up its failed attempts for now."""
        failures = self._recent(key, now)
        return failures is not None and len(failures) >= self.limit

    def fail(self, key: str, now: float) -> None:
        """Record a failed attempt for ``key``."""
        failures = self._recent(key, now)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.limit)
        failures.append(now)

    def forgive(self, key: str, when: float) -> None:
        """Withdraw the failure recorded for ``key`` at ``when`` (the attempt succeeded)."""
        failures = self._failures.get(key)
        if failures is not None and when in failures:
            failures.remove(when)
            if not failures:
                del self._failures[key]

    def prune(self, now: float) -> None:
        """Forget every key with no failure inside the window."""
        for key in list(self._failures):
            self._recent(key, now)

    def __len__(self) -> int:
        return len(self._failures)
