"""Reading and validating the YAML files `derive` is given, with one-line errors.

YAML is read safely (:func:`read_yaml`: no tags that build Python objects) and the
mapping is converted by msgspec into frozen :class:`Record` structs, whose types refuse
unknown keys, wrong types and out-of-range numbers. msgspec stops at the first error;
:func:`convert` turns it into a :class:`~derive.errors.ProblemError` naming the file,
the field path (``layers[1].weights``) and what was expected, with the value found.

msgspec rather than pydantic: the same declarative records, but it imports in a few
milliseconds instead of a tenth of a second, which is most of what a small
``derive solve`` costs beyond SymPy.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from .errors import ProblemError

Positive = Annotated[float, msgspec.Meta(gt=0)]
Digits = Annotated[int, msgspec.Meta(ge=1, le=15)]


class Record(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A validated, immutable record of a file's fields; unknown keys are refused."""


# --- YAML ------------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-4`` as a number (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file, read safely.

    Raises:
        ProblemError: the file cannot be read, is not UTF-8 or is not YAML.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError(source, "", f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProblemError(source, "", "expected a UTF-8 text file") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProblemError(source, "", f"not valid YAML at {where}: {problem}") from None


# --- conversion ------------------------------------------------------------------------------

def convert(data: Any, model: type[Record], source: str, *,
            given: Mapping[str, Any] | None = None) -> Any:
    """``data`` (a mapping) as a ``model`` record.

    Args:
        given: fields that the program sets and the file may not (e.g. ``source``).

    Raises:
        ProblemError: naming ``source``, the first offending field and what was expected.
    """
    if not isinstance(data, Mapping):
        raise ProblemError(source, "", "expected a mapping of fields at the top level")
    data = _plain(data)
    given = given or {}
    allowed = [name for name in model.__struct_fields__ if name not in given]
    for key in data:
        if key in given:
            raise ProblemError(source, str(key),
                               f"unknown key; expected one of: {', '.join(sorted(allowed))}")
    found = _non_finite(data, ())
    if found is not None:
        path, value = found
        raise ProblemError(source, field_path(path), f"expected a finite number, got {value!r}")
    try:
        return msgspec.convert({**data, **given}, model)
    except msgspec.ValidationError as exc:
        path, message = _explain(str(exc), data, model, hidden=set(given))
        raise ProblemError(source, field_path(path), message) from None


def field_path(path: tuple[str | int, ...]) -> str:
    """``("layers", 1, "weights")`` as ``layers[1].weights``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(data: Any) -> Any:
    """Data from a script as the plain types YAML gives: NumPy arrays and numbers
    (anything with ``tolist()``), tuples, and subclasses or other kinds of int, float
    and str (``numpy.float64``, ``Fraction``) become lists, int, float and str."""
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(value) for value in data]
    if data is None or type(data) in (bool, int, float, str):
        return data
    if hasattr(data, "tolist"):  # NumPy arrays and scalars
        return _plain(data.tolist())
    if isinstance(data, str):
        return str(data)
    if isinstance(data, numbers.Integral):
        return int(data)
    if isinstance(data, numbers.Real):
        return float(data)
    return data


def _non_finite(data: Any, path: tuple) -> tuple[tuple, float] | None:
    # No field takes an infinite number or NaN; YAML writes them .inf and .nan.
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items = (data.items() if isinstance(data, Mapping)
             else enumerate(data) if isinstance(data, (list, tuple)) else ())
    for key, value in items:
        found = _non_finite(value, (*path, key))
        if found is not None:
            return found
    return None


# --- msgspec's messages in the words of the rest of derive -----------------------------------

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.(\w+)|\[(\d+|\.\.\.)\]")  # [...]: some key of a mapping
_KEYS = re.compile(r"^Expected `str` - at `key` in `\$(?P<path>[^`]*)`$")
_TYPE = re.compile(r"^Expected `(?P<type>[^`]+)`, got `(?P<got>[^`]+)`$")
_BOUND = re.compile(r"^Expected `(?P<type>[^`]+)` (?P<op>[<>]=?) (?P<bound>\S+)$")
_LENGTH = re.compile(r"^Expected `(?P<type>[^`]+)` of length (?P<op>[<>]=?) (?P<bound>\d+)$")
_NAMED = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<name>[^`]+)`$")

_NOUNS = {"float": "a number", "int": "a whole number", "str": "text", "bool": "a boolean",
          "array": "a list", "object": "a mapping", "null": "nothing",
          "decimal": "a number", "date": "a date"}
_COMPARE = {">": "greater than", ">=": "greater than or equal to", "<": "less than",
            "<=": "less than or equal to"}
_COUNT = {">": "more than", ">=": "at least", "<": "fewer than", "<=": "at most"}


def _explain(text: str, data: Any, model: type, hidden: set[str]) -> tuple[tuple, str]:
    """The field path and the message of a msgspec validation error."""
    if keys := _KEYS.match(text):
        path = _path(keys["path"])
        mapping = _value_at(data, path)
        bad = next((key for key in mapping if not isinstance(key, str)), None) \
            if isinstance(mapping, Mapping) else None
        return path, f"expected names (text) as keys, got {bad!r}"
    match = _AT.match(text)
    message = match["message"]
    path = _path(match["path"] or "")
    typed = _TYPE.match(message)
    if ... in path:  # msgspec does not say which key of a mapping: the first whose value is
        path = _which_key(data, path, typed["got"] if typed else None)  # of the type found
    if named := _NAMED.match(message):
        path = (*path, named["name"])
        if named["what"] == "missing required":
            return path, "required field is missing"
        allowed = sorted(set(_keys(_type_at(model, path[:-1]))) - (hidden if len(path) == 1
                                                                      else set()))
        return path, f"unknown key; expected one of: {', '.join(allowed)}"
    got = _value_at(data, path)
    choices = _literals(_type_at(model, path))
    if message.startswith("Invalid enum value") or (typed and choices):
        return path, f"expected {_either([repr(c) for c in choices])}, got {got!r}"
    if typed:
        return path, f"expected {_noun(typed['type'])}, got {_describe(got)}"
    if bound := _BOUND.match(message):
        return path, (f"expected {_noun(bound['type'])} {_COMPARE[bound['op']]} "
                      f"{_number(bound['bound'])}, got {got!r}")
    if length := _LENGTH.match(message):
        size = len(got) if isinstance(got, (list, tuple, dict)) else "?"
        one, many = ("entry", "entries") if length["type"] == "object" else ("item", "items")
        items = one if length["bound"] == "1" else many
        return path, (f"expected {_noun(length['type'])} of {_COUNT[length['op']]} "
                      f"{length['bound']} {items}, got {size}")
    return path, message[0].lower() + message[1:]  # a record's own check: already worded


def _path(text: str) -> tuple:
    """msgspec's ``.layers[0].weights`` as ``("layers", 0, "weights")``."""
    return tuple(name or (... if index == "..." else int(index))
                 for name, index in _STEP.findall(text))


def _which_key(data: Any, path: tuple, got: str | None) -> tuple:
    at = path.index(...)
    mapping = _value_at(data, path[:at])
    for key, value in mapping.items() if isinstance(mapping, Mapping) else ():
        if got is None or _kind(value) == got:
            return (*path[:at], key, *path[at + 1:])
    return (*path[:at], "...", *path[at + 1:])


def _kind(value: Any) -> str:
    """msgspec's name of the type of a value read from YAML."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str),
                        ("null", type(None)), ("array", (list, tuple)), ("object", Mapping)):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def _noun(types: str) -> str:
    return _either([_NOUNS.get(name, name) for name in types.split(" | ")])


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "nothing" if value is None else repr(value)


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else text


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _type_at(model: type, path: tuple):
    """The msgspec type description of the field at ``path`` of ``model``."""
    from msgspec import inspect  # only when a file is wrong

    info = inspect.type_info(model)
    for part in path:
        info = _step(_unwrap(info, inspect), part, inspect)
    return _unwrap(info, inspect)


def _unwrap(info, inspect):
    while isinstance(info, inspect.Metadata):
        info = info.type
    return info


def _step(info, part, inspect):
    """The type one key or index below ``info`` (the matching member of a union)."""
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    for member in (_unwrap(m, inspect) for m in members):
        if isinstance(part, str) and isinstance(member, inspect.StructType):
            for field in member.fields:
                if field.name == part:
                    return field.type
        if isinstance(part, str) and isinstance(member, inspect.DictType):
            return member.value_type
        if isinstance(part, int) and isinstance(member, (inspect.VarTupleType,
                                                         inspect.ListType)):
            return member.item_type
    return inspect.AnyType()


def _keys(info) -> tuple[str, ...]:
    from msgspec import inspect

    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    return tuple(field.name for member in members if isinstance(member, inspect.StructType)
                 for field in member.fields)


def _literals(info) -> tuple:
    from msgspec import inspect

    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    return tuple(value for member in members if isinstance(member, inspect.LiteralType)
                 for value in member.values)
