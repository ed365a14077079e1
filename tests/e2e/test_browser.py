"""End to end in a real browser: Debian's ``chromium`` driven by Selenium through Debian's
``chromedriver`` (``scripts/system-deps`` installs both; nothing is downloaded at test time;
see :mod:`tests.support.browser` and the ``browsers`` fixture of ``tests/e2e/conftest.py``).

Two browser users and a netcat-style TCP user log in to the real ``twistd -n chat --web``, talk
publicly and privately, and see each other in ``#users``; a message that is HTML shows as text
and runs nothing; no page logs a console error. With rooms: two browser users in two rooms
and a netcat user moving between them, the room list (click to join), the header's room and
topic, the members in ``#users``, and public messages reaching only their room. A screenshot is
saved in the test's temporary directory. The ids and classes used here are the page's contract
(see ``chat.js``).

Without the browser the test is skipped with a loud reason; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import (
    WAIT,
    barrier,
    lines,
    log_in,
    log_texts,
    severe_console_entries,
    shown,
    type_line,
    users,
    wait_users,
)
from tests.support.expected import PROMPT, welcome
from tests.support.processes import LineSocket
from tests.support.webchat import WebChat, tcp_login, web_chat

pytestmark = [pytest.mark.timeout(120, method="thread")]

XSS = "<img src=x onerror=alert(1)>"


#: A stored line (protocol v1.1); group 1: the line's live form.
STORED = re.compile(r"\* \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] (.*)")


def test_two_browsers_and_netcat_chat(
    browsers: Callable[[], WebDriver], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with web_chat(tmp_path) as server:
        ana, bob = browsers(), browsers()
        log_in(ana, server, "ana")
        log_in(bob, server, "bob")
        carol = server.tcp()
        tcp_login(carol, "carol")
        for driver in (ana, bob):
            wait_users(driver, ["ana", "bob", "carol"])
        assert ana.find_element(By.CSS_SELECTOR, "#users .me").text == "ana"

        # Public, both ways between the browsers and netcat.
        type_line(ana, "hola a todos")
        shown(bob, "public", "hola a todos", "ana")
        shown(ana, "own", "hola a todos", "ana")  # not a server line: the page's own copy
        assert carol.line() == "<ana> hola a todos"
        # An action (/me): the others read it as one, the page shows its own copy alike.
        type_line(ana, "/me saluda")
        shown(bob, "action", "saluda", "ana")
        shown(ana, "action", "saluda", "ana")
        assert ana.find_elements(By.CSS_SELECTOR, "#log li.own.action")
        assert carol.line() == "** ana saluda"
        carol.say("hola desde nc")
        shown(ana, "public", "hola desde nc", "carol")
        shown(bob, "public", "hola desde nc", "carol")

        # Private: clicking a user fills in "#nick ".
        bob.find_element(By.CSS_SELECTOR, "#users button[data-nick='ana']").click()
        line = bob.find_element(By.ID, "line")
        assert line.get_attribute("value") == "#ana "
        assert bob.switch_to.active_element == line
        line.send_keys("solo para ti", Keys.ENTER)
        shown(ana, "private", "solo para ti", "bob")
        shown(bob, "echo", "solo para ti", "ana")
        carol.say("#bob psst")
        assert carol.line() == "-> *bob* psst"
        shown(bob, "private", "psst", "carol")

        # HTML in a message is text, from netcat and from a browser; nothing runs.
        carol.say(XSS)
        type_line(ana, XSS)
        shown(bob, "public", XSS, "carol")
        shown(bob, "public", XSS, "ana")
        assert carol.line() == f"<ana> {XSS}"
        for driver in (ana, bob):
            assert driver.find_elements(By.CSS_SELECTOR, "#log img") == []
            with pytest.raises(NoAlertPresentException):
                driver.switch_to.alert.text  # noqa: B018  # raises when there is no alert

        # Errors and commands show with their kinds; the input keeps a history.
        type_line(ana, "#nadie hola")
        shown(ana, "error", "nadie no está conectado.")
        line = ana.find_element(By.ID, "line")
        line.send_keys(Keys.ARROW_UP)
        assert line.get_attribute("value") == "#nadie hola"
        line.send_keys(Keys.ARROW_UP)
        assert line.get_attribute("value") == XSS
        line.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
        assert line.get_attribute("value") == ""
        for item in lines(ana):
            assert item.find_element(By.CLASS_NAME, "time").text.count(":") == 2

        # Leaving shows in the list.
        carol.say("/salir")
        for driver in (ana, bob):
            wait_users(driver, ["ana", "bob"])
            shown(driver, "notice", "carol ha salido del chat.")

        screenshot = tmp_path / "web-client.png"
        assert ana.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 0
        keep = os.environ.get("CHAT_SCREENSHOT")  # to refresh docs/web-client.png
        if keep:
            shutil.copy(screenshot, keep)

        for driver in (ana, bob):
            assert severe_console_entries(driver) == []


def test_reconnects_after_a_lost_connection(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    with web_chat(tmp_path) as server:
        ports = (server.port, server.web_port)
        ana = browsers()
        log_in(ana, server, "ana")
        wait_users(ana, ["ana"])
        type_line(ana, "/unirse juegos")
        wait_header(ana, "juegos")
        server.process.kill()  # every connection is lost at once
        server.process.wait(timeout=10)
        WebDriverWait(ana, WAIT).until(
            lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-closed"
        )
        assert ana.find_element(By.ID, "status").text.startswith("Desconectado: reintento en ")
        assert users(ana) == []
        assert header(ana) == ("", "")
    with web_chat(tmp_path, ports=ports) as server:
        # The page comes back by itself (backoff of 1 s, then 2 s...) and logs in again with
        # the nickname it had, then goes back to its room (quietly: its reply is not shown).
        WebDriverWait(ana, 3 * WAIT).until(
            lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
        )
        wait_header(ana, "juegos")
        wait_users(ana, ["ana"])
        bob = server.tcp()
        tcp_login(bob, "bob")
        bob.say("/unirse juegos")
        assert bob.line() == "* Sala juegos (2): @ana, bob"
        wait_users(ana, ["ana", "bob"])
        bob.say("otra vez")
        shown(ana, "public", "otra vez", "bob")
        room_lines = [t for t in log_texts(ana, "notice") if t.startswith("Sala juegos")]
        assert room_lines == ["Sala juegos (1): @ana"]  # typed before the loss; not after


# -- rooms (protocol v1.1) ------------------------------------------------------------------


def rooms(driver: WebDriver) -> list[tuple[str, int, bool]]:
    """``#rooms``: (name, count, whether it is the current room) for each button, in order."""
    script = (
        "return [...document.querySelectorAll('#rooms > li > button')].map((b) => "
        "[b.dataset.room, b.querySelector('.count').textContent, b.classList.contains('current')]);"
    )
    found: list[list[str | bool]] = driver.execute_script(script)
    return [(str(name), int(str(count)), bool(current)) for name, count, current in found]


def wait_rooms(driver: WebDriver, expected: list[tuple[str, int, bool]]) -> None:
    """Wait until ``#rooms`` shows exactly ``expected``."""
    WebDriverWait(driver, WAIT).until(
        lambda d: rooms(d) == expected, f"#rooms is {rooms(driver)}, not {expected}"
    )


def header(driver: WebDriver) -> tuple[str, str]:
    """The text of ``#room-name`` and ``#room-topic``."""
    script = (
        "return [document.getElementById('room-name').textContent, "
        "document.getElementById('room-topic').textContent];"
    )
    name, topic = driver.execute_script(script)
    return str(name), str(topic)


def wait_header(driver: WebDriver, name: str, topic: str = "") -> None:
    """Wait until the header shows the room ``name`` and the topic ``topic``."""
    WebDriverWait(driver, WAIT).until(
        lambda d: header(d) == (name, topic), f"the header is {header(driver)}"
    )


def operators(driver: WebDriver) -> list[str]:
    """The nicknames marked as the room's operator in ``#users``."""
    script = "return [...document.querySelectorAll('#users .op')].map((e) => e.textContent);"
    names: list[str] = driver.execute_script(script)
    return names


def test_rooms_two_browsers_and_netcat_moving(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    topic = f"{XSS} ajedrez"
    with web_chat(tmp_path) as server:
        ana, bob = browsers(), browsers()
        log_in(ana, server, "ana")
        wait_header(ana, "general")
        wait_users(ana, ["ana"])
        wait_rooms(ana, [("general", 1, True)])
        log_in(bob, server, "bob")
        wait_users(ana, ["ana", "bob"])
        wait_rooms(ana, [("general", 2, True)])

        # Typed /unirse: bob creates juegos (and is its operator), ana sees him leave.
        type_line(bob, "/unirse juegos")
        shown(bob, "notice", "Sala juegos (1): @bob")
        wait_header(bob, "juegos")
        wait_users(bob, ["bob"])
        assert operators(bob) == ["bob"]
        wait_rooms(bob, [("general", 1, False), ("juegos", 1, True)])
        shown(ana, "notice", "bob ha salido de la sala general (sigue en el chat).")
        wait_users(ana, ["ana"])
        wait_rooms(ana, [("general", 1, True), ("juegos", 1, False)])

        # The topic is in bob's header, as text.
        type_line(bob, f"/tema {topic}")
        shown(bob, "notice", f"bob ha cambiado el tema: {topic}")
        wait_header(bob, "juegos", topic)

        # carol (netcat) logs in to general: only ana hears of it.
        carol = server.tcp()
        tcp_login(carol, "carol")
        shown(ana, "notice", "carol se ha unido al chat.")
        wait_users(ana, ["ana", "carol"])
        wait_rooms(ana, [("general", 2, True), ("juegos", 1, False)])
        carol.say("hola general")
        shown(ana, "public", "hola general", "carol")

        # carol moves to juegos: both lists and both pages' counts follow.
        carol.say("/unirse juegos")
        assert carol.line() == "* Sala juegos (2): @bob, carol"
        assert carol.line() == f"* Tema: {topic}"
        shown(bob, "notice", "carol ha entrado en la sala juegos.")
        shown(ana, "notice", "carol ha salido de la sala general (sigue en el chat).")
        wait_users(bob, ["bob", "carol"])
        wait_users(ana, ["ana"])
        for driver, current in ((ana, "general"), (bob, "juegos")):
            wait_rooms(
                driver,
                [("general", 1, current == "general"), ("juegos", 2, current == "juegos")],
            )
        carol.say("hola juegos")
        shown(bob, "public", "hola juegos", "carol")
        type_line(bob, "para juegos")
        assert carol.line() == "<bob> para juegos"

        # ... and back to general: a public message reaches only the room's members.
        carol.say("/unirse general")
        assert carol.line() == "* Sala general (2): ana, carol"
        replayed = STORED.fullmatch(carol.line())  # the room's history
        assert replayed is not None and replayed.group(1) == "<carol> hola general"
        shown(bob, "notice", "carol ha salido de la sala juegos (sigue en el chat).")
        shown(ana, "notice", "carol ha entrado en la sala general.")
        carol.say("de vuelta")
        shown(ana, "public", "de vuelta", "carol")
        wait_users(ana, ["ana", "carol"])
        wait_users(bob, ["bob"])
        barrier(bob, "bob")
        assert "hola juegos" not in log_texts(ana, "public")
        assert "para juegos" not in log_texts(ana, "public")
        assert "hola general" not in log_texts(bob, "public")
        assert "de vuelta" not in log_texts(bob, "public")

        # Click to join: ana goes to juegos, sees its topic, its members and its operator.
        wait_rooms(ana, [("general", 2, True), ("juegos", 1, False)])
        ana.find_element(By.CSS_SELECTOR, "#rooms button[data-room='juegos']").click()
        shown(ana, "notice", "Sala juegos (2): ana, @bob")
        shown(ana, "notice", f"Tema: {topic}")
        wait_header(ana, "juegos", topic)
        wait_users(ana, ["ana", "bob"])
        assert operators(ana) == ["bob"]
        assert carol.line() == "* ana ha salido de la sala general (sigue en el chat)."
        shown(bob, "notice", "ana ha entrado en la sala juegos.")
        wait_users(bob, ["ana", "bob"])
        for driver in (ana, bob):
            wait_rooms(driver, [("general", 1, False), ("juegos", 2, True)])
        type_line(ana, "en juegos")
        shown(bob, "public", "en juegos", "ana")
        carol.say("/username")
        assert carol.line() == "* Tu nickname es carol."  # nothing of ana's came before

        # The page's own requests (/sala at login, /salas after every room notice) were
        # answered out of sight; the same commands typed show their replies, once.
        for driver in (ana, bob):
            notices = log_texts(driver, "notice")
            assert [t for t in notices if t.startswith("Salas (")] == []
            assert [t for t in notices if t.startswith("Sala general (")] == []
        type_line(ana, "/salas")
        shown(ana, "notice", "Salas (2): general (1), juegos (2)")
        type_line(ana, "/unirse general")
        shown(ana, "notice", "Sala general (2): ana, carol")
        wait_header(ana, "general")
        wait_users(ana, ["ana", "carol"])
        assert carol.line() == "* ana ha entrado en la sala general."
        type_line(ana, "/sala")
        shown(ana, "notice", "La sala general no tiene tema.")
        barrier(ana, "ana")
        notices = log_texts(ana, "notice")
        assert [t for t in notices if t.startswith("Salas (")] == [
            "Salas (2): general (1), juegos (2)"
        ]
        assert [t for t in notices if t.startswith("Sala general (")] == [
            "Sala general (2): ana, carol",
            "Sala general (2): ana, carol",
        ]
        assert notices.count("La sala general no tiene tema.") == 1

        # A refused /unirse shows its error and leaves the page where it was.
        type_line(ana, "/unirse mala sala")
        shown(ana, "error", NOT_A_ROOM)
        wait_header(ana, "general")

        for driver in (ana, bob):
            assert driver.find_elements(By.CSS_SELECTOR, "img") == []
            with pytest.raises(NoAlertPresentException):
                driver.switch_to.alert.text  # noqa: B018  # raises when there is no alert
            assert severe_console_entries(driver) == []
        screenshot = tmp_path / "web-rooms.png"
        assert bob.save_screenshot(str(screenshot))
        keep = os.environ.get("CHAT_ROOMS_SCREENSHOT")
        if keep:
            shutil.copy(screenshot, keep)


NOT_A_ROOM = (
    "Nombre de sala no válido: mala sala (de 1 a 32 letras, dígitos, _ o -, empezando por "
    "una letra o un dígito)"
)


def test_rooms_in_english(browsers: Callable[[], WebDriver], tmp_path: Path) -> None:
    with web_chat(tmp_path, "--lang", "en") as server:
        ana = browsers()
        ana.get(server.url)
        shown(ana, "notice", "Welcome to twisted-chat. Choose a nickname:")
        WebDriverWait(ana, WAIT).until(
            lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
        )
        type_line(ana, "ana")
        shown(ana, "notice", "Welcome, ana. Type /help for the list of commands.")
        wait_header(ana, "general")
        wait_rooms(ana, [("general", 1, True)])
        type_line(ana, "/join juegos")
        shown(ana, "notice", "Room juegos (1): @ana")
        type_line(ana, "/topic hello")
        shown(ana, "notice", "ana set the topic: hello")
        wait_header(ana, "juegos", "hello")
        bob = server.tcp()
        assert bob.line() == "* Welcome to twisted-chat. Choose a nickname:"
        bob.say("bob")
        assert bob.line() == "* Welcome, bob. Type /help for the list of commands."
        assert bob.line() == "* Public messages are kept for 30 days; /forget erases yours."
        assert bob.line() == "* This is your first connection."
        bob.say("/join juegos")
        assert bob.line() == "* Room juegos (2): @ana, bob"
        assert bob.line() == "* Topic: hello"
        shown(ana, "notice", "bob joined the room juegos.")
        wait_users(ana, ["ana", "bob"])
        assert operators(ana) == ["ana"]
        wait_rooms(ana, [("general", 0, False), ("juegos", 2, True)])
        bob.say("/join general")
        assert bob.line() == "* Room general (1): bob"
        shown(ana, "notice", "bob left the room juegos (still in the chat).")
        wait_users(ana, ["ana"])
        wait_rooms(ana, [("general", 1, False), ("juegos", 1, True)])
        assert [t for t in log_texts(ana, "notice") if t.startswith("Room")] == [
            "Room juegos (1): @ana"
        ]
        assert severe_console_entries(ana) == []


def test_rooms_after_the_language_changes(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('lang = "es"\n')
    with web_chat(tmp_path, "--config", str(config)) as server:
        ana = browsers()
        log_in(ana, server, "ana")  # a page in Spanish
        wait_header(ana, "general")
        bob = server.tcp()
        tcp_login(bob, "bob")
        wait_users(ana, ["ana", "bob"])
        config.write_text('lang = "en"\n')
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while True:  # until the server speaks English (bounded)
            bob.say("/username")
            if bob.line() == "* Your nickname is bob.":
                break
            assert time.monotonic() < deadline, "the server did not switch to English"
            time.sleep(0.1)
        # The page still reads what the server says, now in English. (A click on the current
        # room sends nothing: no room line before the one below.)
        ana.find_element(By.CSS_SELECTOR, "#rooms button[data-room='general']").click()
        type_line(ana, "/join juegos")
        shown(ana, "notice", "Room juegos (1): @ana")
        wait_header(ana, "juegos")
        assert bob.line() == "* ana left the room general (still in the chat)."
        bob.say("/join juegos")
        assert bob.line() == "* Room juegos (2): @ana, bob"
        shown(ana, "notice", "bob joined the room juegos.")
        wait_users(ana, ["ana", "bob"])
        wait_rooms(ana, [("general", 0, False), ("juegos", 2, True)])
        bob.say("/topic hola")
        assert (
            bob.line()
            == "! Only the room's operator (juegos) or a server operator may set the topic."
        )
        type_line(ana, "/topic hello")
        shown(ana, "notice", "ana set the topic: hello")
        wait_header(ana, "juegos", "hello")
        assert [t for t in log_texts(ana, "notice") if t.startswith(("Sala", "Room"))] == [
            "Room juegos (1): @ana"
        ]
        assert severe_console_entries(ana) == []


# -- history and recados (protocol v1.1, issue 15) ------------------------------------------

#: Run before the page's own script: a WebSocket that a test drives itself. ``__server(line)``
#: delivers a server line to the page; ``__sent`` holds what the page sent.
SCRIPTED_WEBSOCKET = """
(() => {
  window.__sent = [];
  class ScriptedSocket extends EventTarget {
    constructor(url) {
      super();
      this.readyState = 0;
      window.__server = (line) => this.dispatchEvent(new MessageEvent("message", {data: line}));
      setTimeout(() => { this.readyState = 1; this.dispatchEvent(new Event("open")); }, 0);
    }
    send(text) { window.__sent.push(text); }
    close() {}
  }
  ScriptedSocket.CONNECTING = 0;
  ScriptedSocket.OPEN = 1;
  ScriptedSocket.CLOSING = 2;
  ScriptedSocket.CLOSED = 3;
  window.WebSocket = ScriptedSocket;
})();
"""


def scripted_page(driver: WebDriver, server: WebChat) -> None:
    """Open the page with :data:`SCRIPTED_WEBSOCKET` in place of the real one."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SCRIPTED_WEBSOCKET})
    driver.get(server.url)
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
    )


def from_server(driver: WebDriver, *server_lines: str) -> None:
    """The scripted server sends these lines to the page."""
    for server_line in server_lines:
        driver.execute_script("window.__server(arguments[0]);", server_line)


def sent(driver: WebDriver) -> list[str]:
    """What the page sent to the scripted server."""
    texts: list[str] = driver.execute_script("return window.__sent;")
    return texts


def log_items(driver: WebDriver, selector: str = "#log > li") -> list[dict[str, str]]:
    """Each element matched: its classes, time (text, dateTime, title), nick and text."""
    script = """
      return [...document.querySelectorAll(arguments[0])].map((e) => {
        const part = (name) => {
          const p = e.querySelector('.' + name);
          return p ? p.textContent : null;
        };
        const time = e.querySelector('.time');
        return {cls: e.className, time: part('time'), iso: time.dateTime, title: time.title,
                nick: part('nick'), text: part('text')};
      });
    """
    items: list[dict[str, str]] = driver.execute_script(script, selector)
    return items


def displayed(driver: WebDriver, element_id: str) -> bool:
    """Whether the element is shown (not ``hidden``, laid out)."""
    return driver.find_element(By.ID, element_id).is_displayed()


def test_page_reads_stored_lines_and_hints(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    """The page's side alone (a scripted WebSocket serves the lines of docs/PROTOCOL.md 1.1):
    history dimmed, not live; the older-messages button; the search box; recados apart."""
    with web_chat(tmp_path) as server:
        ana = browsers()
        scripted_page(ana, server)
        assert not displayed(ana, "older") and not displayed(ana, "recados")
        assert displayed(ana, "search-text")
        from_server(ana, "* Bienvenido a twisted-chat. Elige un nickname:")
        type_line(ana, "ana secreto")
        from_server(
            ana,
            "* Bienvenido, ana. Escribe /ayuda para ver los comandos.",
            "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos.",
            "* [2026-12-06T03:34:47Z] <bob> hola",
            f"* [2026-12-06T03:35:00Z] <carol> {XSS}",
            "* Hay 250 mensajes más desde que te fuiste: /historial 50 antes c_1-A",
            "* Tienes 2 recados:",
            "* [2026-12-05T10:00:00Z] *bob* ven mañana",
            "* [2026-12-05T11:00:00Z] *carol* <b>no</b>",
            "* Sala general (2): ana, bob",  # the reply to the page's own /sala: not shown
            "* La sala general no tiene tema.",
            "<bob> en vivo",
        )
        assert sent(ana)[:2] == ["ana secreto", "/sala"]
        shown(ana, "public", "en vivo", "bob")
        history = log_items(ana, "#log > li.history")
        assert [(h["nick"], h["text"]) for h in history] == [("bob", "hola"), ("carol", XSS)]
        assert [h["iso"] for h in history] == ["2026-12-06T03:34:47Z", "2026-12-06T03:35:00Z"]
        assert [h["title"] for h in history] == [h["iso"] for h in history]
        assert all(h["time"].count(":") == 2 for h in history)
        assert [p["text"] for p in log_items(ana, "#log > li.public")] == ["en vivo"]
        assert ana.find_elements(By.CSS_SELECTOR, "#log img, #recados img, #log b") == []
        opacity = ana.execute_script(
            "return getComputedStyle(document.querySelector('#log > li.history')).opacity;"
        )
        assert float(opacity) < 1

        # Recados: in the log with their own class, and in the #recados panel.
        recados = [(r["nick"], r["text"]) for r in log_items(ana, "#log > li.recado")]
        assert recados == [("bob", "ven mañana"), ("carol", "<b>no</b>")]
        assert displayed(ana, "recados")
        assert ana.find_element(By.ID, "recados-title").text == "Tienes 2 recados:"
        panel = log_items(ana, "#recados-list > li.recado")
        assert [(r["nick"], r["text"], r["iso"]) for r in panel] == [
            ("bob", "ven mañana", "2026-12-05T10:00:00Z"),
            ("carol", "<b>no</b>", "2026-12-05T11:00:00Z"),
        ]
        ana.find_element(By.ID, "recados-close").click()
        assert not displayed(ana, "recados")
        from_server(ana, "* [2026-12-06T12:00:00Z] *bob* otro más")  # delivered live
        assert displayed(ana, "recados")
        assert [r["text"] for r in log_items(ana, "#recados-list > li")] == ["otro más"]

        assert ana.save_screenshot(str(tmp_path / "history-and-recados.png"))

        # The older-messages button sends the hint's command exactly, once.
        assert displayed(ana, "older")
        before = len(sent(ana))
        ana.find_element(By.ID, "older").click()
        assert sent(ana)[before:] == ["/historial 50 antes c_1-A"]
        assert not displayed(ana, "older")
        from_server(
            ana,
            "* Últimos 1 mensajes de general:",
            "* [2026-12-06T03:30:00Z] <bob> antes",
            "* Mensajes anteriores: /historial 50 antes Zz9",
        )
        assert displayed(ana, "older")
        ana.find_element(By.ID, "older").click()
        assert sent(ana)[-1] == "/historial 50 antes Zz9"
        # In English too; a line that only looks like a hint offers nothing.
        from_server(ana, "* Older messages: /history 7 before abc")
        ana.find_element(By.ID, "older").click()
        assert sent(ana)[-1] == "/history 7 before abc"
        from_server(ana, "* 9 more messages since you left: /history 50 before q")
        ana.find_element(By.ID, "older").click()
        assert sent(ana)[-1] == "/history 50 before q"
        from_server(
            ana,
            "<eve> Mensajes anteriores: /historial 50 antes x",
            "* Mensajes anteriores: /olvidar confirmar",
        )
        assert not displayed(ana, "older")

        # The search box.
        search = ana.find_element(By.ID, "search-text")
        search.send_keys("  hola mundo ", Keys.ENTER)
        assert sent(ana)[-1] == "/buscar hola mundo"
        assert ana.find_element(By.ID, "line").get_attribute("value") == ""

        # Moving to another room forgets the cursor of the one left.
        from_server(ana, "* Mensajes anteriores: /historial 50 antes Zz9")
        assert displayed(ana, "older")
        from_server(ana, "* Sala juegos (1): @ana", "* La sala juegos no tiene tema.")
        WebDriverWait(ana, WAIT).until(lambda d: not displayed(d, "older"))
        assert severe_console_entries(ana) == []


# The same against the real server (its history core: /historial, /buscar, /recado).


def tcp_until(client: LineSocket, expected: str) -> list[str]:
    """Read lines of ``client`` up to and including ``expected`` (at most 300 lines); return
    those read before it."""
    before: list[str] = []
    for _ in range(300):
        got = client.line()
        if got == expected:
            return before
        before.append(got)
    raise AssertionError(f"no {expected!r} in {before}")


def history_texts(driver: WebDriver) -> list[str]:
    """The ``.text`` of every ``#log`` history line, in order."""
    return log_texts(driver, "history")


def wait_history(driver: WebDriver, expected: list[str]) -> None:
    """Wait until the ``#log`` history lines are exactly ``expected``."""
    WebDriverWait(driver, WAIT).until(
        lambda d: history_texts(d) == expected,
        f"the history lines are {history_texts(driver)}, not {expected}",
    )


WORDS = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]


def test_history_dimmed_older_button_and_search(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    with web_chat(tmp_path, "--history-days", "30") as server:
        carol = server.tcp()
        tcp_login(carol, "carol")
        for word in WORDS:
            carol.say(f"mensaje {word}")
        carol.say("/username")
        tcp_until(carol, "* Tu nickname es carol.")
        ana = browsers()
        log_in(ana, server, "ana")

        # The replay at login: the stored lines, dimmed, with their time; none live.
        replayed = [f"mensaje {word}" for word in WORDS]
        wait_history(ana, replayed)
        assert log_texts(ana, "public") == []
        for item in log_items(ana, "#log > li.history"):
            assert item["nick"] == "carol"
            assert item["title"] == item["iso"] and item["iso"].endswith("Z")
        opacity = ana.execute_script(
            "return getComputedStyle(document.querySelector('#log > li.history')).opacity;"
        )
        assert float(opacity) < 1
        assert not displayed(ana, "older")

        # /historial 2: the last two, and the button for the two before them.
        type_line(ana, "/historial 2")
        wait_history(ana, [*replayed, "mensaje cinco", "mensaje seis"])
        WebDriverWait(ana, WAIT).until(lambda d: displayed(d, "older"))
        hint = [t for t in log_texts(ana, "notice") if t.startswith("Mensajes anteriores: ")]
        assert len(hint) == 1 and hint[0].startswith("Mensajes anteriores: /historial 2 antes ")
        ana.find_element(By.ID, "older").click()
        wait_history(
            ana, [*replayed, "mensaje cinco", "mensaje seis", "mensaje tres", "mensaje cuatro"]
        )
        ana.find_element(By.ID, "older").click()
        wait_history(
            ana,
            [
                *replayed,
                *["mensaje cinco", "mensaje seis", "mensaje tres", "mensaje cuatro"],
                *["mensaje uno", "mensaje dos"],
            ],
        )
        # The first message reached: no older ones, no button.
        barrier(ana, "ana")
        assert not displayed(ana, "older")

        # The search box.
        search = ana.find_element(By.ID, "search-text")
        search.send_keys("cuatro", Keys.ENTER)
        WebDriverWait(ana, WAIT).until(
            lambda d: history_texts(d)[-1:] == ["mensaje cuatro"] and len(history_texts(d)) == 13
        )

        # Live messages are still live.
        carol.say("ahora en vivo")
        shown(ana, "public", "ahora en vivo", "carol")
        assert len(history_texts(ana)) == 13
        assert severe_console_entries(ana) == []


def register(server: WebChat, nick: str, password: str) -> None:
    """Register ``nick`` with ``password`` over the line port, and leave."""
    client = server.tcp()
    tcp_login(client, nick)
    client.say(f"/registrar {password}")
    tcp_until(
        client, f"* Nickname {nick} registrado: a partir de ahora entra con {nick} CONTRASEÑA."
    )
    client.say("/salir")
    client.rest()


def test_recados_apart(browsers: Callable[[], WebDriver], tmp_path: Path) -> None:
    with web_chat(tmp_path) as server:
        register(server, "bob", "secreto1")
        register(server, "ana", "secreto2")
        ana = server.tcp()
        assert ana.line() == PROMPT
        ana.say("ana secreto2")
        assert ana.line() == welcome("ana")
        ana.say("/recado bob ven mañana <b>ya</b>")
        tcp_until(ana, "* Recado guardado para bob; lo recibirá al entrar.")

        # bob logs in on the page with his password: the recado is there, apart.
        bob = browsers()
        bob.get(server.url)
        shown(bob, "notice", "Bienvenido a twisted-chat. Elige un nickname:")
        WebDriverWait(bob, WAIT).until(
            lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
        )
        type_line(bob, "bob secreto1")
        shown(bob, "notice", "Bienvenido, bob. Escribe /ayuda para ver los comandos.")
        WebDriverWait(bob, WAIT).until(lambda d: displayed(d, "recados"))
        WebDriverWait(bob, WAIT).until(lambda d: len(log_items(d, "#recados-list > li")) == 1)
        [recado] = log_items(bob, "#recados-list > li")
        assert (recado["nick"], recado["text"]) == ("ana", "ven mañana <b>ya</b>")
        assert recado["title"] == recado["iso"] and recado["iso"].endswith("Z")
        assert "recado" in recado["cls"].split()
        assert bob.find_element(By.ID, "recados-title").text == "Tienes un recado:"
        assert [(r["nick"], r["text"]) for r in log_items(bob, "#log > li.recado")] == [
            ("ana", "ven mañana <b>ya</b>")
        ]
        assert log_texts(bob, "private") == [] and log_texts(bob, "history") == []
        assert bob.find_elements(By.CSS_SELECTOR, "#recados b, #log b") == []
        tcp_until(ana, "* bob ha recibido tu recado.")

        # A recado to a connected user arrives at once, into the panel too.
        bob.find_element(By.ID, "recados-close").click()
        assert not displayed(bob, "recados")
        ana.say("/recado bob otra cosa")
        tcp_until(ana, "* Recado entregado a bob.")
        WebDriverWait(bob, WAIT).until(lambda d: displayed(d, "recados"))
        assert [(r["nick"], r["text"]) for r in log_items(bob, "#recados-list > li")] == [
            ("ana", "otra cosa")
        ]
        assert severe_console_entries(bob) == []


def test_since_you_left_and_the_older_button(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    """A registered user back with a password gets the last 100 messages said since they left,
    and the button for the rest."""
    with web_chat(tmp_path, "--flood-rate", "0") as server:
        register(server, "bob", "secreto1")
        bob_tcp = server.tcp()
        assert bob_tcp.line() == PROMPT
        bob_tcp.say("bob secreto1")
        assert bob_tcp.line() == welcome("bob")
        bob_tcp.say("/salir")
        bob_tcp.rest()
        time.sleep(0.05)  # the messages below are said after bob left (milliseconds)
        carol = server.tcp()
        tcp_login(carol, "carol")
        for n in range(105):
            carol.say(f"mensaje {n}")
        carol.say("/username")
        tcp_until(carol, "* Tu nickname es carol.")

        bob = browsers()
        bob.get(server.url)
        shown(bob, "notice", "Bienvenido a twisted-chat. Elige un nickname:")
        WebDriverWait(bob, WAIT).until(
            lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
        )
        type_line(bob, "bob secreto1")
        shown(bob, "notice", "Bienvenido, bob. Escribe /ayuda para ver los comandos.")
        wait_history(bob, [f"mensaje {n}" for n in range(5, 105)])
        hint = [t for t in log_texts(bob, "notice") if "desde que te fuiste" in t]
        assert len(hint) == 1 and hint[0].startswith(
            "Hay 5 mensajes más desde que te fuiste: /historial 50 antes "
        ), hint
        WebDriverWait(bob, WAIT).until(lambda d: displayed(d, "older"))
        bob.find_element(By.ID, "older").click()
        wait_history(bob, [f"mensaje {n}" for n in (*range(5, 105), *range(5))])
        barrier(bob, "bob")
        assert not displayed(bob, "older")
        assert log_texts(bob, "public") == []
        assert severe_console_entries(bob) == []


def test_nickname_changes_follow_in_the_member_list(
    browsers: Callable[[], WebDriver], tmp_path: Path
) -> None:
    """``/nick`` (issue 16): the renamer's own nickname, ``#users`` of its room and the room's
    operator follow, on the renamer's page and on the others'; a netcat user's change too."""
    with web_chat(tmp_path) as server:
        ana, bob = browsers(), browsers()
        log_in(ana, server, "ana")
        log_in(bob, server, "bob")
        carol = server.tcp()
        tcp_login(carol, "carol")
        for driver in (ana, bob):
            wait_users(driver, ["ana", "bob", "carol"])
        type_line(ana, "/nick Anita")
        for driver in (ana, bob):
            shown(driver, "notice", "ana ahora se llama Anita.")
            wait_users(driver, ["Anita", "bob", "carol"])
        assert carol.line() == "* ana ahora se llama Anita."
        assert ana.find_element(By.CSS_SELECTOR, "#users .me").text == "Anita"
        carol.say("/nick Carola")
        assert carol.line() == "* carol ahora se llama Carola."
        for driver in (ana, bob):
            wait_users(driver, ["Anita", "bob", "Carola"])
        # a room of ana's own: she is its operator, under her new name too
        type_line(ana, "/unirse club")
        type_line(bob, "/unirse club")
        wait_users(bob, ["Anita", "bob"])
        assert bob.find_element(By.CSS_SELECTOR, "#users .op").text == "Anita"
        type_line(ana, "/nick ana")  # too soon: refused, nothing changes
        too_soon = re.compile(r"Como mucho un cambio de nickname cada 10 s: espera \d+ s más\.")
        WebDriverWait(ana, WAIT).until(
            lambda d: any(
                too_soon.fullmatch(item.find_element(By.CLASS_NAME, "text").text)
                for item in lines(d, "error")
            ),
            "no error line saying the change is too soon",
        )
        assert ana.find_element(By.CSS_SELECTOR, "#users .me").text == "Anita"
        for driver in (ana, bob):
            assert severe_console_entries(driver) == []
