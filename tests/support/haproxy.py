"""A real HAProxy in TCP mode with ``send-proxy``, in front of chat nodes, for the cluster tests.

:class:`HAProxy` writes its configuration to a temporary directory (no daemon, ``mode tcp``,
short timeouts, a frontend on a free loopback port, a round-robin backend whose servers get a
PROXY protocol header), runs ``haproxy -f CFG -db`` in the foreground, waits until the frontend
accepts connections, and kills that process, by its PID, at the end. Its stats socket tells how
many sessions each backend server got (:meth:`HAProxy.sessions`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.processes import free_port

#: Longest wait for HAProxy to accept connections after it was started, in seconds.
STARTUP_TIMEOUT = 15.0


def find_haproxy() -> str | None:
    """The ``haproxy`` binary, if installed."""
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )


def config(frontend_port: int, backend_ports: Sequence[int], stats_socket: Path) -> str:
    """An HAProxy configuration: TCP, PROXY protocol v1 to every backend server, round robin."""
    servers = "\n".join(
        f"    server node{i} 127.0.0.1:{port} send-proxy"
        for i, port in enumerate(backend_ports, start=1)
    )
    return f"""\
global
    maxconn 1000
    stats socket {stats_socket} mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s

frontend chat
    bind 127.0.0.1:{frontend_port}
    default_backend nodes

backend nodes
    balance roundrobin
{servers}
"""


class HAProxy:
    """A running ``haproxy -db`` with its frontend on 127.0.0.1:``port``."""

    def __init__(self, binary: str, backend_ports: Sequence[int]) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="chat-haproxy-"))
        self.port = free_port()
        self.stats_socket = self.directory / "stats.sock"
        self.config_path = self.directory / "haproxy.cfg"
        self.config_path.write_text(config(self.port, backend_ports, self.stats_socket))
        self.log_path = self.directory / "haproxy.log"
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [binary, "-f", str(self.config_path), "-db"], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.destroy()
            raise

    def log(self) -> str:
        """What HAProxy printed so far."""
        return self.log_path.read_text(errors="replace")

    def _wait_until_listening(self) -> None:
        # The stats socket answers once every listener is bound. (A probe connection to the
        # frontend would reach a backend server and count as one of its sessions.)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}:\n{self.log()}")
            try:
                self._stats("show info")
            except OSError:
                time.sleep(0.05)
            else:
                return
        raise RuntimeError(f"haproxy did not listen within {STARTUP_TIMEOUT}s:\n{self.log()}")

    def _stats(self, request: str) -> str:
        """The stats socket's answer to ``request``."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.stats_socket))
            sock.sendall(request.encode() + b"\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return data.decode()

    def sessions(self) -> dict[str, int]:
        """``{server name: sessions it was given so far}`` for the backend's servers (``stot``)."""
        lines = self._stats("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        result: dict[str, int] = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "nodes" and row.get("svname") not in (None, "BACKEND"):
                result[row["svname"]] = int(row["stot"] or 0)
        return result

    def destroy(self) -> None:
        """Kill HAProxy (only the process we started) and remove its files."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)
