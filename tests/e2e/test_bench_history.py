"""The history store benchmark still runs (``bench/history_store.py``), on SQLite and MariaDB,
so it cannot rot. It asserts no speed: it checks that the figures line is printed."""

from __future__ import annotations

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
