"""Helpers shared by the tests of every level: doubles (:mod:`~tests.support.fakes`), real-socket
and process clients, the private MariaDB, Redis and HAProxy the end-to-end tests start, expected
server lines, bounded waits and log capture."""
