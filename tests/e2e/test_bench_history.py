"""The history benchmarks still run, so they cannot rot: the store benchmark
(``bench/history_store.py``), the end-to-end throughput and latency benchmarks
(``bench/history_e2e.py``) on SQLite and MariaDB with a small seed, and ``bench/run.py
--history-only --tiny`` (history on against off). They assert no speed: they check that the
figures lines are printed, that every message sent was stored exactly once, and that with
history on a login is replayed what was said before it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twisted_chat.storage.url import PASSWORD_ENV, MysqlURL

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str, password: str = "") -> str:
    """Run the benchmark with a few messages; its output."""
    env = dict(os.environ)
    if password:
        env[PASSWORD_ENV] = password
    done = subprocess.run(
        [sys.executable, "-m", "bench.history_store", "--messages", "3000", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bench_history_sqlite() -> None:
    """SQLite: the figures lines of the writes and of the purge."""
    output = run_bench("--purge", "1000")
    assert re.search(r"^sqlite +3000 messages, 200/turn: [\d,]+ messages/s", output, re.M)
    assert re.search(r"^purge +3000 messages, 1000/transaction: [\d,]+ rows/s", output, re.M)


@pytest.mark.mysql
def test_bench_history_mariadb(mysql_server: MysqlURL) -> None:
    """MariaDB: one figures line (a scratch database, dropped afterwards)."""
    url = f"mysql://{mysql_server.user}@{mysql_server.host}:{mysql_server.port}/x"
    assert re.search(
        r"^mysql +3000 messages", run_bench("--db", url, password=mysql_server.password), re.M
    )


def run_e2e(*args: str, password: str = "", timeout: float = 120) -> str:
    """Run ``bench/history_e2e.py`` with ``args``; its output (it must exit 0)."""
    env = dict(os.environ)
    if password:
        env[PASSWORD_ENV] = password
    done = subprocess.run(
        [sys.executable, "-m", "bench.history_e2e", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


#: A small seed and few commands of each kind: seconds.
SMALL_LATENCY = (
    *("latency", "--seed", "3000", "--pages", "5", "--jumps", "3"),
    *("--big-pages", "1", "--searches", "5"),
)
STORED_OK = re.compile(r"rows ([\d,]+)/\1 expected, 0 missing, 0 duplicated: ok$", re.M)


def check_latency_output(output: str) -> None:
    """Every kind of command was measured, with its percentiles."""
    assert re.search(r"^\w+: 3,000 messages stored, [\d,]+ of them in general$", output, re.M)
    for what in ("/historial 50, newest", "/historial 50 antes CURSOR, 5 pages", "random cursors"):
        assert re.search(rf"{re.escape(what)}.*: n=\d+ p50 [\d.]+ ms, p95 .* p99 [\d.]+ ms", output)
    assert "/historial 500, newest and 1 pages back: n=2 " in output, output
    assert "/buscar, 5 searches by 5 users, one at a time: n=5 " in output, output
    assert "/buscar, a word in no message: n=1 " in output, output


@pytest.mark.timeout(150, method="thread")
def test_e2e_throughput_sqlite(tmp_path: Path) -> None:
    """SQLite: a second of public messages through the real server, every one stored once."""
    output = run_e2e("throughput", "--seconds", "1", "--rate", "300", "--dir", str(tmp_path))
    assert re.search(r"^  sent +[\d,]+ public messages in [\d.]+s = [\d,]+ msgs/s$", output, re.M)
    assert re.search(r"^  stored +[\d,]+ during the sending = [\d,]+ msgs/s$", output, re.M)
    assert STORED_OK.search(output), output


@pytest.mark.timeout(150, method="thread")
def test_e2e_latency_sqlite(tmp_path: Path) -> None:
    """SQLite: a small seeded database, every kind of command measured."""
    check_latency_output(run_e2e(*SMALL_LATENCY, "--dir", str(tmp_path)))


def _server(mysql_server: MysqlURL) -> str:
    return f"mysql://{mysql_server.user}@{mysql_server.host}:{mysql_server.port}"


@pytest.mark.mysql
@pytest.mark.timeout(150, method="thread")
def test_e2e_throughput_mariadb(mysql_server: MysqlURL, tmp_path: Path) -> None:
    """MariaDB: the same, in a scratch database dropped afterwards."""
    output = run_e2e(
        "throughput", "--seconds", "1", "--rate", "300", "--dir", str(tmp_path),
        "--db", _server(mysql_server), password=mysql_server.password,
    )  # fmt: skip
    assert STORED_OK.search(output), output


@pytest.mark.mysql
@pytest.mark.timeout(150, method="thread")
def test_e2e_latency_mariadb(mysql_server: MysqlURL, tmp_path: Path) -> None:
    """MariaDB: the same small seed and commands, in a scratch database dropped afterwards."""
    args = (*SMALL_LATENCY, "--dir", str(tmp_path), "--db", _server(mysql_server))
    check_latency_output(run_e2e(*args, password=mysql_server.password))


@pytest.mark.timeout(200, method="thread")
def test_history_only_tiny(tmp_path: Path) -> None:
    """``bench/run.py --history-only --tiny``: every row with history on and off, everything
    delivered, the aims table printed; a login after the seeding client's messages is replayed
    them with history on (more bytes per login than with it off)."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--history-only", "--tiny", "--no-mysql",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "History on (--history-days 30) against off (--history-days 0)" in done.stdout
    document = json.loads((out / "results.json").read_text())
    rows = document["rows"]
    assert sorted((r["scenario"], r["spec"]["history_days"]) for r in rows) == [
        (scenario, days) for scenario in ("connect", "fanout", "private") for days in (0, 30)
    ]
    for row in rows:
        assert row["error"] is None, row["error"]
        assert row["delivery_ratio"] == 1.0, row
    per_login = {}
    for row in (r for r in rows if r["scenario"] == "connect"):
        note = next(n for n in row["notes"] if n.endswith(" bytes per login"))
        per_login[row["spec"]["history_days"]] = int(note.split()[0].replace(",", ""))
    assert per_login[30] > per_login[0], per_login
    assert [a["row"] for a in document["meta"]["history_aims"]] == [
        "fan-out 4 at 20/s", "private 2 pairs", "connect 20, replay 3",
    ]  # fmt: skip
