"""The fields of a call beyond the unified API's: the route's fixed ``params`` and its ``defaults`` against what
the client sent, and fields the gateway does not know, forwarded to a target that speaks the client's dialect
or refused (``unknown_params``, docs/parameters.md). A forwarded field pins the request to one upstream call,
made and delivered as the upstream makes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .capabilities import ModelCapabilities
from .errors import InvalidRequest
from .request import KNOWN_FIELDS, ImageRequest


def plan_extra_params(
    request: ImageRequest,
    route_params: dict[str, Any],
    route_defaults: dict[str, Any],
    caps: ModelCapabilities,
    model: str,
    unknown_params: str | None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(the extra fields to send, the names among them the gateway passes on without knowing them)."""
    extra = request.extra
    for name, fixed in route_params.items():
        sent = _client_value(request, name)
        if sent is not None and not _same_value(sent, fixed):
            raise InvalidRequest(
                f"Model '{model}' fixes '{name}' to {msgspec.json.encode(fixed).decode()}; the request sent "
                f"{msgspec.json.encode(sent).decode()}. Leave '{name}' out, or send that value.",
                param=name,
                code="fixed_by_route",
            )
    defaults = {name: value for name, value in route_defaults.items() if _client_value(request, name) is None}
    forwards = caps.forwards_unknown_params and unknown_params != "refuse"
    known = caps.extra_params or frozenset()
    unknown = [name for name in extra if name not in known]
    if unknown and not forwards:
        accepted = ", ".join(sorted(known)) or "none"
        raise InvalidRequest(
            f"Unknown parameter '{unknown[0]}' for model '{model}'. Extra parameters it accepts: {accepted}.",
            param=unknown[0],
            code="unknown_parameter",
        )
    unknown += [  # a route's fixed fields the gateway does not know pin the request the same way
        name
        for name in [*route_params, *defaults]
        if name not in known and name not in KNOWN_FIELDS and name not in unknown
    ]
    return {**defaults, **extra, **route_params}, tuple(unknown)


def check_pinned(
    forwarded: tuple[str, ...],
    model: str,
    calls: int,
    per_call: tuple[int, str],
    transcode_format: str | None,
    aspect_ratio: str | None,
) -> None:
    """A field the gateway does not know may change what one upstream call means (a shared seed, an
    embedded credential, a colour profile), so a request carrying one is served by exactly one call, as
    the upstream makes it: no splitting of n, no conversion of the result, no size mapping. ``per_call``: the
    images one call is asked for, and why that many."""
    named = ", ".join(f"'{name}'" for name in forwarded)
    reason = (
        f"The request carries {named}, which this gateway does not know and passes on unchanged, so it serves "
        "it with one upstream call and no changes to the result"
    )
    if calls > 1:
        most, why = per_call
        raise InvalidRequest(f"{reason}; {why}, so ask for at most {most}.", param="n")
    if transcode_format is not None:
        raise InvalidRequest(
            f"{reason}; model '{model}' cannot make output_format='{transcode_format}' or that compression "
            "itself.",
            param="output_format",
        )
    if aspect_ratio is not None:
        raise InvalidRequest(f"{reason}; model '{model}' cannot make that size exactly.", param="size")


def int_param(params: Mapping[str, Any], name: str) -> int | None:
    """The extra field ``name`` of a call's ``params`` as an integer (JSON sends 42, multipart "42"), or
    ``None`` when it is not there; anything else is the client's 400 naming the field."""
    if name not in params:
        return None
    value = params[name]
    try:
        return msgspec.convert(value, int, strict=False)
    except msgspec.ValidationError:
        raise InvalidRequest(f"'{name}' must be a whole number; got {value!r}.", param=name) from None


def _client_value(request: ImageRequest, name: str) -> Any:
    """What the client sent for ``name``: a field of the unified API, or an extra field; ``None`` if nothing."""
    if name in KNOWN_FIELDS:
        return getattr(request.params, name)
    return request.extra.get(name)


def _same_value(sent: Any, fixed: Any) -> bool:
    """Equal, counting multipart's text as the same value (``"42"`` is ``42``, ``"true"`` is ``true``)."""
    if sent == fixed:
        return True
    return (
        isinstance(sent, str) and not isinstance(fixed, str) and sent == msgspec.json.encode(fixed).decode()
    )
