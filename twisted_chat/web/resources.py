"""The ``--web`` listener: one ``twisted.web`` site with the browser client at ``/`` and the
WebSocket at ``/ws``.

The page and its script and style are read from the package once, at start-up, and served with a
strict ``Content-Security-Policy`` (no inline script, nothing from another origin). The WebSocket
handshake checks ``Origin`` against cross-site WebSocket hijacking (a page of another site could
otherwise open a chat session in its visitor's name): only the server's own origin is accepted,
plus those given with ``--web-origin``. A handshake without ``Origin`` comes from no browser page,
so it cannot be a hijack, and is accepted (scripts and command-line clients send none).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable
from typing import Any

from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.server import Request
from twisted.web.websocket import WebSocketResource

from twisted_chat.server import ChatServer
from twisted_chat.text import CATALOGUES, Language
from twisted_chat.web.frames import FrameRenderer
from twisted_chat.web.protocol import DEFAULT_PING_INTERVAL, ChatWebSocketFactory

#: The page's security policy: its own script, style and icon only; the WebSocket back to its
#: own origin; no frames, forms, plugins or base-URL games.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: Headers on every response of the site.
SECURITY_HEADERS = {
    b"Content-Security-Policy": CONTENT_SECURITY_POLICY.encode(),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cache-Control": b"no-cache",
}

#: The client's files by URL path segment: (file in ``static/``, content type).
STATIC_FILES = {
    b"": ("index.html", b"text/html; charset=utf-8"),
    b"chat.js": ("chat.js", b"text/javascript; charset=utf-8"),
    b"chat.css": ("chat.css", b"text/css; charset=utf-8"),
    b"favicon.svg": ("favicon.svg", b"image/svg+xml"),
}

#: The catalogue entries the page reads the server's lines with (see ``chat.js``).
PAGE_TEXTS = (
    "welcome",
    "joined",
    "left",
    "room_joined",
    "room_left",
    "room_kicked",
    "salas",
    "sala",
    "tema",
    "no_topic",
    "topic_set",
    "room_usage",
    "room_invalid",
    "rooms_full",
    "history_more",
    "history_missed",
    "recados_header",
    "recado_header_one",
    "renamed",
)

#: Where the page's template holds :func:`page_texts` (a JSON data block, which is not run:
#: the Content-Security-Policy allows no inline script and needs no exception for it).
TEXTS_PLACEHOLDER = '<script id="texts" type="application/json">{}</script>'

#: Seconds an HTTP connection may stay silent before it is closed (a WebSocket's keepalive
#: pings take over once it is upgraded).
HTTP_TIMEOUT = 30


def static_text(name: str) -> str:
    """The text of ``twisted_chat/web/static/NAME`` (from the installed package)."""
    files = importlib.resources.files("twisted_chat.web")
    return files.joinpath("static", name).read_text(encoding="utf-8")


def page_texts() -> str:
    """The :data:`PAGE_TEXTS` templates of every language, as JSON that is safe inside a
    ``<script>`` element (``{"es": {"welcome": ...}, "en": {...}}``). Every language, not only
    the server's: a configuration reload may change the language under an open page."""
    texts = {
        lang: {key: getattr(catalogue, key) for key in PAGE_TEXTS}
        for lang, catalogue in CATALOGUES.items()
    }
    data = json.dumps(texts, ensure_ascii=False, sort_keys=True)
    # Nothing in it may close the element or open a comment.
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _set_headers(request: Request, content_type: bytes) -> None:
    request.setHeader(b"Content-Type", content_type)
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)


class StaticFile(resource.Resource):
    """One file of the client, held in memory and served with the security headers."""

    isLeaf = True

    def __init__(self, body: bytes, content_type: bytes) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type

    def render_GET(self, request: Request) -> bytes:
        """The file."""
        _set_headers(request, self.content_type)
        return self.body

    def render_HEAD(self, request: Request) -> bytes:
        """The file's headers (``twisted.web`` drops the body)."""
        return self.render_GET(request)


class Page(resource.Resource):
    """The client's page, in the server's language of the moment (``<html lang=...>``; a
    configuration reload may change it), with the server's texts it parses lines with."""

    isLeaf = True

    def __init__(self, template: str, language: Language) -> None:
        super().__init__()
        if TEXTS_PLACEHOLDER not in template:
            raise ValueError("the page has no texts placeholder")
        self.template = template.replace(
            TEXTS_PLACEHOLDER, TEXTS_PLACEHOLDER.replace("{}", page_texts()), 1
        )
        self.language = language
        self._bodies: dict[str, bytes] = {}

    def render_GET(self, request: Request) -> bytes:
        """The page."""
        _set_headers(request, STATIC_FILES[b""][1])
        lang = self.language.lang
        body = self._bodies.get(lang)
        if body is None:
            page = self.template.replace('<html lang="es">', f'<html lang="{lang}">', 1)
            body = self._bodies[lang] = page.encode("utf-8")
        return body

    def render_HEAD(self, request: Request) -> bytes:
        """The page's headers (``twisted.web`` drops the body)."""
        return self.render_GET(request)


def request_origin(request: Request) -> str:
    """The origin the request was sent to: ``http[s]://`` and its ``Host`` header."""
    host = (request.getHeader(b"host") or b"").decode("latin-1").strip().lower()
    return ("https://" if request.isSecure() else "http://") + host


class OriginCheckedWebSocket(WebSocketResource):
    """``/ws``: the WebSocket handshake, for pages of this origin and of ``--web-origin`` only."""

    log = Logger()

    def __init__(self, factory: Any, allowed_origins: Iterable[str]) -> None:
        super().__init__(factory)
        self.allowed_origins = {origin.strip().rstrip("/").lower() for origin in allowed_origins}

    def origin_allowed(self, request: Request) -> bool:
        """Whether the handshake's ``Origin`` (if any) may open a session."""
        origin = request.getHeader(b"origin")
        if origin is None:
            return True  # not sent by a browser page: nothing to hijack the session from
        value = origin.decode("latin-1").strip().lower()
        return value == request_origin(request) or value in self.allowed_origins

    def render_GET(self, request: Request) -> bytes | int:
        """Refuse a foreign ``Origin`` with 403; otherwise upgrade to a WebSocket."""
        if not self.origin_allowed(request):
            self.log.info(
                "refused a WebSocket from origin {origin} ({address})",
                origin=request.getHeader(b"origin"),
                address=request.getClientAddress(),
            )
            request.setResponseCode(403)
            _set_headers(request, b"text/plain; charset=utf-8")
            return b"Forbidden: WebSocket from another origin\n"
        return super().render_GET(request)


def make_site(
    chat_server: ChatServer,
    renderer: FrameRenderer,
    language: Language,
    allowed_origins: Iterable[str] = (),
    ping_interval: float = DEFAULT_PING_INTERVAL,
) -> server.Site:
    """The site of ``--web``: the client at ``/`` (in the server's language), the WebSocket
    at ``/ws`` (its events rendered as frames by ``renderer``)."""
    root = resource.Resource()
    for segment, (name, content_type) in STATIC_FILES.items():
        if name == "index.html":
            root.putChild(segment, Page(static_text(name), language))
        else:
            root.putChild(segment, StaticFile(static_text(name).encode("utf-8"), content_type))
    factory = ChatWebSocketFactory(chat_server, renderer, ping_interval)
    root.putChild(b"ws", OriginCheckedWebSocket(factory, allowed_origins))
    site = server.Site(root, timeout=HTTP_TIMEOUT)
    site.noisy = False
    site.displayTracebacks = False
    return site
