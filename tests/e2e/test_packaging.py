"""Packaging: an installed wheel carries the twistd plugin, the SQL schema and the console
scripts; so does ``-e``.

The plugin file (``twisted/plugins/chat_plugin.py``, in a namespace directory with no
``__init__.py``) is easy to lose from a package, and then ``twistd chat`` silently does not exist.
The wheel test builds from a copy of the source tree, installs into a fresh virtualenv (Twisted
comes from PyPI) and runs everything from a directory outside the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: The project root (the directory holding setup.cfg), found from this file.
ROOT = Path(__file__).resolve().parents[2]
#: The interpreter running the tests (the project's virtualenv).
PYTHON = Path(sys.executable)

#: What a fresh clone does not have: caches, virtualenvs, build output, databases.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "_trial_temp",
    "dropin.cache",
    "*.sqlite3",
    "*.sqlite3-*",
    "twistd.pid",
    "twistd.log*",
)

SCHEMA_CHECK = """
import importlib.resources
import twisted_chat
print(twisted_chat.__file__)
for name in ("mysql.sql", "sqlite.sql"):
    text = importlib.resources.files("twisted_chat").joinpath("sql", name).read_text()
    assert "CREATE TABLE IF NOT EXISTS clientes" in text, (name, text)
    print(name, "ok")
"""

PAGE_CHECK = """
from twisted_chat.web.resources import static_text
import twisted.web.websocket  # the websocket extra of Twisted is installed
assert 'id="log"' in static_text("index.html")
print("page ok")
"""

#: ``chat`` in the command list of ``twistd --help``.
CHAT_COMMAND = re.compile(r"^\s+chat\s+A line-protocol chat server", re.MULTILINE)


def clean_environment() -> dict[str, str]:
    """The environment without anything that would make Python find the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (bounded), failing the test with its output if it fails."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.timeout(300)
def test_wheel_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    dist = tmp_path / "dist"
    run([PYTHON, "-m", "build", "--wheel", "--outdir", dist, source], cwd=tmp_path, timeout=240)
    (wheel,) = dist.glob("twisted_chat-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "twisted/plugins/chat_plugin.py" in names
    # An __init__.py there would shadow Twisted's own packages when installed.
    assert "twisted/__init__.py" not in names
    assert "twisted/plugins/__init__.py" not in names
    assert {"twisted_chat/sql/mysql.sql", "twisted_chat/sql/sqlite.sql"} <= names
    # The web client (--web) is package data too: no build step, nothing fetched at run time.
    static = {"index.html", "chat.js", "chat.css", "favicon.svg"}
    assert {f"twisted_chat/web/static/{name}" for name in static} <= names

    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", venv], cwd=tmp_path, timeout=120)
    run([venv / "bin" / "python", "-m", "pip", "install", wheel], cwd=tmp_path, timeout=240)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listing = run([venv / "bin" / "twistd", "--help"], cwd=elsewhere, timeout=60)
    assert CHAT_COMMAND.search(listing.stdout), listing.stdout
    chat_help = run([venv / "bin" / "twistd", "chat", "--help"], cwd=elsewhere, timeout=60)
    for option in ("--port", "--web", "--web-origin", "--db", "--lang"):
        assert option in chat_help.stdout

    schema = run([venv / "bin" / "python", "-c", SCHEMA_CHECK], cwd=elsewhere, timeout=60)
    module_file, *checked = schema.stdout.splitlines()
    assert Path(module_file).is_relative_to(venv), module_file  # the installed copy, not the repo
    assert checked == ["mysql.sql ok", "sqlite.sql ok"]

    # The console scripts are installed and start (the admin command imports the storage).
    for script in ("twisted-chat-client", "twisted-chat-admin"):
        usage = run([venv / "bin" / script, "--help"], cwd=elsewhere, timeout=60)
        assert f"usage: {script}" in usage.stdout, usage.stdout

    # The installed package serves its page (a plain pip install is enough for --web).
    page = run([venv / "bin" / "python", "-c", PAGE_CHECK], cwd=elsewhere, timeout=60)
    assert page.stdout.split() == ["page", "ok"]


def test_editable_install_lists_the_plugin(tmp_path: Path) -> None:
    where = run(
        [PYTHON, "-c", "import twisted_chat; print(twisted_chat.__file__)"],
        cwd=tmp_path,
        timeout=60,
    )
    if not Path(where.stdout.strip()).is_relative_to(ROOT):
        pytest.skip(f"twisted_chat is not installed in editable mode here: {where.stdout.strip()}")
    listing = run([PYTHON.parent / "twistd", "--help"], cwd=tmp_path, timeout=60)
    assert CHAT_COMMAND.search(listing.stdout), listing.stdout
    schema = run([PYTHON, "-c", SCHEMA_CHECK], cwd=tmp_path, timeout=60)
    assert schema.stdout.splitlines()[1:] == ["mysql.sql ok", "sqlite.sql ok"]
    usage = run([PYTHON.parent / "twisted-chat-admin", "--help"], cwd=tmp_path, timeout=60)
    assert "usage: twisted-chat-admin" in usage.stdout, usage.stdout
