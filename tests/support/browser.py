"""A real browser for the end-to-end tests: Debian's ``chromium`` driven by Selenium through
Debian's ``chromedriver`` (``scripts/system-deps`` installs both; nothing is downloaded at
test time), headless, each with an empty profile of its own; and the page's contract as the
tests read it (the ids and classes of ``chat.js``: ``#log > li.KIND`` with ``.nick`` and
``.text``, ``#users``, ``#line``, ``#status``).

The ``browsers`` fixture (``tests/e2e/conftest.py``) starts them with :func:`start_chromium`.
Every wait is bounded by :data:`WAIT`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The browser must work on a machine without internet: nothing in the background.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,650",
)
#: Longest wait for something to show on a page, in seconds.
WAIT = 10


class Page(Protocol):
    """Anything that serves the web client's page (a :class:`tests.support.webchat.WebChat`)."""

    @property
    def url(self) -> str:
        """The page's URL."""
        ...


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.exists() and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def start_chromium(profile: Path) -> WebDriver:
    """A new headless chromium with the empty profile directory ``profile`` (created here),
    its console logged (see :func:`severe_console_entries`). Set ``SE_OFFLINE=true`` first:
    Selenium Manager must never fetch anything."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile.mkdir()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(service=service, options=options)


def lines(driver: WebDriver, kind: str | None = None) -> list[WebElement]:
    """The children of ``#log`` (of one kind)."""
    selector = "#log > li" + (f".{kind}" if kind else "")
    return driver.find_elements(By.CSS_SELECTOR, selector)


def shown(driver: WebDriver, kind: str, text: str, nick: str | None = None) -> WebElement:
    """Wait until ``#log`` has a line of ``kind`` with this text (and nickname); return it."""

    def find(_: object) -> WebElement | bool:
        for item in lines(driver, kind):
            if item.find_element(By.CLASS_NAME, "text").text != text:
                continue
            nicks = item.find_elements(By.CLASS_NAME, "nick")
            if nick is None or (nicks and nicks[0].text == nick):
                return item
        return False

    try:
        found = WebDriverWait(driver, WAIT).until(find)
    except TimeoutException:
        log = [item.text for item in lines(driver)]
        raise AssertionError(f"no {kind} line {text!r} from {nick}; the log: {log}") from None
    assert isinstance(found, WebElement)
    return found


def users(driver: WebDriver) -> list[str]:
    """The nicknames in ``#users``, in order."""
    # Read in one go: the list is re-rendered on every change (elements go stale).
    script = "return [...document.querySelectorAll('#users > li')].map((e) => e.textContent);"
    names: list[str] = driver.execute_script(script)
    return names


def wait_users(driver: WebDriver, expected: list[str]) -> None:
    """Wait until ``#users`` shows exactly ``expected``."""
    WebDriverWait(driver, WAIT).until(
        lambda d: users(d) == expected, f"#users is {users(driver)}, not {expected}"
    )


def type_line(driver: WebDriver, text: str) -> None:
    """Type ``text`` in ``#line`` and press Enter."""
    line = driver.find_element(By.ID, "line")
    line.send_keys(text)
    line.send_keys(Keys.ENTER)


def log_in(driver: WebDriver, server: Page, nick: str) -> None:
    """Open the page, answer the nickname prompt (shown as a notice) in ``#line``."""
    driver.get(server.url)
    shown(driver, "notice", "Bienvenido a twisted-chat. Elige un nickname:")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("class") == "state-open"
    )
    type_line(driver, nick)
    shown(driver, "notice", f"Bienvenido, {nick}. Escribe /ayuda para ver los comandos.")


def severe_console_entries(driver: WebDriver) -> list[dict[str, object]]:
    """The console errors the page logged."""
    entries: list[dict[str, object]] = driver.get_log("browser")
    return [e for e in entries if e.get("level") == "SEVERE"]


def log_texts(driver: WebDriver, kind: str) -> list[str]:
    """The ``.text`` of every ``#log`` line of ``kind``, in one go."""
    script = (
        "return [...document.querySelectorAll('#log > li.' + arguments[0] + ' > .text')]"
        ".map((e) => e.textContent);"
    )
    texts: list[str] = driver.execute_script(script, kind)
    return texts


def log_entries(driver: WebDriver, kind: str) -> list[tuple[str, str]]:
    """``(nickname, text)`` of every ``#log`` line of ``kind`` (``textContent``, in one go;
    the nickname is empty on a line without one)."""
    script = (
        "return [...document.querySelectorAll('#log > li.' + arguments[0])].map((e) => "
        "[e.querySelector('.nick')?.textContent ?? '', e.querySelector('.text').textContent]);"
    )
    found: list[list[str]] = driver.execute_script(script, kind)
    return [(str(nick), str(text)) for nick, text in found]


def barrier(driver: WebDriver, nick: str) -> None:
    """Type ``/username`` and wait for its reply: every line the server sent this page before
    has been shown (or kept out of the log) by then."""
    before = log_texts(driver, "notice").count(f"Tu nickname es {nick}.")
    type_line(driver, "/username")
    WebDriverWait(driver, WAIT).until(
        lambda d: log_texts(d, "notice").count(f"Tu nickname es {nick}.") == before + 1
    )
