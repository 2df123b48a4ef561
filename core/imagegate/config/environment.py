"""``${VAR}`` and ``${VAR:-default}`` in routes.yaml values, from the environment."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: Any, environ: Mapping[str, str], missing: set[str]) -> Any:
    """Replace ``${VAR}`` in strings (in mappings and lists too), adding the unset variables to ``missing``;
    a whole-value reference to an unset variable becomes ``None``."""
    if isinstance(value, dict):
        return {key: substitute(item, environ, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, environ, missing) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        missing.add(name)
        return ""

    result = ENV_PATTERN.sub(replace, value)
    return None if result == "" and missing else result


def unset_variables(missing: Iterable[str]) -> str:
    """What to tell the operator about the variables ``missing`` (at least one)."""
    names = sorted(missing)
    if len(names) == 1:
        return f"environment variable {names[0]} is not set"
    return f"environment variables {', '.join(names)} are not set"
