"""Checks for Stability's own parameters, as clients send them (JSON values, or strings from multipart edits).

Each validator turns an accepted value into the form text Stability receives, or raises ``InvalidRequest``
naming the parameter, so a bad value is the client's clear 400 rather than an upstream rejection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from imagegate import InvalidRequest

Validator = Callable[[str, Any], str]

MAX_SEED = 4_294_967_294
MAX_TEXT_CHARS = 10_000


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a number; got {value!r}.", param=name)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise InvalidRequest(f"{name} must be a number; got {value!r}.", param=name)


def _form_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def integer(low: int, high: int) -> Validator:
    def check(name: str, value: Any) -> str:
        number = _as_number(name, value)
        if not number.is_integer() or not low <= number <= high:
            message = f"{name} must be an integer from {low} to {high}; got {value!r}."
            raise InvalidRequest(message, param=name)
        return str(int(number))

    return check


def number(low: float, high: float) -> Validator:
    def check(name: str, value: Any) -> str:
        parsed = _as_number(name, value)
        if not low <= parsed <= high:
            raise InvalidRequest(f"{name} must be between {low:g} and {high:g}; got {value!r}.", param=name)
        return _form_number(parsed)

    return check


def choice(allowed: Collection[str]) -> Validator:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            message = f"{name} must be one of {', '.join(allowed)}; got {value!r}."
            raise InvalidRequest(message, param=name, code="invalid_value")
        return value

    return check


def text(max_chars: int = MAX_TEXT_CHARS) -> Validator:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f"{name} must be a non-empty string.", param=name)
        if len(value) > max_chars:
            message = f"{name} takes at most {max_chars} characters; got {len(value)}."
            raise InvalidRequest(message, param=name)
        return value

    return check


def seed_for_call(form_seed: str, index: int) -> str:
    """The seed for call ``index`` of a fan-out: a fixed seed advances by one per call, so n images differ
    yet stay reproducible; 0 (Stability's "random") stays 0."""
    seed = int(form_seed)
    return form_seed if seed == 0 else str((seed - 1 + index) % MAX_SEED + 1)
