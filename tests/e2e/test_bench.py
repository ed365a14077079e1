"""The benchmark suite still runs: ``bench/run.py --tiny`` end to end, so it cannot rot.

This checks that every scenario runs against every server (and fan-out against the floor and
against ours over the WebSocket) and that ours delivered everything, on one node and on clusters
of nodes joined through a private Redis; it asserts no speed (benchmarks print figures; they are
never tests with time limits). The cluster rows need ``redis-server``: without it their test is
skipped loudly (and fails under ``CI=true``). One unit test checks which rows the WebSocket aims
compare (fabricated figures, no run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import servers
from bench.loadgen import RowSpec, format_websocket_aims, new_result, websocket_aims
from tests.support.needs import missing

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"fanout", "connect", "private", "hold"}
SERVERS = {"ours", "bare", "threaded"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``bench/run.py --tiny`` once for the module: its results.json (it must exit 0)."""
    out = tmp_path_factory.mktemp("bench") / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document: dict[str, Any] = json.loads((out / "results.json").read_text())
    return document


@pytest.mark.timeout(420, method="thread")
def test_tiny_benchmark_runs(tiny_run: dict[str, Any]) -> None:
    """``bench/run.py --tiny`` exits 0; ours has a delivery ratio of 1.0 in every scenario."""
    rows = [r for r in tiny_run["rows"] if r["server"] != servers.CLUSTER and not r["nodes"]]
    assert {(r["scenario"], r["server"]) for r in rows} >= {
        (s, server) for s in SCENARIOS for server in SERVERS
    }
    ours = [r for r in rows if r["server"] == "ours"]
    assert {r["scenario"] for r in ours} == SCENARIOS
    for row in ours:
        assert row["error"] is None, row["error"]
        assert row["delivery_ratio"] == 1.0, row
        if row["scenario"] in ("fanout", "private"):
            assert row["received"] == row["expected"] > 0, row
        if row["rows_persisted"] is not None:  # connect with MySQL
            assert row["rows_persisted"] == row["clients"], row
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows if r["error"]]
    for front in ("floor", "ours-ws"):  # fan-out only
        only = [r for r in rows if r["server"] == front]
        assert [r["scenario"] for r in only] == ["fanout"], only
        assert only[0]["delivery_ratio"] == 1.0, only
    # The WebSocket front against TCP, same run: both figures there (their values are not
    # checked, and may be missing: a tiny row measures nothing, its CPU may be 0 ticks).
    aims = tiny_run["meta"]["websocket_aims"]
    assert [a["clients"] for a in aims] == [4], aims
    assert {"cpu_ratio", "ws_kib_per_conn", "cpu_met", "kib_met"} <= set(aims[0]), aims


def test_websocket_aims_compare_rows_of_the_same_size() -> None:
    """The WebSocket aims pair each fixed-rate ``ours-ws`` fan-out row with ``ours`` at the
    same size (nothing else), and say whether each figure is within its aim."""
    rows = []
    for server, clients, us, kib in (
        ("ours", 1000, 6.0, 2.1),
        ("ours-ws", 1000, 8.4, 5.5),  # 1.4x, 5.5 KiB: both met
        ("ours", 100, 5.0, 2.0),
        ("ours-ws", 100, 8.0, 7.0),  # 1.6x, 7 KiB: neither
        ("ours-ws", 5000, 7.0, 5.0),  # no TCP row of that size: not compared
        ("bare", 1000, 3.0, 1.0),
    ):
        row = new_result(RowSpec("fanout", server, clients=clients))
        row.cpu_us_per_unit, row.rss_per_conn_kib = us, kib
        rows.append(row)
    saturated = new_result(RowSpec("fanout", "ours-ws", clients=1000, saturate=True))
    aims = websocket_aims([saturated, *rows])
    assert [(a["clients"], a["cpu_ratio"], a["cpu_met"], a["kib_met"]) for a in aims] == [
        (100, 1.6, False, False),
        (1000, 1.4, True, True),
    ]
    text = format_websocket_aims(aims)
    assert "8.40 us vs 6.00 us = 1.40x (aim <= 1.5x): met" in text
    assert "7.00 KiB per WebSocket connection; TCP 2.00 KiB (aim <= 6 KiB): NOT met" in text


@pytest.mark.timeout(420, method="thread")
def test_tiny_cluster_rows(tiny_run: dict[str, Any]) -> None:
    """The cluster rows ran on 1, 2 and 3 nodes and delivered everything, across nodes too.

    Skipped loudly when they could not run here (no ``redis-server``, or a ``twistd chat``
    without ``--redis``); under ``CI=true`` that is a failure.
    """
    skipped = tiny_run["meta"]["cluster"]
    if skipped is not True:
        missing("CLUSTER BENCHMARK ROWS", f"cluster benchmark rows did not run: {skipped}")
    rows = [r for r in tiny_run["rows"] if r["server"] == servers.CLUSTER]
    assert {(r["scenario"], r["nodes"]) for r in rows} >= {
        (s, n) for s in ("fanout", "private") for n in (1, 2)
    }
    assert ("fanout", 3) in {(r["scenario"], r["nodes"]) for r in rows}
    for row in rows:
        assert row["error"] is None, row["error"]
        assert row["delivery_ratio"] == 1.0, row
        assert row["received"] == row["expected"] > 0, row
        # CPU is summed over every node and Redis.
        assert set(row["cpu_s_by_process"]) == {f"node{k}" for k in range(1, row["nodes"] + 1)} | {
            "redis"
        }
    aims = tiny_run["meta"]["cluster_aims"]
    assert len(aims) == 3
    assert all(a["vs_single"] is not None for a in aims), aims
