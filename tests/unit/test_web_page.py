"""The web client's page as the server serves it: the language in ``<html lang>`` and the
catalogue templates the script reads the server's lines with (every language's, in a JSON data
block that no script runs and nothing can break out of)."""

from __future__ import annotations

import json
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from twisted_chat.text import CATALOGUES, ENGLISH, SPANISH, Language
from twisted_chat.web.resources import (
    PAGE_TEXTS,
    TEXTS_PLACEHOLDER,
    Page,
    page_texts,
    static_text,
)


def get(page: Page) -> bytes:
    """The page's body for a GET of ``/``."""
    request: Any = DummyRequest([b""])
    body = page.render_GET(request)
    assert isinstance(body, bytes)
    return body


DATA_BLOCK = re.compile(r'<script id="texts" type="application/json">(.*?)</script>', re.DOTALL)


class PageTextsTests(SynchronousTestCase):
    """The templates the page gets."""

    def serve(self, language: Language) -> str:
        return get(Page(static_text("index.html"), language)).decode("utf-8")

    def texts(self, body: str) -> dict[str, dict[str, str]]:
        [data] = DATA_BLOCK.findall(body)
        texts: dict[str, dict[str, str]] = json.loads(data)
        return texts

    def test_every_language_whatever_the_servers(self) -> None:
        for catalogue in (SPANISH, ENGLISH):
            texts = self.texts(self.serve(Language(catalogue)))
            self.assertEqual(set(texts), set(CATALOGUES))
            for lang, entries in texts.items():
                self.assertEqual(set(entries), set(PAGE_TEXTS))
                for key, template in entries.items():
                    self.assertEqual(template, getattr(CATALOGUES[lang], key))

    def test_the_room_entries_are_there(self) -> None:
        for key in ("salas", "sala", "tema", "no_topic", "topic_set", "room_joined", "room_left"):
            self.assertIn(key, PAGE_TEXTS)
        for key in ("welcome", "joined", "left"):
            self.assertIn(key, PAGE_TEXTS)

    def test_the_history_entries_are_there(self) -> None:
        """The page finds the command for older messages, and the recados header, with these;
        they are the forms of docs/PROTOCOL.md 1.1."""
        texts = json.loads(page_texts())
        self.assertEqual(
            texts["es"]["history_more"], "Mensajes anteriores: /historial {n} antes {cursor}"
        )
        self.assertEqual(
            texts["en"]["history_missed"],
            "{count} more messages since you left: /history {n} before {cursor}",
        )
        self.assertEqual(texts["es"]["recados_header"], "Tienes {count} recados:")
        for entries in texts.values():
            for key in ("history_more", "history_missed"):
                self.assertIn(": /", entries[key])  # the command follows the last ": "

    def test_the_language_change_keeps_the_texts(self) -> None:
        language = Language(SPANISH)
        page = Page(static_text("index.html"), language)
        before = get(page)
        language.use(ENGLISH)
        after = get(page)
        self.assertIn(b'<html lang="en">', after)
        self.assertEqual(DATA_BLOCK.findall(before.decode()), DATA_BLOCK.findall(after.decode()))

    def test_nothing_in_the_data_closes_the_element(self) -> None:
        data = page_texts()
        for unsafe in ("<", ">", "&"):
            self.assertNotIn(unsafe, data)
        self.assertEqual(json.loads(data)["es"]["sala"], SPANISH.sala)

    def test_a_template_without_the_placeholder_is_refused(self) -> None:
        self.assertIn(TEXTS_PLACEHOLDER, static_text("index.html"))
        with self.assertRaises(ValueError):
            Page("<html></html>", Language(SPANISH))


class HistoryElementsTests(SynchronousTestCase):
    """The page's history and recados elements (issue 15), by their stable ids, within the
    Content-Security-Policy (no inline script or style, no handler attributes)."""

    def test_stable_ids(self) -> None:
        body = get(Page(static_text("index.html"), Language(SPANISH))).decode("utf-8")
        for element in (
            '<button id="older" type="button" hidden>',
            '<form id="search"',
            '<input id="search-text"',
            '<button id="search-button" type="submit">',
            '<section id="recados" hidden',
            '<ol id="recados-list">',
            '<h2 id="recados-title">',
            '<button id="recados-close" type="button">',
            '<ol id="log"',
        ):
            self.assertIn(element, body)
        script = static_text("chat.js")
        for name in ("older", "search", "search-text", "recados", "recados-list", "recados-title"):
            self.assertIn(f'getElementById("{name}")', script)

    def test_nothing_the_policy_forbids(self) -> None:
        page = static_text("index.html")
        self.assertNotIn("style=", page)
        self.assertIsNone(re.search(r"\son\w+=", page))
        self.assertEqual(re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", page), [])

    def test_text_goes_in_as_text(self) -> None:
        script = static_text("chat.js")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            self.assertNotIn(sink, script)
