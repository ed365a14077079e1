"""Issue 15's hot-path rows: history on (``--history-days 30``, the default) against off
(``--history-days 0``), in the same run (``bench/run.py --history-only``, ``make bench-history``).

Rows, each measured in alternating pairs (on then off, then off then on, ...), every run kept:

- ``fanout`` at 100 and 1000 clients, 10 senders, 50 messages/s in all: with history on every
  public message is also kept (the batched writer, one transaction per reactor turn, on the
  server's SQLite file in the scratch directory, tmpfs as in every other row) and remembered in
  its room's buffer. Aim: mean CPU per delivery with history on at most
  :data:`HISTORY_CPU_AIM` times the mean with it off;
- ``private``: 200 pairs as fast as the server lets them (live private messages are never
  stored: the same aim);
- ``connect``: 5000 logins, 200 at a time (MariaDB when it answers, as the standard row), after
  one client said :data:`REPLAY_SEED` public messages in the room and left: with history on each
  login is replayed them (its bytes per login say so), with it off there is nothing to replay.
  Aim: logins/s (the table's units/s: logins over the time to the last byte) within noise,
  i.e. the difference of the means no larger than the larger spread (max - min) of either
  side's runs.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench.loadgen import RowResult, RowSpec, measure

#: History on: the default retention, given explicitly so the table says it.
ON = 30
#: History off.
OFF = 0
#: Issue 15: CPU per delivery with history on at most this many times with it off.
HISTORY_CPU_AIM = 1.05
#: Public messages said before the login storm (the replay shows the last 20 by default).
REPLAY_SEED = 20

#: A row of the comparison: its name, the figure compared, and its spec for a history setting.
Kind = tuple[str, str, Callable[[int], RowSpec]]


def history_kinds(seconds: float, mysql: bool, tiny: bool = False) -> list[Kind]:
    """The rows compared: fan-out at 100 and 1000 clients, private, the login storm (with
    ``tiny``, a few clients for a second each, for CI)."""
    if tiny:
        common: dict[str, Any] = {"seconds": 1.0, "login_timeout": 30.0}
        return [
            (
                "fan-out 4 at 20/s",
                "cpu_us_per_unit",
                lambda d: RowSpec(
                    "fanout", "ours", clients=4, senders=2, rate=20, history_days=d, **common
                ),
            ),
            (
                "private 2 pairs",
                "cpu_us_per_unit",
                lambda d: RowSpec(
                    "private", "ours", clients=4, pairs=2, window=8, history_days=d, **common
                ),
            ),
            (
                "connect 20, replay 3",
                "units_per_s",
                lambda d: RowSpec(
                    "connect",
                    "ours",
                    clients=20,
                    mysql=mysql,
                    history_days=d,
                    replay_seed=3,
                    login_timeout=30.0,
                ),
            ),
        ]
    return [
        (
            "fan-out 100 at 50/s",
            "cpu_us_per_unit",
            lambda d: RowSpec("fanout", "ours", clients=100, seconds=seconds, history_days=d),
        ),
        (
            "fan-out 1000 at 50/s",
            "cpu_us_per_unit",
            lambda d: RowSpec("fanout", "ours", clients=1000, seconds=seconds, history_days=d),
        ),
        (
            "private 200 pairs",
            "cpu_us_per_unit",
            lambda d: RowSpec(
                "private",
                "ours",
                clients=400,
                pairs=200,
                window=16,
                seconds=seconds,
                history_days=d,
            ),
        ),
        (
            f"connect 5000, replay {REPLAY_SEED}",
            "units_per_s",
            lambda d: RowSpec(
                "connect",
                "ours",
                clients=5000,
                mysql=mysql,
                history_days=d,
                replay_seed=REPLAY_SEED,
            ),
        ),
    ]


def run_pairs(
    kinds: Sequence[Kind], mysql_url: str | None, pairs: int
) -> dict[str, dict[int, list[RowResult]]]:
    """Measure every kind ``pairs`` times with history on and off, the order alternating
    (on/off, off/on, ...); every run, by kind and setting."""
    runs: dict[str, dict[int, list[RowResult]]] = {}
    total = len(kinds) * pairs * 2
    count = 0
    for name, _, make in kinds:
        found = runs[name] = {ON: [], OFF: []}
        for pair in range(pairs):
            for days in (ON, OFF) if pair % 2 == 0 else (OFF, ON):
                count += 1
                spec = make(days)
                print(
                    f"[{count}/{total}] {name}, history-days {days} ...",
                    end=" ",
                    file=sys.stderr,
                    flush=True,
                )
                result = measure(spec, mysql_url)
                status = "ERROR" if result.error else "ok"
                print(f"{status} ({result.spec['wall_seconds']}s)", file=sys.stderr, flush=True)
                if result.error:
                    print(result.error, file=sys.stderr)
                found[days].append(result)
    return runs


def history_aims(
    kinds: Sequence[Kind], runs: dict[str, dict[int, list[RowResult]]]
) -> list[dict[str, Any]]:
    """Each kind's figure with history on and off (every run, the means, their ratio) and
    whether its aim is met (``None``: not measured)."""
    found: list[dict[str, Any]] = []
    for name, figure, _ in kinds:
        sides: dict[int, list[float]] = {}
        errors = []
        for days in (ON, OFF):
            results = runs.get(name, {}).get(days, [])
            errors += [r.error.splitlines()[0] for r in results if r.error]
            sides[days] = [
                float(getattr(r, figure))
                for r in results
                if r.error is None and getattr(r, figure) is not None
            ]
        on, off = sides[ON], sides[OFF]
        entry: dict[str, Any] = {
            "row": name,
            "figure": figure,
            "on": on,
            "off": off,
            "errors": errors,
        }
        if on and off and not errors and statistics.mean(off):
            mean_on, mean_off = statistics.mean(on), statistics.mean(off)
            entry.update(mean_on=round(mean_on, 3), mean_off=round(mean_off, 3))
            entry["ratio"] = round(mean_on / mean_off, 3)
            if figure == "cpu_us_per_unit":
                entry["aim"] = f"<= {HISTORY_CPU_AIM:g}x"
                entry["met"] = entry["ratio"] <= HISTORY_CPU_AIM
            else:
                spread = max(max(on) - min(on), max(off) - min(off))
                entry["aim"] = "within noise (|mean on - mean off| <= the larger spread)"
                entry["spread"] = round(spread, 1)
                entry["met"] = abs(mean_on - mean_off) <= spread
        else:
            entry.update(mean_on=None, mean_off=None, ratio=None, met=None)
        found.append(entry)
    return found


def format_history_aims(aims: Sequence[dict[str, Any]], tiny: bool = False) -> str:
    """:func:`history_aims` as a table of text."""
    title = "History on (--history-days 30) against off (--history-days 0), same run"
    if tiny:
        title += " (tiny rows: the figures mean nothing)"
    lines = [title]
    header = ("row", "figure", "runs on", "runs off", "mean on", "mean off", "on/off", "aim", "")
    table = [header]
    for entry in aims:
        unit = "us/delivery" if entry["figure"] == "cpu_us_per_unit" else "logins/s"
        runs_on = ", ".join(_number(v) for v in entry["on"]) or "-"
        runs_off = ", ".join(_number(v) for v in entry["off"]) or "-"
        verdict = (
            "ERROR " + entry["errors"][0][:50]
            if entry["errors"]
            else "not measured"
            if entry["met"] is None
            else "met"
            if entry["met"]
            else "NOT met"
        )
        ratio = "-" if entry["ratio"] is None else f"{entry['ratio']:.3f}x"
        aim = entry.get("aim", "-")
        if "spread" in entry:
            aim = f"within noise (spread {_number(entry['spread'])})"
        table.append(
            (
                entry["row"],
                unit,
                runs_on,
                runs_off,
                _number(entry["mean_on"]),
                _number(entry["mean_off"]),
                ratio,
                aim,
                verdict,
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        lines.append(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
