"""A routes file as a whole: YAML in, a validated :class:`RouteTable` out (``server:``, ``providers:``,
``models:``, ``clients:``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from ..clients.registry import ClientEntry, ClientRegistry, ClientsError, build_registry
from ..images import pixel_limit
from ..provider import Provider
from .accounts import load_account
from .convert import RoutesError, as_mapping, convert
from .environment import substitute, unset_variables
from .models import check_retry, load_models
from .settings import PRESIGNED_MAX_SECONDS, ServerSettings
from .table import ModelRoute, RouteTable

# LibYAML's loader where PyYAML was built with it: a routes file of 1,000 clients loads in 0.06 s instead of 0.4.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SECTIONS = ("server", "providers", "models", "clients")


def load_routes(
    path: str | Path,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str] | None = None,
) -> RouteTable:
    """Read and validate ``path``. ``unavailable`` maps plugins that are installed but not serving (blocked or
    failed to load) to why: accounts naming them load as not usable, with that reason, instead of failing the
    whole file."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RoutesError(source, "", f"cannot read the file ({exc.strerror})") from None
    return parse_routes(text, source, providers, environ, unavailable)


def parse_routes(
    text: str,
    source: str,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str] | None = None,
) -> RouteTable:
    try:
        document = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise RoutesError(source, "", f"not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(document, dict):
        raise RoutesError(source, "", "the file must be a mapping with 'providers' and 'models'")
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise RoutesError(
            source, sorted(unknown)[0], "unknown key (expected server, providers, models, clients)"
        )
    server = _load_server(as_mapping(document.get("server"), source, "server"), source, environ)
    accounts = {
        str(name): load_account(str(name), entry, source, providers, environ, unavailable or {})
        for name, entry in as_mapping(document.get("providers"), source, "providers").items()
    }
    models = load_models(document.get("models"), source, server, accounts)
    clients = _load_clients(document.get("clients"), source, environ, models)
    if server.default_model and server.default_model not in models:
        raise RoutesError(
            source, "server.default_model", f"'{server.default_model}' is not a model in this file"
        )
    return RouteTable(source=source, server=server, accounts=accounts, models=models, clients=clients)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without the lines of the file it quotes (they may hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "the file cannot be parsed"
    found = [
        f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if text
    ]
    return "; ".join(found) or "the file cannot be parsed"


def _load_server(entry: dict[Any, Any], source: str, environ: Mapping[str, str]) -> ServerSettings:
    """The server section; ``${VAR}`` is substituted in the sections that hold connection secrets, where an
    unset variable is an error (these serve every route)."""
    entry = dict(entry)
    if "admin_key" in entry:  # unset: the admin endpoints answer loopback only (not an error)
        entry["admin_key"] = substitute(entry["admin_key"], environ, set())
    for key in ("image_store", "shared_state"):
        if key in entry:
            missing: set[str] = set()
            entry[key] = substitute(entry[key], environ, missing)
            if missing:
                raise RoutesError(source, f"server.{key}", unset_variables(missing))
    server: ServerSettings = convert(entry, ServerSettings, source, "server")
    store = server.image_store
    if store.url_mode == "presigned" and store.s3 is None:
        raise RoutesError(source, "server.image_store.urls", "presigned URLs need an s3 store")
    if store.url_mode == "presigned" and store.ttl_seconds > PRESIGNED_MAX_SECONDS:
        raise RoutesError(
            source,
            "server.image_store.ttl_seconds",
            f"presigned URLs live at most {PRESIGNED_MAX_SECONDS} s (7 days); use urls: gateway for longer",
        )
    s3 = store.s3
    if s3 is not None and (s3.access_key_id is None) != (s3.secret_access_key is None):
        raise RoutesError(
            source, "server.image_store.s3", "give both access_key_id and secret_access_key, or neither"
        )
    check_retry(server.retry, source, "server.retry")
    return msgspec.structs.replace(server, max_input_pixels=pixel_limit(server.max_input_pixels))


def _load_clients(
    section: Any, source: str, environ: Mapping[str, str], models: Mapping[str, ModelRoute]
) -> ClientRegistry | None:
    entries: dict[str, ClientEntry] = {}
    missing: dict[str, set[str]] = {}
    for name, raw in as_mapping(section, source, "clients").items():
        missing[str(name)] = set()
        raw = substitute(as_mapping(raw, source, f"clients.{name}"), environ, missing[str(name)])
        entries[str(name)] = convert(raw, ClientEntry, source, f"clients.{name}")
    if not entries:
        return None
    try:
        return build_registry(entries, models, missing)
    except ClientsError as exc:
        raise RoutesError(source, f"clients.{exc.path}", str(exc)) from None
