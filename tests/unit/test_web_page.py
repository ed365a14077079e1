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
