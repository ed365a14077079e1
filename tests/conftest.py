"""Every test sits at one level, named by its directory (see each level's ``__init__.py``):
``tests/unit`` (no sockets, no processes, no threads), ``tests/inprocess`` (real loopback sockets
in one reactor, SQLite files) and ``tests/e2e`` (processes and real services). Helpers shared by
the levels are in ``tests/support``; each level's fixtures in its own ``conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The levels, fastest first.
LEVELS = ("unit", "inprocess", "e2e")

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test module outside the three levels is an error, not a test of no level."""
    for item in items:
        parts = Path(item.path).resolve().relative_to(HERE).parts
        if len(parts) < 2 or parts[0] not in LEVELS:
            raise pytest.UsageError(
                f"{item.nodeid}: every test belongs under one of tests/{{{','.join(LEVELS)}}}"
            )
