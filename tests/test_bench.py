"""The benchmark suite still runs: ``bench/run.py --tiny`` end to end, so it cannot rot.

This checks that every scenario runs against every server (and fan-out against the floor and
against ours over the WebSocket) and that ours delivered everything; it asserts no speed
(benchmarks print figures; they are never tests with time limits).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"fanout", "connect", "private", "hold"}
SERVERS = {"ours", "bare", "threaded"}


@pytest.mark.slow
@pytest.mark.timeout(300, method="thread")
def test_tiny_benchmark_runs(tmp_path: Path) -> None:
    """``bench/run.py --tiny`` exits 0; ours has a delivery ratio of 1.0 in every scenario."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())["rows"]
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
