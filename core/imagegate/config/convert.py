"""Values read from routes.yaml into typed settings, or a :class:`RoutesError` at their key path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec
import msgspec.inspect

from ..errors import without_credentials

UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`")
LOCATION_SEGMENT = re.compile(r"\.[^.\[]+|\[[^\]]*\]")
# Keys whose values are (or are easily mistaken for) secrets: api_key, *_key, *token*, secret*, password,
# credential: a message about their value never quotes it.
SECRET_KEY = re.compile(r"(?i)(^|_)key$|token|secret|password|credential")
QUOTED = re.compile(r"'[^']*'|`[^`]*`")


class RoutesError(Exception):
    """A routes file that cannot be used; the message names the file and key path. It is shown on /readyz and
    by ``imagegate check``: it never holds the file's text, and credentials in URLs are left out."""

    def __init__(self, source: str, path: str, message: str) -> None:
        message = without_credentials(message)
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")
        self.source, self.path, self.message = source, path, message


def as_mapping(value: Any, source: str, path: str) -> dict[Any, Any]:
    """A section that must be a mapping; absent, an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RoutesError(source, path, "must be a mapping")
    return value


def convert(value: Any, type_: Any, source: str, path: str, also_valid: Iterable[str] = ()) -> Any:
    """``value`` as ``type_``, or a :class:`RoutesError` at the key path; an unknown key's error lists the
    keys that are valid there (``also_valid``: keys a caller took out before converting the rest). Text
    converts where a number or boolean is due: a ``${VAR}`` is always text once substituted."""
    try:
        return msgspec.convert(value, type_, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        location = ""
        if " - at `$" in message:
            message, _, location = message.rpartition(" - at `$")
            location = location.rstrip("`")
        if SECRET_KEY.search(location.rpartition(".")[2]):
            message = QUOTED.sub("'…'", message)  # never echo what may be a secret
        unknown = UNKNOWN_FIELD.match(message)
        if unknown is not None:
            valid = _keys_at(type_, location) + (list(also_valid) if not location else [])
            message = f"unknown key '{unknown.group(1)}' (valid keys: {', '.join(sorted(valid)) or 'none'})"
        raise RoutesError(source, path + location, message) from None


def overlay(defaults: msgspec.Struct, overrides: dict[str, Any], source: str, path: str) -> Any:
    """``defaults`` with ``overrides`` replacing them key by key."""
    return convert({**msgspec.to_builtins(defaults), **overrides}, type(defaults), source, path)


def _keys_at(type_: Any, location: str) -> list[str]:
    """The keys of the struct found at ``location`` (msgspec's ``.field``/``[0]``/``[...]`` path) in ``type_``."""
    info: Any = msgspec.inspect.type_info(type_)
    for segment in LOCATION_SEGMENT.findall(location):
        info = _unwrap(info)
        if segment.startswith(".") and isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == segment[1:]), None)
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.VarTupleType):
            info = info.item_type
        else:
            return []
    info = _unwrap(info)
    return [f.encode_name for f in info.fields] if isinstance(info, msgspec.inspect.StructType) else []


def _unwrap(info: Any) -> Any:
    """The struct, mapping or list inside an optional type (``X | None``)."""
    if isinstance(info, msgspec.inspect.UnionType):
        return next((t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)), info)
    return info
