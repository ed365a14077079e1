"""In-process tests: the server built as ``twistd chat`` builds it, in this process's reactor,
with real loopback sockets (pytest-twisted, every wait bounded) and real SQLite files."""
