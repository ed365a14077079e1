"""End-to-end tests: real ``twistd`` processes, MariaDB, Redis, HAProxy, the browser, the
packaging and the terminal client in a pseudo-terminal. A missing component skips its tests
loudly, and fails them under ``CI=true`` (:mod:`tests.support.needs`)."""
