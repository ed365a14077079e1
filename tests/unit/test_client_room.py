"""Unit tests of the client's view of the user's room (twisted_chat.client.current_room): the
room lines it recognises in both languages, the answer to its own ``/sala`` that it hides, and
the prompt."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.client.current_room import (
    ROOM_QUERY,
    RoomTracker,
    is_topic_line,
    prompt_for,
    room_in,
)


class RoomLineTests(SynchronousTestCase):
    """Which server lines name the user's room."""

    def test_room_lines_in_both_languages(self) -> None:
        self.assertEqual(room_in("* Sala juegos (3): @ana, Bob, carol"), "juegos")
        self.assertEqual(room_in("* Room juegos (3): @ana, Bob, carol"), "juegos")
        self.assertEqual(room_in("* Sala General (1): ana"), "General")
        self.assertEqual(room_in("* Room a-b_1 (12): x"), "a-b_1")

    def test_other_lines(self) -> None:
        for line in (
            "* Salas (2): general (1), juegos (1)",  # /salas
            "* Rooms (2): general (1), juegos (1)",
            "* Sala ha entrado en la sala juegos.",  # a user called Sala
            "* Room joined the room juegos.",
            "* La sala juegos no tiene tema.",
            "* Tema: Sala x (1): y",
            "! Sala juegos (1): ana",
            "<ana> * Sala juegos (1): ana",
            "*Sala* juegos (1): ana",
            "* Sala juegos: ana",
            "* Sala  (1): ana",
            "",
        ):
            self.assertIsNone(room_in(line), line)

    def test_topic_lines(self) -> None:
        self.assertTrue(is_topic_line("* Tema: dados y cartas", "juegos"))
        self.assertTrue(is_topic_line("* Topic: dice", "juegos"))
        self.assertTrue(is_topic_line("* La sala juegos no tiene tema.", "juegos"))
        self.assertTrue(is_topic_line("* The room juegos has no topic.", "juegos"))
        self.assertFalse(is_topic_line("* La sala otra no tiene tema.", "juegos"))
        self.assertFalse(is_topic_line("<bob> * Tema: x", "juegos"))
        self.assertFalse(is_topic_line("* bob ha cambiado el tema: x", "juegos"))


class PromptTests(SynchronousTestCase):
    """The prompt keeps the client's ``> `` and puts the room and nickname before it."""

    def test_forms(self) -> None:
        self.assertEqual(prompt_for(None, None), "> ")
        self.assertEqual(prompt_for(None, "ana"), "ana> ")
        self.assertEqual(prompt_for("juegos", "ana"), "[juegos] ana> ")
        self.assertEqual(prompt_for("juegos", None), "[juegos]> ")

    def test_long_room_name_cut(self) -> None:
        self.assertEqual(prompt_for("x" * 500, "ana"), "[" + "x" * 32 + "…] ana> ")


class TrackerTests(SynchronousTestCase):
    """The room followed through a connection's lines."""

    def setUp(self) -> None:
        self.tracker = RoomTracker()

    def shown(self, *lines: str) -> list[str]:
        return [line for line in lines if self.tracker.shown(line)]

    def test_own_query_answer_hidden(self) -> None:
        self.assertFalse(self.tracker.asked)
        self.assertEqual(self.tracker.query(), ROOM_QUERY)
        self.assertTrue(self.tracker.asked)
        shown = self.shown(
            "* Es tu primera conexión.",
            "* bob se ha unido al chat.",
            "* Sala general (2): ana, bob",
            "* La sala general no tiene tema.",
            "<bob> hola",
        )
        self.assertEqual(
            shown, ["* Es tu primera conexión.", "* bob se ha unido al chat.", "<bob> hola"]
        )
        self.assertEqual(self.tracker.room, "general")

    def test_own_query_answer_with_a_topic(self) -> None:
        self.tracker.query()
        shown = self.shown("* Room general (1): ana", "* Topic: welcome", "* Topic: again")
        self.assertEqual(shown, ["* Topic: again"])  # only the answer's own topic line

    def test_only_the_first_answer_hidden(self) -> None:
        self.tracker.query()
        lines = ("* Sala general (1): ana", "* La sala general no tiene tema.")
        self.assertEqual(self.shown(*lines), [])
        self.assertEqual(self.shown(*lines), list(lines))  # the user's own /sala

    def test_every_room_line_moves(self) -> None:
        self.assertTrue(self.tracker.shown("* Sala juegos (1): @ana"))
        self.assertEqual(self.tracker.room, "juegos")
        self.assertTrue(self.tracker.shown("! No se pueden crear más salas (máximo 2)."))
        self.assertEqual(self.tracker.room, "juegos")
        self.assertTrue(self.tracker.shown("* Room Lobby (4): ana, b, c, d"))
        self.assertEqual(self.tracker.room, "Lobby")

    def test_server_without_rooms(self) -> None:
        self.tracker.query()
        shown = self.shown(
            "! Comando desconocido: /sala. Escribe /ayuda para ver los comandos.",
            "! Unknown command: /sala. Type /help for the list of commands.",
        )
        self.assertEqual(shown, ["! Unknown command: /sala. Type /help for the list of commands."])
        self.assertIsNone(self.tracker.room)

    def test_other_errors_shown_while_waiting(self) -> None:
        self.tracker.query()
        self.assertTrue(self.tracker.shown("! Únete a una de /salas."))
        self.assertTrue(self.tracker.shown("! Algo distinto."))
        self.assertFalse(self.tracker.shown("* Sala general (1): ana"))

    def test_reset(self) -> None:
        self.tracker.query()
        self.tracker.shown("* Sala general (1): ana")
        self.tracker.reset()
        self.assertIsNone(self.tracker.room)
        self.assertFalse(self.tracker.asked)
        self.assertTrue(self.tracker.shown("* La sala general no tiene tema."))
