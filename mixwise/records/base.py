"""What every record shares: strict reading (a missing field is an error, never a default) and safe writing.

A record is a frozen dataclass deriving from :class:`Record`; its nested parts
are plain frozen dataclasses. The field types *are* the schema: reading walks
them (``int``, ``float``, ``str``, ``bool``, ``Any``, ``X | None``,
``list[X]``, ``dict[str, X]``, nested dataclasses) and raises
:class:`mixwise.errors.InputError` naming the file, the dotted field
(``composition.by_style.long_form.samples``) and the command that re-creates
the file. Keys the schema does not know are errors too.

Two field helpers say what may be missing from a file:

* :func:`may_be_absent` -- the field may be left out; it then reads as None
  (and a None is left out on writing). Used where absence *means* something,
  e.g. a composition axis the manifest did not record.
* :func:`may_be_absent(keep_null=True) <may_be_absent>` -- absent and null are
  different facts; absence reads as :data:`ABSENT` and is left out on writing,
  null reads as None and is written as null.

:func:`local` marks in-memory fields that are never written (where a record
was read from). Writing is atomic (temporary file, then rename) and
deterministic; non-finite floats are written as null, so files are standard JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from mixwise.errors import InputError

R = TypeVar("R", bound="Record")
T = TypeVar("T")


class _Absent:
    """The type of :data:`ABSENT`: a field the file does not have (distinct from null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


#: Marks a field that a file leaves out where null would mean something else (see :func:`may_be_absent`).
ABSENT: Any = _Absent()


def may_be_absent(*, keep_null: bool = False) -> Any:
    """A field a file may leave out: None when absent (or :data:`ABSENT` with ``keep_null``)."""
    return dataclasses.field(default=ABSENT if keep_null else None, metadata={"absent": "sentinel" if keep_null else "none"})


def local() -> Any:
    """An in-memory field that is not part of the file (e.g. the folder a record was read from)."""
    return dataclasses.field(default=None, compare=False, repr=False, metadata={"local": True})


# -- reading ------------------------------------------------------------------------------------------
class _Where:
    """Where a value being read comes from: the file (and line), the record kind and how to re-create it."""

    def __init__(self, path: str | os.PathLike, kind: str, fix: str, line: int | None = None):
        self.path, self.kind, self.fix, self.line = str(path), kind, fix, line

    def fail(self, field: str, problem: str) -> InputError:
        at = f"{self.path}:{self.line}" if self.line is not None else self.path
        name = f"field {field!r}" if field else "the top level"
        return InputError(f"{at}: {self.kind} {name} {problem}", self.fix)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _kind(value: Any) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    name = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    shown = repr(value) if isinstance(value, (bool, int, float, str)) and len(repr(value)) < 40 else ""
    return name.get(type(value), type(value).__name__) + (f" ({shown})" if shown else "")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list:
        return "a list"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "an object"
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean", _Absent: "absent"}.get(tp, str(tp))


def _fits(tp: Any, value: Any) -> bool:
    """Whether ``value``'s JSON kind is the kind ``tp`` asks for (the contents are checked afterwards)."""
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # JSON does not tell 2 from 2.0 reliably: an integer is a number too
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    origin = typing.get_origin(tp)
    if origin is list:  # a tuple only comes from in-memory data (a writer's), never from JSON
        return isinstance(value, (list, tuple))
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return False


def _convert(tp: Any, value: Any, where: _Where, field: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not _Absent]
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None) and _fits(option, value):
                return _convert(option, value, where, field)
        raise where.fail(field, f"is {_kind(value)}, expected {_describe(tp)}")
    if not _fits(tp, value):
        raise where.fail(field, f"is {_kind(value)}, expected {_describe(tp)}")
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return [_convert(item, v, where, f"{field}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(tp) or (str, Any)
        return {k: _convert(item, v, where, f"{field}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, field)
    return value


def build(cls: type, data: dict, where: _Where, prefix: str = "") -> Any:
    """``cls(**data)`` after checking every field against its type; see the module docstring."""
    if not isinstance(data, dict):
        raise where.fail(prefix, f"is {_kind(data)}, expected an object")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    known: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.metadata.get("local"):
            continue
        known.add(f.name)
        name = f"{prefix}.{f.name}" if prefix else f.name
        if f.name not in data:
            if "absent" not in f.metadata:
                raise where.fail(name, "is missing")
            values[f.name] = f.default
            continue
        values[f.name] = _convert(hints[f.name], data[f.name], where, name)
    unknown = sorted(set(data) - known)
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise where.fail(name, "is not part of this schema (written by another version of mixwise?)")
    return cls(**values)


def build_part(cls: type[T], data: Any, *, source: str) -> T:
    """A part (or record) from in-memory data, checked like a file: writers use it on what they computed.

    A failure here is a bug in the writer, caught before a bad file is written.
    """
    return build(cls, data, _Where(source, cls.__name__, "this is a bug in mixwise's writer; please report it"))


# -- writing ------------------------------------------------------------------------------------------
def dump(value: Any) -> Any:
    """A record (or part, list, dict) as plain JSON-ready data; absent fields left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.metadata.get("local"):
                continue
            v = getattr(value, f.name)
            if v is ABSENT or (v is None and f.metadata.get("absent") == "none"):
                continue
            out[f.name] = dump(v)
        return out
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


def _finite(value: Any) -> Any:
    """NaN and infinities become null (standard JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def json_text(data: Any, *, sort_keys: bool) -> str:
    """The JSON text of a record file: indented, UTF-8 as is, a final newline."""
    return json.dumps(_finite(data), indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False) + "\n"


def read_json(path: str | os.PathLike, kind: str, fix: str) -> Any:
    """A JSON file's content; a missing or broken file is an InputError naming it and the fix."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{kind} not found: {path}", fix) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON ({e})", fix) from None


def read_jsonl(path: str | os.PathLike, cls: type, kind: str, fix: str) -> list:
    """Every line of a JSON-lines file as ``cls``, checked like a record; errors name the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{kind} not found: {path}", fix) from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = _Where(path, kind, fix, number)
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise where.fail("", f"is not valid JSON ({e})") from None
        out.append(build(cls, data, where))
    return out


def write_jsonl(path: str | os.PathLike, items: list) -> Path:
    """One JSON object per line (records or parts), atomically."""
    return write_text_atomic(path, "".join(json.dumps(_finite(dump(it)), ensure_ascii=False, allow_nan=False) + "\n"
                                           for it in items))


class Record:
    """Base of the top-level records: one file each, with a ``schema_version``.

    Subclasses are frozen dataclasses that set ``SCHEMA_VERSION``, ``KIND``
    (what the file is, for messages), ``FIX`` (the command that re-creates it)
    and ``SORT_KEYS`` (whether the file's keys are sorted), and may override
    :meth:`migrate` to read files of older schema versions.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "record"
    FIX: ClassVar[str] = "re-create it with the command that wrote it"
    SORT_KEYS: ClassVar[bool] = True

    @classmethod
    def migrate(cls, data: dict, *, path: str | os.PathLike) -> dict:
        """Turn the content of an older file into the current schema (the default knows no older schema)."""
        return data

    @classmethod
    def from_dict(cls: type[R], data: Any, *, path: str | os.PathLike) -> R:
        """The record in ``data`` (read from ``path``), migrated and checked field by field."""
        where = _Where(path, cls.KIND, cls.FIX)
        if not isinstance(data, dict):
            raise where.fail("", f"is {_kind(data)}, expected an object")
        data = cls.migrate(dict(data), path=path)
        version = data.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > cls.SCHEMA_VERSION:
            raise InputError(f"{path}: {cls.KIND} has schema_version {version}, newer than this mixwise reads "
                             f"({cls.SCHEMA_VERSION})", "upgrade mixwise, or " + cls.FIX)
        if version != cls.SCHEMA_VERSION and "schema_version" in data:
            raise where.fail("schema_version", f"is {_kind(version)}, expected {cls.SCHEMA_VERSION}")
        return build(cls, data, where)

    @classmethod
    def read(cls: type[R], path: str | os.PathLike) -> R:
        """Read and check the file at ``path``."""
        return cls.from_dict(read_json(path, cls.KIND, cls.FIX), path=path)

    def to_dict(self) -> dict:
        """The file's content as plain data (what :meth:`write` writes)."""
        return dump(self)

    def write(self, path: str | os.PathLike) -> Path:
        """Write the record to ``path`` atomically; returns the path."""
        return write_text_atomic(path, json_text(self.to_dict(), sort_keys=self.SORT_KEYS))


__all__ = ["ABSENT", "Record", "build", "build_part", "dump", "json_text", "local", "may_be_absent", "read_json", "read_jsonl",
           "write_jsonl", "write_text_atomic"]
