"""Helpers shared by the tests of every level: the unit tests' doubles (the one fake client
and the one fake session, in :mod:`~tests.support.fakes`; the accounts' in
:mod:`~tests.support.accounts`, the cluster link's in :mod:`~tests.support.fake_link`), options
and scrapes as tests read them, real-socket and process clients, the private MariaDB, Redis and
HAProxy the end-to-end tests start, expected server lines, bounded waits and log capture."""
