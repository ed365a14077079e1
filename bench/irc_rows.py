"""Issue 16's IRC rows: ours on ``--irc`` against ngIRCd, in the same run (``bench/run.py
--irc``, part of ``make bench``; ``--irc-only``, ``make bench-irc``).

Every client speaks IRC (:class:`bench.loadgen.IrcClient`: ``NICK``/``USER``, the end of the
MOTD, ``JOIN #bench``, then ``PRIVMSG #bench :TS SEQ ...``), all in one channel. Rows, each
measured in alternating rounds (ours, ngIRCd, ours with history off; then the other way round;
...), every run kept:

- ``fanout`` at 1000 clients, 10 senders, 50 messages/s in all (fan-out 999: the senders do not
  get their own messages back). Aims: ours's mean CPU per delivery at most
  :data:`CPU_AIM` times ngIRCd's, ours's p99 latency at most :data:`P99_AIM` times ngIRCd's;
- ``fanout`` at 1000 clients saturated (10 senders, 32 messages in flight each, counted as
  delivered once both the first and the last client to join have them). Aim: ours's
  deliveries/s at least :data:`SATURATED_AIM` times ngIRCd's.

Each aim compares the medians of the runs of each side (the means are shown too): on a small
machine shared with other work one disturbed run (another process taking the core for tens of
milliseconds) moves a p99 by a factor of 3 to 8, for either server, and would decide a mean.

Ours (``ours-irc``) runs as every row of ours (``--flood-rate 0``, SQLite in the scratch
directory) with history on, its default (every public message stored); ngIRCd stores nothing,
so ours with ``--history-days 0`` is measured too (``ours-irc hist 0``) and compared with
ngIRCd for reference (the aims are judged on ours as it runs by default). ngIRCd's
configuration: :func:`bench.servers.ngircd_config`. Without ``ngircd`` its rows are skipped
with a loud message and ours's still run.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench import servers
from bench.loadgen import RowResult, RowSpec, measure

#: Issue 16: CPU per delivery at most this many times ngIRCd's...
CPU_AIM = 1.2
#: ...p99 latency at most this many times ngIRCd's...
P99_AIM = 1.2
#: ...and saturated deliveries/s at least this many times ngIRCd's.
SATURATED_AIM = 1.0

#: The sides of each row: ours as it runs by default, ngIRCd, ours with history off.
OURS, NGIRCD, OURS_OFF = "ours-irc", "ngircd", "ours-irc hist 0"
SIDES = (OURS, NGIRCD, OURS_OFF)

#: A row: its name, whether saturated, and its spec for a side.
Kind = tuple[str, bool, Callable[[str], RowSpec]]


def _spec(side: str, **params: Any) -> RowSpec:
    """The spec of ``side`` (one of :data:`SIDES`) with ``params``."""
    if side == OURS_OFF:
        return RowSpec("fanout", OURS, history_days=0, **params)
    return RowSpec("fanout", side, **params)


def irc_kinds(seconds: float, tiny: bool = False) -> list[Kind]:
    """The two rows (with ``tiny``, 4 clients for a second each, for CI)."""
    if tiny:
        common: dict[str, Any] = {"clients": 4, "senders": 2, "seconds": 1.0}
        common["login_timeout"] = 30.0
        return [
            ("IRC fan-out 4 at 20/s", False, lambda side: _spec(side, rate=20, **common)),
            (
                "IRC fan-out 4 saturated",
                True,
                lambda side: _spec(side, saturate=True, window=8, **common),
            ),
        ]
    return [
        (
            "IRC fan-out 1000 at 50/s",
            False,
            lambda side: _spec(side, clients=1000, rate=50, seconds=seconds),
        ),
        (
            "IRC fan-out 1000 saturated",
            True,
            lambda side: _spec(side, clients=1000, saturate=True, seconds=seconds),
        ),
    ]


def run_rounds(
    kinds: Sequence[Kind], rounds: int, sides: Sequence[str] = SIDES
) -> dict[str, dict[str, list[RowResult]]]:
    """Measure every kind ``rounds`` times on each of ``sides``, the order alternating
    (forwards, backwards, ...); every run, by kind and side."""
    runs: dict[str, dict[str, list[RowResult]]] = {}
    total = len(kinds) * rounds * len(sides)
    count = 0
    for name, _, make in kinds:
        found = runs[name] = {side: [] for side in sides}
        for turn in range(rounds):
            for side in sides if turn % 2 == 0 else tuple(reversed(sides)):
                count += 1
                print(f"[{count}/{total}] {name}, {side} ...", end=" ", file=sys.stderr, flush=True)
                result = measure(make(side))
                status = "ERROR" if result.error else "ok"
                print(f"{status} ({result.spec['wall_seconds']}s)", file=sys.stderr, flush=True)
                if result.error:
                    print(result.error, file=sys.stderr)
                found[side].append(result)
    return runs


#: The aims: (row saturated?, figure, the figure in words, bound, ours must be at least).
AIMS = (
    (False, "cpu_us_per_unit", "CPU per delivery (us)", CPU_AIM, False),
    (False, "p99_ms", "p99 latency (ms)", P99_AIM, False),
    (False, "p50_ms", "p50 latency (ms)", None, False),
    (True, "units_per_s", "deliveries/s", SATURATED_AIM, True),
    (True, "cpu_us_per_unit", "CPU per delivery (us)", None, False),
)


def irc_aims(
    kinds: Sequence[Kind], runs: dict[str, dict[str, list[RowResult]]]
) -> list[dict[str, Any]]:
    """Each figure of each row: every run of each side, their medians and means, ours (and ours
    with history off) against ngIRCd by the medians (``ratio``; by the means: ``mean ratio``),
    and whether the aim is met (``None``: not measured, or no aim on it: ``bound`` ``None``)."""
    found: list[dict[str, Any]] = []
    for name, saturated, _ in kinds:
        sides = runs.get(name, {})
        for row_saturated, figure, words, bound, at_least in AIMS:
            if row_saturated != saturated:
                continue
            entry: dict[str, Any] = {
                "row": name,
                "figure": figure,
                "words": words,
                "bound": bound,
                "at_least": at_least,
                "errors": [],
            }
            for side in SIDES:
                results = sides.get(side, [])
                entry["errors"] += [r.error.splitlines()[0] for r in results if r.error]
                values = [
                    float(getattr(r, figure))
                    for r in results
                    if r.error is None and getattr(r, figure) is not None
                ]
                entry[side] = values
                entry[f"mean {side}"] = round(statistics.mean(values), 3) if values else None
                entry[f"median {side}"] = round(statistics.median(values), 3) if values else None
            for stat, prefix in (("median", ""), ("mean", "mean ")):
                theirs = entry[f"{stat} {NGIRCD}"]
                for side, key in ((OURS, "ratio"), (OURS_OFF, "ratio hist 0")):
                    mine = entry[f"{stat} {side}"]
                    ratio = round(mine / theirs, 3) if mine is not None and theirs else None
                    entry[prefix + key] = ratio
            ratio = entry["ratio"]
            if bound is None or ratio is None or entry["errors"]:
                entry["met"] = None
            else:
                entry["met"] = ratio >= bound if at_least else ratio <= bound
            found.append(entry)
    return found


def format_irc_aims(aims: Sequence[dict[str, Any]], tiny: bool = False) -> str:
    """:func:`irc_aims` as a table of text."""
    title = (
        "IRC: ours (--irc, history on) against ngIRCd, same run; every run, its median and mean;"
        " ratios of the medians (of the means)"
    )
    if tiny:
        title += " (tiny rows: the figures mean nothing)"
    header = (
        "row", "figure", "ours runs", "ngircd runs", "ours hist 0 runs", "ours/ngircd",
        "aim", "", "hist 0/ngircd",
    )  # fmt: skip
    table = [header]
    for entry in aims:
        if entry["errors"]:
            verdict = "ERROR " + entry["errors"][0][:50]
        elif entry["bound"] is None:
            verdict = "(no aim)"
        else:
            verdict = {None: "not measured", True: "met", False: "NOT met"}[entry["met"]]
        sign = ">=" if entry["at_least"] else "<="
        table.append(
            (
                entry["row"],
                entry["words"],
                _runs(entry, OURS),
                _runs(entry, NGIRCD),
                _runs(entry, OURS_OFF),
                _ratio(entry["ratio"], entry["mean ratio"]),
                "-" if entry["bound"] is None else f"{sign} {entry['bound']:g}x",
                verdict,
                _ratio(entry["ratio hist 0"], entry["mean ratio hist 0"]),
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [title]
    for row in table:
        lines.append(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def _runs(entry: dict[str, Any], side: str) -> str:
    values = entry[side]
    if not values:
        return "-"
    median, mean = _number(entry[f"median {side}"]), _number(entry[f"mean {side}"])
    return ", ".join(_number(v) for v in values) + f" (median {median}, mean {mean})"


def _ratio(value: float | None, mean: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" + ("" if mean is None else f" ({mean:.2f}x)")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"


def irc_sides() -> tuple[list[str], str]:
    """The sides that can run here, and why ngIRCd's cannot ("" when it can)."""
    skipped = servers.irc_unavailable()
    sides = [side for side in SIDES if not (skipped and side == NGIRCD)]
    return sides, skipped
