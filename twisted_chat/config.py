"""``--config FILE``: the options of ``twistd chat`` read from a TOML file.

The file's keys are the long option names (``flood-rate = 10``, ``db = "mysql://..."``,
``port = ["tcp:1234", ...]`` for a repeatable option, ``operators = ["ana"]`` for
``--operator``). :func:`read_config` reads the file and checks each key and the type of each
value, and gives back the values as the command line would have given them (strings; a list of
strings for a repeatable option), so that the usual validation of
:class:`twisted_chat.service.Options` applies to both and a bad value gets the same usage error.
Options given on the command line win over the file.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.python.usage import UsageError

#: Keys that take a list of strings, and the command-line option each stands for.
REPEATABLE = {
    "port": "port",
    "exempt": "exempt",
    "operators": "operator",
    "web": "web",
    "web-origin": "web-origin",
}
#: Options that make no sense in the file.
NOT_IN_FILE = frozenset({"config"})


@dataclass(frozen=True)
class OptionKinds:
    """What the file may contain: string options, numeric ones, repeatable ones."""

    strings: frozenset[str]
    numbers: frozenset[str]
    repeatable: frozenset[str] = frozenset(REPEATABLE)

    @classmethod
    def from_parameters(cls, parameters: Collection[Collection[Any]]) -> OptionKinds:
        """Kinds from an ``optParameters`` table: an option whose default is a number is
        numeric (it also takes a TOML integer or float); every other one is a string."""
        strings: set[str] = set()
        numbers: set[str] = set()
        for name, _short, default, *_ in parameters:
            if name in NOT_IN_FILE:
                continue
            (numbers if _is_number(default) else strings).add(name)
        return cls(frozenset(strings), frozenset(numbers))

    def names(self) -> set[str]:
        """Every key the file may have."""
        return set(self.strings | self.numbers | self.repeatable)


def _is_number(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def config_error(path: str, key: str | None, message: str) -> UsageError:
    """The usage error for a problem with ``key`` (or the whole file) of ``path``."""
    where = f"{path}: {key!r}" if key is not None else path
    return UsageError(f"--config {where}: {message}")


def read_config(path: str, kinds: OptionKinds) -> dict[str, Any]:
    """The options set in the TOML file ``path``: ``{key: str or list[str]}``.

    Raises :class:`~twisted.python.usage.UsageError` naming the file (and the key) for a file
    that cannot be read or parsed, an unknown key, or a value of the wrong type.
    """
    try:
        with Path(path).open("rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise config_error(path, None, f"cannot read it ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise config_error(path, None, f"not valid TOML ({e})") from None
    return check_table(path, table, kinds)


def check_table(path: str, table: Mapping[str, Any], kinds: OptionKinds) -> dict[str, Any]:
    """Check the keys and types of a parsed file; see :func:`read_config`."""
    known = kinds.names()
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            if key in NOT_IN_FILE:
                message = "unknown key: not allowed in a configuration file"
            else:
                message = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            raise config_error(path, key, message)
        if key in kinds.repeatable:
            if not isinstance(value, list):
                raise _wrong_type(path, key, "a list of strings", value)
            for item in value:
                if not isinstance(item, str):
                    raise _wrong_type(path, key, "a list of strings", item, "an item is ")
            values[key] = list(value)
        elif key in kinds.numbers:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _wrong_type(path, key, "a number", value)
            values[key] = str(value)
        else:
            if not isinstance(value, str):
                raise _wrong_type(path, key, "a string", value)
            values[key] = value
    return values


def _wrong_type(path: str, key: str, wanted: str, value: object, what: str = "") -> UsageError:
    return config_error(
        path, key, f"wrong type: must be {wanted}, {what or 'not '}{_toml_type(value)}"
    )


def _toml_type(value: object) -> str:
    """The TOML name of ``value``'s type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"
