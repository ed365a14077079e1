"""The ``salas`` table through :class:`TopicStore` on a real MariaDB: every test of
``tests/inprocess/test_storage_topics.py`` again (this level's ``db_url`` is a scratch MariaDB
database, ``tests/e2e/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.inprocess.test_storage_topics import *  # noqa: F403  (collected again, on MariaDB)

pytestmark = pytest.mark.mysql
