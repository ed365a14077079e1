"""The standard benchmark suite: every scenario against ours and both reference servers.

Rows (each server started fresh for each row, on a free loopback port):

- ``fanout`` at 100, 1000 and 5000 clients, 10 senders, 50 messages/s in all (also against the
  ``floor``, the cheapest Python fan-out: see ``bench/reference/send_loop.py``); at 1000 clients
  also ``ours-ws``, ours with every client on the ``--web`` WebSocket, measured in turns with
  ``ours``: after the table, their ratio of CPU per delivery and the KiB per WebSocket
  connection, each against issue 13's aim (at most 1.5x TCP's CPU, at most 6 KiB);
- ``fanout`` at 1000 clients saturated (10 senders, 32 messages in flight each);
- ``connect``: 5000 logins, 200 at a time (ours and threaded persist to a scratch MySQL
  database, created and dropped here; bare persists nothing);
- ``private``: 200 pairs as fast as the server lets them;
- ``hold``: 10,000 idle clients on ours and bare (1000 on threaded: a thread each);
- ``rooms`` (ours only; issue 14): 1000 clients in 10 rooms of 100 (``/unirse room-K``), one
  sender per room, 5 messages/s per room (50/s in all, as the fan-out row at 1000 clients, but
  each message reaches 99 members instead of 999); a message received outside its room is a
  room error. After the table: its CPU per delivery against the single-room fan-out row's
  (1000 clients at 50/s, same run), aim at most 1.25x.

The rows issue 4 sets targets on (fan-out at 1000 clients, ``connect``, ``private``) are measured
three times (``--repeats``), the servers taking turns, and each row's median run is kept. The load
generator is pinned to one CPU and the servers may use every CPU (``--no-pin`` to leave the
generator free).

``--cluster`` adds the cluster rows (``--cluster-only``: only those; ``make bench-cluster``): 1000
clients at 50 messages/s and saturated, and 200 private pairs, against plain ``ours`` (no Redis)
and against 1, 2 and 3 nodes of ours on one private Redis (``cluster:K``; see
``bench/servers.py``), clients round-robin over the nodes, every private pair split across two
nodes, CPU summed over the nodes and Redis. After the table it prints the ratios the cluster's
aims are about (2 nodes against the single plain node, in the same run) and whether each is met.
The cluster rooms rows (issue 14) are 1000 clients in 20 rooms of 50, saturated (one sender per
room, 32 in flight), on plain ``ours`` and on 2 nodes where node 1's clients are in rooms
``a-0..a-9`` and node 2's in ``b-0..b-9``: deliveries/s against the single node's (aim: at least
1x), and the envelopes each node received of the other node's rooms (aim: none), from the
nodes' ``chat_cluster_room_envelopes_received_total`` (``--metrics``) and counted by the
benchmark itself on Redis (``PSUBSCRIBE`` to the rooms' channels, ``PUBSUB NUMSUB`` of each):
"n/a: node has no per-room channels" with nodes that carry every room on one shared channel.
Without ``redis-server`` (or with a ``twistd chat`` that has no ``--redis``) the cluster rows are
skipped with a loud message.

It prints the table, writes ``bench/out/results.json`` (every figure also as a ratio to the bare
Twisted server's in the same run, under ``vs_bare``) and ``bench/out/latency_cpu.png`` (p50/p99
latency and CPU per delivery against clients, from the fixed-rate fan-out rows). ``--tiny`` runs
every scenario against every server once with a few clients for a second: a smoke test for CI.

Usage::

    .venv/bin/python bench/run.py --cluster       # the suite and the cluster rows (make bench)
    .venv/bin/python bench/run.py --cluster-only  # the cluster rows, ~8 min (make bench-cluster)
    .venv/bin/python bench/run.py --tiny          # seconds, cluster rows included (bench-tiny)
    .venv/bin/python bench/run.py --rooms-only    # the rooms rows and their fan-out reference
    .venv/bin/python bench/run.py --history-only  # issue 15: history on against off (bench-history)
    .venv/bin/python bench/run.py --irc-only      # issue 16: ours on --irc vs ngIRCd (bench-irc)

``--irc`` (in ``make bench``) adds issue 16's IRC rows after the others, ``--irc-only`` (``make
bench-irc``) runs only them: 1000 IRC clients in one channel at 50 msgs/s and saturated, ours on
``--irc`` (history on, and with ``--history-days 0``) against ngIRCd, in ``--pairs`` alternating
rounds, every run printed, then ours against ngIRCd on each of the issue's aims (see
``bench/irc_rows.py``; ngIRCd's rows are skipped with a loud message without ``ngircd``). The
tiny suite runs them too, with 4 clients for a second.

``--history-only`` (``make bench-history``) runs only issue 15's comparison: the fan-out rows at
100 and 1000 clients, the private row and the login storm (with a replay to show), each with
history on (``--history-days 30``) and off (``--history-days 0``) in ``--pairs`` alternating
pairs; it prints every run and a table of the aims (see ``bench/history_onoff.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import history_onoff, irc_rows, servers
from bench.loadgen import (
    RowResult,
    RowSpec,
    add_ratios,
    format_table,
    format_websocket_aims,
    measure,
    resolve_mysql,
    websocket_aims,
)
from bench.loadgen import write_json as write_results

OUT = Path(__file__).resolve().parent / "out"
ALL = servers.SERVERS
WITH_FLOOR = (*servers.SERVERS, "floor")
CLUSTER = servers.CLUSTER
#: Cluster sizes measured, each against plain ``ours`` in the same run.
CLUSTER_NODES = (1, 2, 3)
#: Issue 14: CPU per delivery in 10 rooms of 100 at most this many times one room's of 1000.
ROOMS_CPU_AIM = 1.25
#: Issue 14: 2 nodes with rooms on one node each, deliveries/s at least this times one node's.
ROOMS_CLUSTER_AIM = 1.0


def rooms_row(seconds: float) -> RowSpec:
    """1000 clients in 10 rooms of 100, 5 msgs/s per room (50/s over the server), on ours."""
    return RowSpec("rooms", "ours", clients=1000, rooms=10, rate=50, seconds=seconds)


def rooms_reference(seconds: float) -> RowSpec:
    """The single-room fan-out row the rooms row is compared with: 1000 clients at 50/s."""
    return RowSpec("fanout", "ours", clients=1000, seconds=seconds)


def cluster_rooms(seconds: float) -> list[RowSpec]:
    """1000 clients in 20 rooms of 50 (``a-K`` and ``b-K``), saturated, one sender per room:
    plain ``ours`` and 2 nodes, each node's clients in its own 10 rooms."""
    return _cluster_group(
        "rooms", (2,), clients=1000, rooms=10, room_groups=2, saturate=True, seconds=seconds
    )


def suite(seconds: float, mysql: bool) -> list[RowSpec]:
    """The standard rows."""
    rows: list[RowSpec] = []
    for clients in (100, 1000, 5000):
        rows += [RowSpec("fanout", s, clients=clients, seconds=seconds) for s in WITH_FLOOR]
        if clients == 1000:  # the same row, the clients on the WebSocket (a figure to watch)
            rows.insert(-3, RowSpec("fanout", "ours-ws", clients=clients, seconds=seconds))
    rows += [RowSpec("fanout", s, clients=1000, saturate=True, seconds=seconds) for s in ALL]
    rows += [RowSpec("connect", s, clients=5000, mysql=mysql) for s in ALL]
    rows += [RowSpec("private", s, clients=400, pairs=200, window=16, seconds=seconds) for s in ALL]
    rows += [RowSpec("hold", s, clients=10_000 if s != "threaded" else 1000) for s in ALL]
    rows.append(rooms_row(seconds))
    return rows


def tiny(mysql: bool) -> list[RowSpec]:
    """Every scenario against every server once, a few clients, one second."""
    rows: list[RowSpec] = []
    for s in ALL:
        rows += [
            RowSpec("fanout", s, clients=4, senders=2, rate=20, seconds=1, login_timeout=30),
            RowSpec("fanout", s, clients=4, senders=2, saturate=True, window=8, seconds=1),
            RowSpec("connect", s, clients=20, mysql=mysql, login_timeout=30),
            RowSpec("private", s, clients=4, pairs=2, window=8, seconds=1, login_timeout=30),
            RowSpec("hold", s, clients=20, login_timeout=30),
        ]
    rows.append(RowSpec("fanout", "floor", clients=4, senders=2, rate=20, seconds=1))
    rows.append(RowSpec("fanout", "ours-ws", clients=4, senders=2, rate=20, seconds=1))
    rows.append(tiny_rooms())
    for spec in rows:
        spec.login_timeout = 30
    return rows


def tiny_rooms_reference() -> RowSpec:
    """The tiny fan-out row of ours that :func:`tiny_rooms` is compared with."""
    return RowSpec("fanout", "ours", clients=4, senders=2, rate=20, seconds=1, login_timeout=30)


def tiny_rooms() -> RowSpec:
    """The rooms row with 4 clients in 2 rooms, at the tiny fan-out row's rate."""
    return RowSpec("rooms", "ours", clients=4, rooms=2, rate=20, seconds=1, login_timeout=30)


def _cluster_group(scenario: str, nodes: Sequence[int], **params: Any) -> list[RowSpec]:
    """Plain ``ours`` and a cluster of each size in ``nodes``, with the same parameters."""
    rows = [RowSpec(scenario, "ours", **params)]
    return rows + [RowSpec(scenario, CLUSTER, nodes=n, **params) for n in nodes]


def cluster_suite(seconds: float) -> list[RowSpec]:
    """The cluster rows: 1000 clients at 50 msgs/s and saturated, 200 private pairs split across
    nodes; plain ``ours`` and 1, 2 and 3 nodes on one Redis.

    The private rows, the plain one too, count each pair's window by the partner's receipts
    (``delivery_acks``): on a cluster the sender's echo leaves before the message reaches the
    other node, and counting echoes would let the senders run open-loop.
    """
    fanout = {"clients": 1000, "seconds": seconds}
    return [
        *_cluster_group("fanout", CLUSTER_NODES, **fanout),
        *_cluster_group("fanout", CLUSTER_NODES, saturate=True, **fanout),
        *_cluster_group(
            "private",
            CLUSTER_NODES,
            clients=400,
            pairs=200,
            window=16,
            seconds=seconds,
            delivery_acks=True,
        ),
        *cluster_rooms(seconds),
    ]


def tiny_cluster() -> list[RowSpec]:
    """The cluster rows with a few clients for a second (pairs split over two nodes)."""
    common = {"seconds": 1.0, "login_timeout": 30.0}
    rows = _cluster_group("fanout", (1, 2, 3), clients=6, senders=2, rate=20, **common)
    rows += _cluster_group(
        "fanout", (1, 2), clients=4, senders=2, saturate=True, window=8, **common
    )
    private = {"clients": 4, "pairs": 2, "window": 8, "delivery_acks": True}
    rows += _cluster_group("private", (1, 2), **private, **common)
    return rows + tiny_cluster_rooms()


def tiny_cluster_rooms() -> list[RowSpec]:
    """The cluster rooms rows with 8 clients in 4 rooms (2 a node) for a second."""
    return _cluster_group(
        "rooms",
        (2,),
        clients=8,
        rooms=2,
        room_groups=2,
        saturate=True,
        window=8,
        seconds=1.0,
        login_timeout=30.0,
    )


@dataclass
class Aim:
    """One of the cluster's aims: a ratio of 2 nodes' figure to the single plain node's."""

    what: str
    scenario: str
    saturate: bool
    figure: str  # RowResult field
    bound: float
    at_least: bool  # True: ratio >= bound; False: ratio <= bound


AIMS = (
    Aim("saturated fan-out, deliveries/s", "fanout", True, "units_per_s", 0.8, True),
    Aim("fan-out at 50 msgs/s, p99 latency", "fanout", False, "p99_ms", 2.0, False),
    Aim(
        "private pairs split over 2 nodes, deliveries/s", "private", False, "units_per_s", 0.5, True
    ),
)


def cluster_aims(results: Sequence[RowResult]) -> list[dict[str, Any]]:
    """Each aim's ratio (2 nodes against plain ``ours``, same run), whether it is met, and the
    same ratio against 1 node with Redis (the cost of the cluster layer alone, for reference)."""
    found: list[dict[str, Any]] = []

    def row(scenario: str, saturate: bool, server: str, nodes: int) -> RowResult | None:
        for r in results:
            if (r.scenario, r.server, r.nodes, r.error) == (scenario, server, nodes, None) and (
                scenario != "fanout" or r.spec["saturate"] == saturate
            ):
                return r
        return None

    for aim in AIMS:
        single = row(aim.scenario, aim.saturate, "ours", 0)
        one = row(aim.scenario, aim.saturate, CLUSTER, 1)
        two = row(aim.scenario, aim.saturate, CLUSTER, 2)
        entry: dict[str, Any] = {"aim": aim.what, "bound": aim.bound, "at_least": aim.at_least}
        mine = getattr(two, aim.figure) if two is not None else None
        for name, ref in (("vs_single", single), ("vs_one_node", one)):
            theirs = getattr(ref, aim.figure) if ref is not None else None
            entry[name] = round(mine / theirs, 3) if mine and theirs else None
        entry["two_nodes"], entry["single"] = mine, getattr(single, aim.figure, None)
        ratio = entry["vs_single"]
        if ratio is not None:
            entry["met"] = ratio >= aim.bound if aim.at_least else ratio <= aim.bound
        else:
            entry["met"] = None
        found.append(entry)
    return found


def format_aims(aims: Sequence[dict[str, Any]], tiny: bool) -> str:
    """The aims as lines of text."""
    lines = ["Cluster aims: 2 nodes on one Redis against the single plain node, same run"]
    if tiny:
        lines[0] += " (tiny rows: the ratios mean nothing)"
    for entry in aims:
        sign = ">=" if entry["at_least"] else "<="
        ratio = entry["vs_single"]
        if ratio is None:
            lines.append(f"  {entry['aim']}: not measured")
            continue
        verdict = "met" if entry["met"] else "NOT met"
        other = entry["vs_one_node"]
        against_one = f"; against 1 node with Redis {other:.2f}x" if other is not None else ""
        lines.append(
            f"  {entry['aim']}: {entry['two_nodes']:,.1f} vs {entry['single']:,.1f} = "
            f"{ratio:.2f}x (aim {sign} {entry['bound']:g}x): {verdict}{against_one}"
        )
    return "\n".join(lines)


def _fixed_rate(row: RowResult) -> bool:
    return not row.spec["saturate"]


def rooms_aims(
    standard: Sequence[RowResult], clustered: Sequence[RowResult]
) -> list[dict[str, Any]]:
    """Issue 14's aims, from the rows of the same run: each fixed-rate rooms row's CPU per
    delivery against the fixed-rate single-room fan-out row of ours with as many clients at
    the same total rate (at most :data:`ROOMS_CPU_AIM`), and the cluster rooms rows: 2 nodes'
    deliveries/s against the single node's (at least :data:`ROOMS_CLUSTER_AIM`) and the
    envelopes of the other node's rooms (none; ``None`` when the nodes have no per-room
    channels)."""
    ok = [r for r in standard if r.error is None and r.server == "ours" and not r.nodes]
    found: list[dict[str, Any]] = []
    for row in (r for r in ok if r.scenario == "rooms" and _fixed_rate(r)):
        ref = next(
            (
                r
                for r in ok
                if r.scenario == "fanout"
                and _fixed_rate(r)
                and (r.clients, r.spec["rate"]) == (row.clients, row.spec["rate"])
            ),
            None,
        )
        mine, theirs = row.cpu_us_per_unit, ref.cpu_us_per_unit if ref is not None else None
        ratio = round(mine / theirs, 3) if mine and theirs else None
        found.append(
            {
                "aim": "rooms: CPU per delivery against one room of all the clients",
                "clients": row.clients,
                "load": row.load,
                "rooms_us_per_delivery": mine,
                "fanout_us_per_delivery": theirs,
                "cpu_ratio": ratio,
                "bound": ROOMS_CPU_AIM,
                "room_errors": row.room_errors,
                "delivery_ratio": row.delivery_ratio,
                "p50_ms": row.p50_ms,
                "p99_ms": row.p99_ms,
                "met": None if ratio is None else ratio <= ROOMS_CPU_AIM and not row.room_errors,
            }
        )
    rooms = [r for r in clustered if r.scenario == "rooms" and r.error is None]
    single = next((r for r in rooms if r.server == "ours" and not r.nodes), None)
    for two in (r for r in rooms if r.nodes == 2):
        found.append(_cluster_rooms_aim(two, single))
    return found


def _cluster_rooms_aim(two: RowResult, single: RowResult | None) -> dict[str, Any]:
    """The cluster rooms aims of the 2-node row ``two`` against the single node's row."""
    theirs = single.units_per_s if single is not None else None
    ratio = round(two.units_per_s / theirs, 3) if theirs and two.units_per_s else None
    foreign, subscribers = two.foreign_envelopes, two.room_channel_subscribers
    if two.room_channels != "per-room":
        envelopes_met = None
    else:
        envelopes_met = (
            foreign is not None
            and not any(foreign.values())
            and bool(subscribers)
            and all(count == 1 for count in (subscribers or {}).values())
        )
    return {
        "aim": "cluster rooms: 2 nodes, each room's members on one node",
        "clients": two.clients,
        "load": two.load,
        "two_nodes": two.units_per_s,
        "single": theirs,
        "vs_single": ratio,
        "bound": ROOMS_CLUSTER_AIM,
        "met": None if ratio is None else ratio >= ROOMS_CLUSTER_AIM and not two.room_errors,
        "room_errors": two.room_errors,
        "room_channels": two.room_channels,
        "foreign_envelopes": foreign,
        "room_channel_envelopes": two.room_channel_envelopes,
        "shared_channel_envelopes": two.shared_channel_envelopes,
        "room_channel_subscribers": subscribers,
        "envelopes_met": envelopes_met,
    }


def format_rooms_aims(aims: Sequence[dict[str, Any]], tiny: bool) -> str:
    """:func:`rooms_aims` as lines of text ("" when nothing was measured)."""
    if not aims:
        return ""
    lines = ["Rooms (issue 14), same run"]
    if tiny:
        lines[0] += " (tiny rows: the figures mean nothing)"
    for entry in aims:
        where = f"  N={entry['clients']} {entry['load']}:"
        errors = f"{entry['room_errors']} room errors"
        if "cpu_ratio" in entry:
            ratio = entry["cpu_ratio"]
            figures = (
                "not measured"
                if ratio is None
                else f"{entry['rooms_us_per_delivery']:.2f} us vs "
                f"{entry['fanout_us_per_delivery']:.2f} us in one room = {ratio:.2f}x"
            )
            lines.append(
                f"{where} CPU per delivery {figures} (aim <= {entry['bound']:g}x): "
                f"{_met(entry['met'])}; {errors}; p50 {entry['p50_ms']} ms, "
                f"p99 {entry['p99_ms']} ms"
            )
            continue
        ratio = entry["vs_single"]
        figures = (
            "not measured"
            if ratio is None
            else f"{entry['two_nodes']:,.0f} vs {entry['single']:,.0f} on one node = {ratio:.2f}x"
        )
        lines.append(
            f"{where} 2 nodes, deliveries/s {figures} (aim >= {entry['bound']:g}x): "
            f"{_met(entry['met'])}; {errors}"
        )
        lines.append(f"{where} envelopes of the other node's rooms: {_envelopes(entry)}")
    return "\n".join(lines)


def _envelopes(entry: dict[str, Any]) -> str:
    """What the cluster rooms row says of the envelopes, in a line."""
    if entry["room_channels"] != "per-room":
        shared = entry["shared_channel_envelopes"]
        return f"{entry['room_channels']} ({shared} envelopes on the shared channel, every node's)"
    foreign = entry["foreign_envelopes"]
    metric = (
        "no node metric"
        if foreign is None
        else "node metric " + ", ".join(f"{node} {count}" for node, count in foreign.items())
    )
    envelopes = entry["room_channel_envelopes"] or {}
    subscribers = entry["room_channel_subscribers"] or {}
    by_count = sorted(set(subscribers.values()))
    nodes = "/".join(str(n) for n in by_count) or "?"
    bench = (
        f"bench: {sum(envelopes.values())} envelopes on {len(envelopes)} room channels, "
        f"{nodes} node(s) subscribed to each"
    )
    return f"{metric}; {bench} (aim: 0 and 1 node each): {_met(entry['envelopes_met'])}"


def _met(met: bool | None) -> str:
    """An aim's verdict in words."""
    return "not measured" if met is None else "met" if met else "NOT met"


def plot(results: Sequence[RowResult], path: Path) -> str:
    """p50/p99 latency and CPU per delivery against clients (fixed-rate fan-out); a note."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install '.[bench]'): no plot"
    fixed = [r for r in results if r.scenario == "fanout" and not r.spec["saturate"]]
    fixed = [r for r in fixed if r.error is None]
    if not fixed:
        return "no fan-out rows to plot"
    fig, (lat_ax, cpu_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = {"ours": "tab:blue", "bare": "tab:orange", "threaded": "tab:green", "floor": "grey"}
    for name in WITH_FLOOR:
        rows = sorted((r for r in fixed if r.server == name), key=lambda r: r.clients)
        if not rows:
            continue
        xs = [r.clients for r in rows]
        colour = colours.get(name)
        lat_ax.plot(xs, [r.p99_ms for r in rows], "o-", color=colour, label=f"{name} p99")
        lat_ax.plot(xs, [r.p50_ms for r in rows], "s--", color=colour, label=f"{name} p50")
        cpu_ax.plot(xs, [r.cpu_us_per_unit for r in rows], "o-", color=colour, label=name)
    rate = fixed[0].spec["rate"]
    senders = fixed[0].spec["senders"]
    lat_ax.set(
        xscale="log",
        yscale="log",
        xlabel="clients",
        ylabel="latency (ms)",
        title=f"Fan-out latency, {rate:g} msgs/s from {senders} senders",
    )
    cpu_ax.set(
        xscale="log",
        xlabel="clients",
        ylabel="server CPU per delivery (µs)",
        title="Server CPU per delivery",
    )
    cpu_ax.set_ylim(bottom=0)
    sizes = sorted({r.clients for r in fixed})
    for ax in (lat_ax, cpu_ax):
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xticks([], minor=True)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path}"


def target_row(spec: RowSpec) -> bool:
    """Whether issue 4 sets a target on this row: fan-out at 1000 clients, connect, private.

    These rows are measured ``--repeats`` times (the servers taking turns) and each server's
    median run is kept: on a small machine the closed-loop rows (connect, private) swing by
    20-40% between runs, and one disturbance of half a second in a fixed-rate row is enough to
    move its p99.
    """
    return spec.scenario in ("connect", "private", "rooms") or (
        spec.scenario == "fanout" and spec.clients == 1000
    )


def _median_key(result: RowResult) -> float:
    """What "median run" means: by p99 latency at a fixed rate, else by units/s."""
    if result.scenario in ("fanout", "rooms") and not result.spec["saturate"]:
        return result.p99_ms if result.p99_ms is not None else float("inf")
    return result.units_per_s


def run_rows(specs: Sequence[RowSpec], mysql_url: str | None, repeats: int) -> list[RowResult]:
    """Measure every row, the :func:`target_row` ones ``repeats`` times (each group of rows that
    differ only by server in turns), keeping each row's median run with every run's figure in
    its notes."""
    results: list[RowResult] = []
    runs = 0
    total = sum(repeats if target_row(s) else 1 for s in specs)
    index = 0
    while index < len(specs):
        first = specs[index]
        group = [first]
        while index + len(group) < len(specs):
            following = specs[index + len(group)]
            same = (following.scenario, following.clients, following.saturate)
            if same != (first.scenario, first.clients, first.saturate):
                break
            group.append(following)
        rounds = repeats if target_row(first) else 1
        measured: list[list[RowResult]] = [[] for _ in group]
        for _ in range(rounds):
            for position, spec in enumerate(group):
                runs += 1
                print(
                    f"[{runs}/{total}] {spec.scenario} {spec.label()} N={spec.clients} "
                    f"{spec.load()} ...",
                    end=" ",
                    file=sys.stderr,
                    flush=True,
                )
                result = measure(spec, mysql_url)
                measured[position].append(result)
                status = "ERROR" if result.error else "ok"
                print(f"{status} ({result.spec['wall_seconds']}s)", file=sys.stderr, flush=True)
                if result.error:
                    print(result.error, file=sys.stderr)
        results += [median_run(attempts) for attempts in measured]
        index += len(group)
    return results


def median_run(attempts: Sequence[RowResult]) -> RowResult:
    """The median of one row's runs (see :func:`_median_key`); the first failed run, if any."""
    failed = [r for r in attempts if r.error is not None]
    if failed:
        return failed[0]
    if len(attempts) == 1:
        return attempts[0]
    chosen = sorted(attempts, key=_median_key)[(len(attempts) - 1) // 2]
    if chosen.scenario in ("fanout", "rooms") and not chosen.spec["saturate"]:
        figures = ", ".join(
            f"p99 {r.p99_ms or 0:.1f} ms at {r.cpu_us_per_unit or 0:.2f} us" for r in attempts
        )
    else:
        figures = ", ".join(f"{r.units_per_s:,.0f}/s" for r in attempts)
    chosen.notes.append(f"median of {len(attempts)} runs ({figures})")
    return chosen


def history_only(args: argparse.Namespace, mysql_url: str | None, note: str, pinned: str) -> int:
    """``--history-only``: issue 15's rows, history on and off in alternating pairs; print every
    run, the table of the aims, and write the JSON."""
    kinds = history_onoff.history_kinds(args.seconds, mysql_url is not None, args.tiny)
    pairs = 1 if args.tiny else max(1, args.pairs)
    started = time.monotonic()
    runs = history_onoff.run_pairs(kinds, mysql_url, pairs)
    elapsed = round(time.monotonic() - started, 1)
    results = [r for by_days in runs.values() for side in by_days.values() for r in side]
    aims = history_onoff.history_aims(kinds, runs)
    meta: dict[str, Any] = {
        "suite": "tiny history" if args.tiny else "history",
        "seconds_per_row": 1 if args.tiny else args.seconds,
        "pairs": pairs,
        "suite_seconds": elapsed,
        "mysql": mysql_url or note,
        "pinning": pinned or "not pinned",
        "history_aims": aims,
    }
    write_results(args.out / "results.json", results, meta)
    print(format_table(results))
    print("\n" + history_onoff.format_history_aims(aims, args.tiny))
    print(f"\n{len(results)} rows in {elapsed:.0f}s; results: {args.out / 'results.json'}")
    return 1 if any(r.error for r in results) else 0


def irc_comparison(args: argparse.Namespace) -> tuple[list[RowResult], dict[str, Any], str]:
    """Issue 16's IRC rows (see ``bench/irc_rows.py``): every run, the meta entries and the
    text to print after the table (ngIRCd's rows skipped, loudly, without ``ngircd``)."""
    sides, skipped = irc_rows.irc_sides()
    if skipped:
        print(f"\n*** SKIPPING THE NGIRCD ROWS: {skipped} ***\n", file=sys.stderr)
    kinds = irc_rows.irc_kinds(args.seconds, args.tiny)
    rounds = 1 if args.tiny else max(1, args.pairs)
    runs = irc_rows.run_rounds(kinds, rounds, sides)
    results = [r for by_side in runs.values() for side in by_side.values() for r in side]
    aims = irc_rows.irc_aims(kinds, runs)
    meta = {
        "irc": f"ngircd skipped: {skipped}" if skipped else True,
        "irc_rounds": rounds,
        "irc_aims": aims,
    }
    text = irc_rows.format_irc_aims(aims, args.tiny)
    if skipped:
        text += f"\n*** NGIRCD ROWS SKIPPED: {skipped} ***"
    return results, meta, text


def irc_only(args: argparse.Namespace, pinned: str) -> int:
    """``--irc-only``: issue 16's rows alone; print every run and the aims, write the JSON."""
    started = time.monotonic()
    results, irc_meta, text = irc_comparison(args)
    elapsed = round(time.monotonic() - started, 1)
    meta: dict[str, Any] = {
        "suite": "tiny irc" if args.tiny else "irc",
        "seconds_per_row": 1 if args.tiny else args.seconds,
        "suite_seconds": elapsed,
        "pinning": pinned or "not pinned",
        "load_average": os.getloadavg(),
        **irc_meta,
    }
    write_results(args.out / "results.json", results, meta)
    print(format_table(results))
    print("\n" + text)
    print(f"\n{len(results)} rows in {elapsed:.0f}s; results: {args.out / 'results.json'}")
    return 1 if any(r.error for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or ``--tiny``), print the table, write JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few clients, one second per row")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per row")
    parser.add_argument("--out", type=Path, default=OUT, help="where results and plot go")
    parser.add_argument("--mysql", default=servers.DEFAULT_MYSQL, help="for the connect rows")
    parser.add_argument("--no-mysql", action="store_true", help="connect rows on SQLite")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the load generator to one CPU"
    )
    parser.add_argument(
        "--only", action="append", choices=("fanout", "connect", "private", "hold", "rooms"),
        help="run only these scenarios (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--server",
        action="append",
        choices=(*servers.ALL_SERVERS, CLUSTER),
        help="only these servers",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="also the cluster rows (nodes on one Redis)"
    )
    parser.add_argument("--cluster-only", action="store_true", help="only the cluster rows")
    parser.add_argument(
        "--rooms-only",
        action="store_true",
        help="only the rooms rows (issue 14) and the fan-out row they are compared with",
    )
    parser.add_argument(
        "--history-only",
        action="store_true",
        help="only issue 15's rows: history on against --history-days 0 (see history_onoff.py)",
    )
    parser.add_argument(
        "--irc",
        action="store_true",
        help="also issue 16's IRC rows: ours on --irc against ngIRCd (see irc_rows.py)",
    )
    parser.add_argument("--irc-only", action="store_true", help="only the IRC rows")
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="--history-only: on/off pairs of each row; IRC rows: rounds of each row",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each row with a target (median kept)"
    )
    args = parser.parse_args(argv)
    servers.raise_open_files_limit()
    pinned = "" if args.no_pin else servers.pin_cpus()
    if pinned:
        print(pinned, file=sys.stderr)
    mysql_url, note = resolve_mysql(args.mysql, not args.no_mysql)
    if note:
        print(note, file=sys.stderr)
    if args.history_only:
        return history_only(args, mysql_url, note, pinned)
    if args.irc_only:
        return irc_only(args, pinned)
    specs: list[RowSpec] = []
    if args.rooms_only:
        specs = (
            [tiny_rooms_reference(), tiny_rooms()]
            if args.tiny
            else [rooms_reference(args.seconds), rooms_row(args.seconds)]
        )
    elif not args.cluster_only:
        specs = (
            tiny(mysql_url is not None) if args.tiny else suite(args.seconds, mysql_url is not None)
        )
    cluster_specs: list[RowSpec] = []
    skipped = ""
    if args.tiny or args.cluster or args.cluster_only or args.rooms_only:
        skipped = servers.cluster_unavailable()
        if skipped:
            print(f"\n*** SKIPPING THE CLUSTER ROWS: {skipped} ***\n", file=sys.stderr)
            if args.cluster_only:
                return 2
        elif args.rooms_only:
            cluster_specs = tiny_cluster_rooms() if args.tiny else cluster_rooms(args.seconds)
        else:
            cluster_specs = tiny_cluster() if args.tiny else cluster_suite(args.seconds)

    def chosen(rows: list[RowSpec]) -> list[RowSpec]:
        rows = [s for s in rows if not args.only or s.scenario in args.only]
        return [s for s in rows if not args.server or s.server in args.server]

    started = time.monotonic()
    repeats = 1 if args.tiny else args.repeats
    # Two runs of run_rows: the cluster rows take turns among themselves, not with the others.
    standard = run_rows(chosen(specs), mysql_url, repeats)
    clustered = run_rows(chosen(cluster_specs), mysql_url, repeats)
    irc_results: list[RowResult] = []
    irc_meta: dict[str, Any] = {"irc": False}
    irc_text = ""
    # The IRC rows: with --irc (make bench), and in the tiny suite (CI) unless it was narrowed.
    narrowed = args.cluster_only or args.rooms_only or args.only or args.server
    if args.irc or (args.tiny and not narrowed):
        irc_results, irc_meta, irc_text = irc_comparison(args)
    results = standard + clustered + irc_results
    elapsed = round(time.monotonic() - started, 1)
    add_ratios(standard + clustered)  # the IRC rows are compared with ngIRCd, not bare
    # The aims compare rows of the cluster suite only (its own plain single-node baseline).
    aims = cluster_aims(clustered) if cluster_specs and not args.rooms_only else []
    ws_aims = websocket_aims(standard)
    room_aims = rooms_aims(standard, clustered)
    kind = "rooms" if args.rooms_only else "cluster" if args.cluster_only else "standard"
    meta: dict[str, Any] = {
        "suite": (
            "tiny" if args.tiny and kind == "standard" else f"tiny {kind}" if args.tiny else kind
        )
        + (" + cluster" if cluster_specs and kind == "standard" else ""),
        "seconds_per_row": 1 if args.tiny else args.seconds,
        "suite_seconds": elapsed,
        "mysql": mysql_url or note,
        "pinning": pinned or "not pinned",
        "cluster": f"skipped: {skipped}" if skipped else bool(cluster_specs),
        "cluster_aims": aims,
        "websocket_aims": ws_aims,
        "rooms_aims": room_aims,
        **irc_meta,
    }
    write_results(args.out / "results.json", results, meta)
    if standard:
        print(format_table(standard))
    if ws_aims:
        print("\n" + format_websocket_aims(ws_aims, args.tiny))
    if clustered:
        if standard:
            print("\nCluster rows (their own plain single-node baseline, private by receipts):")
        print(format_table(clustered))
    if aims:
        print("\n" + format_aims(aims, args.tiny))
    if room_aims:
        print("\n" + format_rooms_aims(room_aims, args.tiny))
    if irc_results:
        print("\nIRC rows (every run):")
        print(format_table(irc_results))
        print("\n" + irc_text)
    if skipped:
        print(f"\n*** CLUSTER ROWS SKIPPED: {skipped} ***")
    print(f"\n{len(results)} rows in {elapsed:.0f}s; results: {args.out / 'results.json'}")
    print(plot(standard, args.out / "latency_cpu.png"))  # the cluster rows are one size
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
