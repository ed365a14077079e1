"""The ``baneos`` table through :class:`BanStore` on a real MariaDB: every test of
``tests/inprocess/test_storage_bans.py`` again (this level's ``db_url`` is a scratch MariaDB
database, ``tests/e2e/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.inprocess.test_storage_bans import *  # noqa: F403  (collected again, on MariaDB)

pytestmark = pytest.mark.mysql
