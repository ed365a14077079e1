"""Unit tests: no sockets, no processes, no threads; ``StringTransport``, ``task.Clock`` and
``SynchronousTestCase``, seconds for all of them (``make test-fast``; the ``TestCase`` classes also
run under ``trial tests.unit``). The guard in ``conftest.py`` fails a test that opens a socket,
starts a process or a thread."""
