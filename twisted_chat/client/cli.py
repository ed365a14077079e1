"""``twisted-chat-client [HOST][:PORT]``: arguments, the endpoint, and the choice of mode.

Standard input a terminal: the interactive client (:mod:`.interactive`); otherwise the script
tool (:mod:`.piped`). The password for ``--nick`` is read (from ``--password-file``, or from a
prompt that does not echo) before the terminal goes raw.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import endpoints, ssl
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import globalLogBeginner, textFileLogObserver

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1234


@dataclass(frozen=True)
class Address:
    """Where the server is."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """``HOST``, ``HOST:PORT``, ``:PORT``, ``[V6]``, ``[V6]:PORT`` or a bare IPv6 address;
    missing parts default to ``127.0.0.1`` and ``1234``."""
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']' in {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port {port_text!r} (1-65535)")
        port = int(port_text)
    return Address(host or DEFAULT_HOST, port)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="twisted-chat-client",
        description="A terminal client for twisted-chat. With stdin not a terminal, each stdin "
        "line is sent and each server line printed (a script tool).",
    )
    p.add_argument(
        "address",
        nargs="?",
        default="",
        metavar="HOST[:PORT]",
        help=f"server address (default {DEFAULT_HOST}:{DEFAULT_PORT}; IPv6 as [::1]:1234)",
    )
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls: accept any certificate (self-signed test servers)",
    )
    p.add_argument("--nick", metavar="NICK", help="send NICK as the first line (log in)")
    p.add_argument(
        "--password-file",
        metavar="FILE",
        type=Path,
        help="with --nick: log in as 'NICK PASSWORD', the password being FILE's first line",
    )
    p.add_argument(
        "--ask-password",
        action="store_true",
        help="with --nick: ask for the password (without echo) and log in as 'NICK PASSWORD'",
    )
    p.add_argument(
        "--log",
        metavar="FILE",
        type=Path,
        help="write Twisted's log to FILE (by default it is discarded: the screen is the UI)",
    )
    p.add_argument(
        "--linger",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="piped mode: after stdin ends, wait this long for the server to close (default 5)",
    )
    return p


def login_line(args: argparse.Namespace, p: argparse.ArgumentParser) -> str | None:
    """The first line to send: ``NICK`` or ``NICK PASSWORD``, or none."""
    if args.nick is None:
        if args.password_file or args.ask_password:
            p.error("--password-file and --ask-password need --nick")
        return None
    nick: str = args.nick.strip()
    if not nick or any(c.isspace() for c in nick):
        p.error("--nick takes one word")
    if args.password_file and args.ask_password:
        p.error("give --password-file or --ask-password, not both")
    password = _password(args, p, nick)
    if password is None:
        return nick
    if not password or any(c.isspace() for c in password):
        p.error("the password must be one word")
    return f"{nick} {password}"


def _password(args: argparse.Namespace, p: argparse.ArgumentParser, nick: str) -> str | None:
    """The password of ``--password-file`` (its first line) or ``--ask-password``, if any."""
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            p.error(f"cannot read --password-file: {e.strerror}")
        return lines[0].strip() if lines else ""
    if args.ask_password:
        try:
            return getpass.getpass(f"Password for {nick}: ").strip()
        except (EOFError, KeyboardInterrupt):
            p.error("no password given")
    return None


def endpoint_for(reactor: Any, address: Address, *, tls: bool, insecure: bool) -> Any:
    """A client endpoint for ``address``: TCP, or TLS verified against the system's trust
    roots (or not verified at all with ``insecure``)."""
    tcp = endpoints.HostnameEndpoint(reactor, address.host.encode("idna"), address.port)
    if not tls:
        return tcp
    creator: Any
    if insecure:
        creator = ssl.CertificateOptions(verify=False)
    else:
        creator = ssl.optionsForClientTLS(address.host)
    endpoint: IStreamClientEndpoint = endpoints.wrapClientTLS(creator, tcp)
    return endpoint


def colour_wanted(stream: Any = None) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (https://no-color.org)."""
    stream = sys.stdout if stream is None else stream
    return stream.isatty() and not os.environ.get("NO_COLOR")


def start_logging(path: Path | None) -> None:
    """Log to ``path``, or nowhere: tracebacks on stderr would run through the screen."""
    observers: list[Any] = []
    if path is not None:
        observers.append(textFileLogObserver(path.open("a", encoding="utf-8")))
    globalLogBeginner.beginLoggingTo(observers, discardBuffer=True, redirectStandardIO=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; the exit status."""
    p = parser()
    args = p.parse_args(argv)
    try:
        address = parse_address(args.address)
    except ValueError as e:
        p.error(str(e))
    if args.insecure and not args.tls:
        p.error("--insecure needs --tls")
    first = login_line(args, p)
    start_logging(args.log)

    from twisted.internet import reactor

    endpoint = endpoint_for(reactor, address, tls=args.tls, insecure=args.insecure)
    if sys.stdin.isatty() and sys.stdout.isatty():
        from twisted_chat.client.interactive import InteractiveClient, run_on_terminal

        client = InteractiveClient(reactor, endpoint, str(address), first, colour=colour_wanted())
        status = run_on_terminal(reactor, client)
        if client.error:
            print(f"twisted-chat-client: {client.error}", file=sys.stderr)
        return status

    from twisted_chat.client.piped import PipedClient

    piped = PipedClient(
        reactor,
        endpoint,
        str(address),
        first,
        escape_output=sys.stdout.isatty(),
        linger=args.linger,
    )
    reactor.callWhenRunning(piped.start)
    reactor.run()
    return piped.exit_code
