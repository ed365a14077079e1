"""Real components the tests need: a missing one skips its tests loudly, and fails them under
``CI=true`` (where every real component must be there)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, why: str) -> NoReturn:
    """``what`` (e.g. "MYSQL TESTS") cannot run because of ``why``: skip loudly, or fail under
    CI=true."""
    if in_ci():
        pytest.fail(f"CI=true: {why}", pytrace=False)
    pytest.skip(f"SKIPPING {what}: {why}")
