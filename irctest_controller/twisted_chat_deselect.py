"""The pytest plugin of ``make irctest`` that deselects the tests of our list, exactly.

pytest's own ``--deselect`` matches node-id prefixes: ``...::testNickRelease`` would also take
``...::testNickReleaseQuit`` away, unnamed and unexplained. This plugin (``-p
twisted_chat_deselect``, from ``irctest_controller/`` on ``PYTHONPATH``) reads the list that
``TWISTED_CHAT_DESELECTED`` names (``irctest_controller/deselected.txt``: one test id a line,
each with a ``# reason``) and deselects exactly those ids; an id that names no collected test is
reported, so that a stale line shows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def deselected_ids(path: Path) -> list[str]:
    """The test ids of the list at ``path``: each line without its ``# reason``, blank lines
    and comments skipped."""
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        test_id = line.split("#", 1)[0].strip()
        if test_id:
            ids.append(test_id)
    return ids


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Deselect the listed ids among ``items``."""
    name = os.environ.get("TWISTED_CHAT_DESELECTED")
    if not name:
        return
    wanted = set(deselected_ids(Path(name)))
    keep = [item for item in items if item.nodeid not in wanted]
    drop = [item for item in items if item.nodeid in wanted]
    unknown = wanted - {item.nodeid for item in items}
    if unknown:
        print(f"{name}: ids that name no collected test:", *sorted(unknown), file=sys.stderr)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
